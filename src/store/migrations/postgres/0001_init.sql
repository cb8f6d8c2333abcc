-- insightd schema v1 for PostgreSQL. Table names match the seed's ("Event", ...)
-- and columns are snake_case, so the seed's debugging queries run unchanged.
-- Released migrations are never edited: add a new file instead.

CREATE TABLE "Batch" (
  batch_id        text PRIMARY KEY,
  status          text NOT NULL CHECK (status IN ('OPEN', 'SEALED', 'ANALYZED', 'ARCHIVED')),
  event_count     integer NOT NULL DEFAULT 0 CHECK (event_count >= 0),
  created_at      timestamptz NOT NULL,
  first_event_at  timestamptz,
  sealed_at       timestamptz,
  seal_reason     text CHECK (seal_reason IN ('size', 'age', 'manual')),
  analyzed_at     timestamptz,
  archived_at     timestamptz,
  updated_at      timestamptz NOT NULL
);
-- At most one OPEN batch: concurrent ingest processes all fill the same one.
CREATE UNIQUE INDEX batch_single_open ON "Batch" (status) WHERE status = 'OPEN';
-- The sealer's age check and the dashboard's lists.
CREATE INDEX batch_status_created ON "Batch" (status, created_at);

CREATE TABLE "Event" (
  id             bigserial PRIMARY KEY,
  event_id       text NOT NULL UNIQUE,
  event_type     text NOT NULL,
  user_id        text,
  session_id     text,
  "timestamp"    timestamptz NOT NULL,
  received_at    timestamptz NOT NULL,
  clock_skew_ms  bigint NOT NULL DEFAULT 0,
  batch_id       text NOT NULL REFERENCES "Batch" (batch_id),
  metadata       jsonb NOT NULL DEFAULT '{}'::jsonb,
  created_at     timestamptz NOT NULL
);
CREATE INDEX event_batch ON "Event" (batch_id, id);
CREATE INDEX event_received ON "Event" (received_at);

CREATE TABLE "AnalysisJob" (
  job_id            text PRIMARY KEY,
  batch_id          text NOT NULL REFERENCES "Batch" (batch_id),
  status            text NOT NULL CHECK (status IN ('PENDING', 'RUNNING', 'SUCCESS', 'DEAD')),
  trigger           text NOT NULL CHECK (trigger IN ('auto', 'manual')),
  attempt_count     integer NOT NULL DEFAULT 0 CHECK (attempt_count >= 0),
  max_attempts      integer NOT NULL CHECK (max_attempts > 0),
  crash_count       integer NOT NULL DEFAULT 0,
  run_after         timestamptz NOT NULL,
  lease_owner       text,
  lease_token       text,
  lease_expires_at  timestamptz,
  last_error        text,
  errors            jsonb NOT NULL DEFAULT '[]'::jsonb,
  created_at        timestamptz NOT NULL,
  updated_at        timestamptz NOT NULL,
  started_at        timestamptz,
  finished_at       timestamptz,
  duration_ms       bigint
);
-- The claim query: oldest runnable PENDING job.
CREATE INDEX job_runnable ON "AnalysisJob" (run_after, created_at) WHERE status = 'PENDING';
-- Recovery: RUNNING jobs by lease expiry.
CREATE INDEX job_lease ON "AnalysisJob" (lease_expires_at) WHERE status = 'RUNNING';
-- At most one PENDING or RUNNING job per batch (manual triggers get 409).
CREATE UNIQUE INDEX job_single_active ON "AnalysisJob" (batch_id) WHERE status IN ('PENDING', 'RUNNING');
CREATE INDEX job_status_created ON "AnalysisJob" (status, created_at);

CREATE TABLE "Insight" (
  insight_id         text PRIMARY KEY,
  batch_id           text NOT NULL REFERENCES "Batch" (batch_id),
  job_id             text NOT NULL UNIQUE REFERENCES "AnalysisJob" (job_id),
  summary            text NOT NULL,
  confidence         double precision NOT NULL CHECK (confidence >= 0 AND confidence <= 1),
  patterns           jsonb NOT NULL DEFAULT '[]'::jsonb,
  recommendations    jsonb NOT NULL DEFAULT '[]'::jsonb,
  anomalies          jsonb NOT NULL DEFAULT '[]'::jsonb,
  statistics         jsonb NOT NULL DEFAULT '{}'::jsonb,
  analyzer           text NOT NULL,
  model              text,
  prompt_tokens      integer NOT NULL DEFAULT 0,
  completion_tokens  integer NOT NULL DEFAULT 0,
  latency_ms         bigint NOT NULL DEFAULT 0,
  created_at         timestamptz NOT NULL
);
CREATE INDEX insight_created ON "Insight" (created_at DESC, insight_id DESC);
CREATE INDEX insight_batch ON "Insight" (batch_id);

CREATE TABLE "DeadLetterJob" (
  dlq_id           text PRIMARY KEY,
  job_id           text NOT NULL UNIQUE REFERENCES "AnalysisJob" (job_id),
  batch_id         text NOT NULL REFERENCES "Batch" (batch_id),
  attempt_count    integer NOT NULL,
  last_error       text,
  errors           jsonb NOT NULL DEFAULT '[]'::jsonb,
  failed_at        timestamptz NOT NULL,
  redriven_at      timestamptz,
  redriven_job_id  text,
  created_at       timestamptz NOT NULL
);
CREATE INDEX dlq_failed ON "DeadLetterJob" (failed_at DESC);

CREATE TABLE "KafkaOutbox" (
  id               bigserial PRIMARY KEY,
  topic            text NOT NULL,
  key              text NOT NULL,
  payload          jsonb NOT NULL,
  created_at       timestamptz NOT NULL,
  published_at     timestamptz,
  attempts         integer NOT NULL DEFAULT 0,
  last_error       text,
  next_attempt_at  timestamptz
);
CREATE INDEX outbox_unpublished ON "KafkaOutbox" (id) WHERE published_at IS NULL;

CREATE TABLE "ArchivedBatch" (
  batch_id      text PRIMARY KEY REFERENCES "Batch" (batch_id),
  event_count   integer NOT NULL,
  codec         text NOT NULL,
  raw_bytes     bigint NOT NULL,
  data          bytea NOT NULL,
  checksum      text NOT NULL,
  archived_at   timestamptz NOT NULL,
  restored_at   timestamptz
);

-- One row per breaker; `version` makes every change a compare-and-set, so all
-- workers in all processes share one state and exactly one half-open probe.
CREATE TABLE "CircuitBreaker" (
  name              text PRIMARY KEY,
  state             text NOT NULL CHECK (state IN ('CLOSED', 'OPEN', 'HALF_OPEN')),
  failure_count     integer NOT NULL DEFAULT 0,
  changed_at        timestamptz NOT NULL,
  open_until        timestamptz,
  probe_owner       text,
  probe_expires_at  timestamptz,
  version           bigint NOT NULL DEFAULT 0,
  updated_at        timestamptz NOT NULL
);
