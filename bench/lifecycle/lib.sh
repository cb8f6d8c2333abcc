# Shared by the lifecycle bench scripts (sourced, not run; after bench/ingest/lib.sh).

# div A B: A / B with two decimals.
div() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

# fill URL SCHEMA EVENTS PER_BATCH: a fresh SCHEMA holding EVENTS events in
# ANALYZED batches of PER_BATCH, sealed in 2020, shaped like the load
# generator's; prints its URL. Needs $bin (the insightd binary).
fill() {
  local url=$1 events=$3 per_batch=$4 db
  local batches=$((events / per_batch))
  db=$(fresh_schema "$url" "$2")
  DATABASE_URL=$db "$bin" migrate >/dev/null
  psql "$db" -q -v ON_ERROR_STOP=1 <<SQL
INSERT INTO "Batch" (batch_id, status, event_count, created_at, first_event_at, sealed_at,
                     seal_reason, analyzed_at, updated_at)
SELECT 'batch_' || lpad(b::text, 10, '0'), 'ANALYZED', $per_batch, t, t, t + interval '1 min',
       'size', t + interval '2 min', t + interval '2 min'
FROM generate_series(1, $batches) b,
     LATERAL (SELECT timestamptz '2020-01-01' + b * interval '1 min' AS t) x;
INSERT INTO "Event" (event_id, event_type, user_id, session_id, "timestamp", received_at,
                     clock_skew_ms, batch_id, metadata, created_at)
SELECT 'lg-bench-' || e, CASE WHEN e % 7 = 0 THEN 'click' ELSE 'page_view' END,
       'user-' || (e % 997), 'sess-bench-' || (e % 64), t, t, 0,
       'batch_' || lpad(((e - 1) / $per_batch + 1)::text, 10, '0'),
       jsonb_build_object('page', '/products/' || (e % 50), 'referrer', 'https://example.com/',
                          'ms', e % 1000), t
FROM generate_series(1, $events) e,
     LATERAL (SELECT timestamptz '2020-01-01' + ((e - 1) / $per_batch + 1) * interval '1 min'
                     + (e % $per_batch) * interval '1 ms' AS t) x;
ANALYZE;
SQL
  echo "$db"
}

