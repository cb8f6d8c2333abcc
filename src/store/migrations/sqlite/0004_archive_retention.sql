-- insightd schema v4 for SQLite: retention beyond the archive
-- (ARCHIVE_DELETE_AFTER_DAYS, src/lifecycle/archiver.h). When an archived
-- batch's events pass that age their compressed form is emptied and
-- `deleted_at` says when; the row keeps the count, the raw size and the
-- checksum, and the batch and its insights stay.
-- Released migrations are never edited: add a new file instead.
ALTER TABLE "ArchivedBatch" ADD COLUMN deleted_at text;
-- The archived batches still holding their events, by age.
CREATE INDEX archived_batch_age ON "ArchivedBatch" (archived_at)
  WHERE restored_at IS NULL AND deleted_at IS NULL;
