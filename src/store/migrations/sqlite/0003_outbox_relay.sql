-- insightd schema v3 for SQLite: the outbox relay to Kafka (src/relay).
-- One row per relay lease: the node whose `owner` it names (until `expires_at`)
-- is the only one publishing the outbox, so messages of one key leave in order
-- and, in the normal case, once. Another node takes it when it has expired.
-- Released migrations are never edited: add a new file instead.
CREATE TABLE "RelayLease" (
  name        text PRIMARY KEY,
  owner       text NOT NULL,
  expires_at  text NOT NULL
);
-- How far each stream read from an immutable log has been published: the
-- "events" stream (KAFKA_EVENTS) keeps the last "Event".id delivered. Ids of
-- "Event" follow commit order (every append holds the open batch's lock while
-- it inserts), so nothing below the position can still appear.
CREATE TABLE "RelayCursor" (
  name      text PRIMARY KEY,
  position  integer NOT NULL
);
-- Retention deletes rows by age (OUTBOX_RETENTION_DAYS).
CREATE INDEX outbox_created ON "KafkaOutbox" (created_at);
