-- insightd schema v4 for PostgreSQL: the guard of one-round-trip appends.
-- A writer that knows the open batch from its own last append sends the whole
-- transaction at once: this check first, then the events and the batch updates
-- that assume it, then COMMIT. The check locks the open batch (as the two-round-
-- trip append does) and fails the transaction, so nothing of it is kept, when
-- the open batch is not the one expected with the count expected (another
-- writer, the age sealer or `insightd seal` moved it). expected_id NULL means
-- "no batch is open". The writer then runs the append the two-round-trip way.
-- Released migrations are never edited: add a new file instead.
CREATE FUNCTION insightd_expect_open_batch(expected_id text, expected_count bigint)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  open_id text;
  open_count bigint;
BEGIN
  SELECT batch_id, event_count INTO open_id, open_count
    FROM "Batch" WHERE status = 'OPEN' FOR UPDATE;
  IF open_id IS DISTINCT FROM expected_id
     OR (open_id IS NOT NULL AND open_count <> expected_count) THEN
    RAISE EXCEPTION 'the open batch is %/% events, not %/% as expected',
      COALESCE(open_id, 'none'), COALESCE(open_count, 0),
      COALESCE(expected_id, 'none'), expected_count
      USING ERRCODE = 'serialization_failure';
  END IF;
END
$$;
