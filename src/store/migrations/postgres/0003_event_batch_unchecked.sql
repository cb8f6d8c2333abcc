-- insightd schema v3 for PostgreSQL: "Event".batch_id loses its foreign key.
-- The key was checked row by row (a locking look-up of "Batch" per event) and
-- took a fifth of the database's time per ingested event. The rule it kept
-- holds by construction: the only writer of "Event" rows (the append
-- transaction) locks or creates the batch it writes into in the same
-- transaction, and batches are never deleted while their events remain.
-- SQLite keeps the key (an index probe there, no lock).
-- Released migrations are never edited: add a new file instead.
ALTER TABLE "Event" DROP CONSTRAINT IF EXISTS "Event_batch_id_fkey";
