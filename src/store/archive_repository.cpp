// The archive repository (store.h's ArchiveStore): an ANALYZED batch's events
// moved out of "Event" into one "ArchivedBatch" row (store/archive_codec.h),
// the batch marked ARCHIVED, in one transaction; and back.
#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <iterator>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/time.h"
#include "store/archive_codec.h"
#include "store/detail/queries.h"
#include "store/detail/repositories.h"
#include "store/detail/rows.h"

namespace insightd::store {
namespace {

using detail::fetch;
using detail::first;
using detail::kArchivedBatchColumns;
using detail::kEventColumns;

// Every "Event" column, in the order of an ArchivedRow: the id, the event
// columns event_from() reads, the row's creation time.
const std::string& archived_event_columns() {
  static const std::string kColumns = fmt::format("id, {}, created_at", kEventColumns);
  return kColumns;
}
constexpr size_t kArchivedColumnCount = 11;
constexpr size_t kRowsPerInsert = 100;  // a restore inserts this many rows per statement

Result<int64_t> parse_integer(const std::optional<std::string>& text) {
  int64_t v = 0;
  if (!text) return Error{ErrorCode::kInternal, "archive is corrupt: a null integer"};
  const auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), v);
  if (ec != std::errc() || end != text->data() + text->size()) {
    return Error{ErrorCode::kInternal,
                 fmt::format("archive is corrupt: '{}' is no integer", *text)};
  }
  return v;
}

// The archived rows as StoredEvents; a row of the wrong shape is an error.
Result<std::vector<StoredEvent>> events_from(const std::vector<ArchivedRow>& rows) {
  std::vector<StoredEvent> out;
  out.reserve(rows.size());
  for (const ArchivedRow& row : rows) {
    if (row.size() != kArchivedColumnCount) {
      return Error{ErrorCode::kInternal, "archive is corrupt: a row of the wrong width"};
    }
    try {
      out.push_back(detail::event_from(Row({row.begin() + 1, row.begin() + 10})));
    } catch (const std::exception& e) {
      return Error{ErrorCode::kInternal, fmt::format("archive is corrupt: {}", e.what())};
    }
  }
  return out;
}

class SqlArchiveStore final : public ArchiveStore {
 public:
  explicit SqlArchiveStore(ConnectionPool& pool) : pool_(pool) {}

  Result<std::vector<ArchiveCandidate>> candidates(Timestamp cutoff, size_t limit) override {
    // created_at <= sealed_at: the (status, created_at) index narrows the scan.
    static const std::string kSql = fmt::format(
        "SELECT b.batch_id, b.sealed_at, b.event_count FROM \"Batch\" b "
        "WHERE {} ORDER BY b.created_at, b.batch_id LIMIT $2",
        kCandidate);
    return fetch(
        pool_, kSql, {sql_time(cutoff), static_cast<int64_t>(limit)}, [](const Rows& rows) {
          std::vector<ArchiveCandidate> out;
          out.reserve(rows.size());
          for (const Row& r : rows) {
            out.push_back(
                {.batch_id = r.text(0), .sealed_at = r.time(1), .event_count = r.integer(2)});
          }
          return out;
        });
  }

  Result<std::vector<ArchivedBatchInfo>> archive(std::span<const std::string> batch_ids,
                                                 Timestamp cutoff, Timestamp now) override {
    return pool_.in_transaction<std::vector<ArchivedBatchInfo>>(
        TxMode::kWrite, [&](SqlConnection& c) -> Result<std::vector<ArchivedBatchInfo>> {
          std::vector<ArchivedBatchInfo> done;
          for (size_t at = 0; at < batch_ids.size(); at += kBatchesPerStatement) {
            auto part = archive_some(
                c, batch_ids.subspan(at, std::min(kBatchesPerStatement, batch_ids.size() - at)),
                cutoff, now);
            if (!part) return part.error();
            std::move(part->begin(), part->end(), std::back_inserter(done));
          }
          return done;
        });
  }

  Result<std::optional<ArchivedBatchInfo>> info(std::string_view batch_id) override {
    static const std::string kSql =
        fmt::format("SELECT {} FROM \"ArchivedBatch\" WHERE batch_id = $1", kArchivedBatchColumns);
    return fetch(pool_, kSql, {std::string(batch_id)}, first(detail::archived_batch_from));
  }

  Result<std::vector<StoredEvent>> events(std::string_view batch_id) override {
    auto conn = pool_.acquire();
    if (!conn) return conn.error();
    auto rows = read_archived(**conn, batch_id, "");
    if (!rows) return rows.error();
    return events_from(*rows);
  }

  Result<int64_t> delete_archived_before(Timestamp cutoff, Timestamp now, size_t limit) override {
    return pool_.in_transaction<int64_t>(TxMode::kWrite, [&](SqlConnection& c) -> Result<int64_t> {
      return c.execute(
          "UPDATE \"ArchivedBatch\" SET data = $3, deleted_at = $2 WHERE batch_id IN "
          "(SELECT batch_id FROM \"ArchivedBatch\" WHERE archived_at < $1 AND restored_at IS NULL "
          "AND deleted_at IS NULL ORDER BY archived_at LIMIT $4)",
          {sql_time(cutoff), sql_time(now), SqlBlob{}, static_cast<int64_t>(limit)});
    });
  }

  Result<std::vector<Batch>> batches_between(Timestamp from, Timestamp to,
                                             std::string_view after_batch_id,
                                             size_t limit) override {
    static const std::string kSql = fmt::format(
        "SELECT {} FROM \"Batch\" b WHERE b.batch_id > $3 AND {} ORDER BY b.batch_id LIMIT $4",
        detail::kBatchColumns, kOverlaps);
    return fetch(
        pool_, kSql,
        {sql_time(from), sql_time(to), std::string(after_batch_id), static_cast<int64_t>(limit)},
        detail::all(detail::batch_from));
  }

  Result<int64_t> events_between(Timestamp from, Timestamp to) override {
    static const std::string kSql =
        fmt::format("SELECT COALESCE(SUM(b.event_count), 0) FROM \"Batch\" b WHERE {}", kOverlaps);
    return fetch(pool_, kSql, {sql_time(from), sql_time(to)}, detail::single_integer);
  }

  Status restore(std::string_view batch_id, Timestamp now) override {
    const std::string id(batch_id);
    return pool_.in_transaction(TxMode::kWrite, [&](SqlConnection& c) -> Status {
      auto rows = read_archived(c, id, pool_.dialect().lock_rows);
      if (!rows) return rows.error();
      if (auto checked = events_from(*rows); !checked) return checked.error();
      for (size_t at = 0; at < rows->size(); at += kRowsPerInsert) {
        const size_t n = std::min(kRowsPerInsert, rows->size() - at);
        std::string sql =
            fmt::format("INSERT INTO \"Event\" ({}) VALUES ", archived_event_columns());
        std::vector<SqlValue> params;
        params.reserve(n * kArchivedColumnCount);
        for (size_t k = 0; k < n; ++k) {
          const ArchivedRow& row = (*rows)[at + k];
          sql += fmt::format("{}({})", k == 0 ? "" : ", ",
                             sql_placeholders(params.size() + 1, kArchivedColumnCount));
          for (size_t col = 0; col < kArchivedColumnCount; ++col) {
            if (col == 0 || col == 7) {  // id, clock_skew_ms: integers in both databases
              auto v = parse_integer(row[col]);
              if (!v) return v.error();
              params.emplace_back(*v);
            } else {
              params.push_back(row[col] ? SqlValue(*row[col]) : sql_null());
            }
          }
        }
        auto put = c.execute(sql, params);
        if (!put) {
          if (put.error().code == ErrorCode::kAlreadyExists) {
            return Error{ErrorCode::kConflict,
                         fmt::format("batch {}: one of its events is stored again since it was "
                                     "archived ({}); nothing restored",
                                     id, put.error().message)};
          }
          return put.error();
        }
      }
      // The record stays, without the data: the archiver waits a whole period
      // from the restore before it takes the batch again.
      auto kept =
          c.execute("UPDATE \"ArchivedBatch\" SET restored_at = $2, data = $3 WHERE batch_id = $1",
                    {id, sql_time(now), SqlBlob{}});
      if (!kept) return kept.error();
      auto marked = c.execute(
          "UPDATE \"Batch\" SET status = 'ANALYZED', archived_at = NULL, updated_at = $2 "
          "WHERE batch_id = $1 AND status = 'ARCHIVED'",
          {id, sql_time(now)});
      if (!marked) return marked.error();
      return Status::ok();
    });
  }

 private:
  static constexpr size_t kBatchesPerStatement = 200;
  static constexpr size_t kArchivedBatchInsertColumns = 7;  // the INSERT below names seven

  // archive() for a few batches, in the caller's transaction, with a handful
  // of statements whatever their number: lock the ones still candidates, read
  // their events, write the archive rows, delete the events, mark the batches.
  Result<std::vector<ArchivedBatchInfo>> archive_some(SqlConnection& c,
                                                      std::span<const std::string> ids,
                                                      Timestamp cutoff, Timestamp now) {
    std::vector<SqlValue> params{sql_time(cutoff)};
    for (const std::string& id : ids) params.emplace_back(id);
    auto still =
        c.query(fmt::format("SELECT b.batch_id FROM \"Batch\" b WHERE b.batch_id IN "
                            "({}) AND {} ORDER BY b.batch_id{}",
                            sql_placeholders(2, ids.size()), kCandidate, pool_.dialect().lock_rows),
                params);
    if (!still) return still.error();
    if (still->empty()) return std::vector<ArchivedBatchInfo>{};  // taken or changed meanwhile
    std::vector<SqlValue> locked;
    for (const Row& r : *still) locked.emplace_back(r.text(0));
    const std::string in_locked = sql_placeholders(1, locked.size());
    // The batch id last (an extra column) to split the rows by batch.
    auto rows = c.query(fmt::format("SELECT {}, batch_id FROM \"Event\" WHERE batch_id IN ({}) "
                                    "ORDER BY batch_id, id",
                                    archived_event_columns(), in_locked),
                        locked);
    if (!rows) return rows.error();

    std::vector<ArchivedBatchInfo> done;
    std::vector<SqlValue> put_params;
    std::string put_values;
    size_t moved = 0;
    std::string raw;  // one batch's lines at a time
    for (size_t at = 0; at < rows->size();) {
      const std::string id = (*rows)[at].text(kArchivedColumnCount);
      raw.clear();
      size_t count = 0;
      for (; at < rows->size() && (*rows)[at].text(kArchivedColumnCount) == id; ++at, ++count) {
        append_archive_line(raw, (*rows)[at].columns().first(kArchivedColumnCount));
      }
      auto encoded = compress_archive(raw);
      if (!encoded) return encoded.error();
      put_values +=
          fmt::format("{}({})", done.empty() ? "" : ", ",
                      sql_placeholders(put_params.size() + 1, kArchivedBatchInsertColumns));
      put_params.insert(
          put_params.end(),
          {id, static_cast<int64_t>(count), std::string(kArchiveCodec), encoded->raw_bytes,
           SqlBlob{encoded->data}, encoded->checksum, sql_time(now)});
      moved += count;
      done.push_back({.batch_id = id,
                      .event_count = static_cast<int64_t>(count),
                      .codec = std::string(kArchiveCodec),
                      .raw_bytes = encoded->raw_bytes,
                      .stored_bytes = static_cast<int64_t>(encoded->data.size()),
                      .checksum = encoded->checksum,
                      .archived_at = now,
                      .restored_at = std::nullopt});
    }
    if (done.empty()) return done;  // nothing to move

    auto put = c.execute(
        fmt::format("INSERT INTO \"ArchivedBatch\" (batch_id, event_count, codec, raw_bytes, "
                    "data, checksum, archived_at) VALUES {} "
                    "ON CONFLICT (batch_id) DO UPDATE SET event_count = excluded.event_count, "
                    "codec = excluded.codec, raw_bytes = excluded.raw_bytes, data = excluded.data, "
                    "checksum = excluded.checksum, archived_at = excluded.archived_at, "
                    "restored_at = NULL, deleted_at = NULL",
                    put_values),
        put_params);
    if (!put) return put.error();
    // Only the batches that had events (a locked one without any stays as it is).
    std::vector<SqlValue> moved_ids{sql_time(now)};
    for (const ArchivedBatchInfo& info : done) moved_ids.emplace_back(info.batch_id);
    const std::string in_moved = sql_placeholders(2, done.size());
    auto gone = c.execute(fmt::format("DELETE FROM \"Event\" WHERE batch_id IN ({})",
                                      sql_placeholders(1, done.size())),
                          std::span<const SqlValue>(moved_ids).subspan(1));
    if (!gone) return gone.error();
    if (*gone != static_cast<int64_t>(moved)) {
      return Error{ErrorCode::kConflict, "events changed while their batches were archived"};
    }
    auto marked = c.execute(fmt::format("UPDATE \"Batch\" SET status = 'ARCHIVED', archived_at = "
                                        "$1, updated_at = $1 WHERE batch_id IN ({})",
                                        in_moved),
                            moved_ids);
    if (!marked) return marked.error();
    return done;
  }

  // ANALYZED, sealed before $1 (and so created before it), not restored since.
  static constexpr std::string_view kCandidate =
      "b.status = 'ANALYZED' AND b.created_at < $1 AND b.sealed_at < $1 AND NOT EXISTS "
      "(SELECT 1 FROM \"ArchivedBatch\" a WHERE a.batch_id = b.batch_id AND a.restored_at >= $1)";

  // Created before $2 and open until $1 or later: may hold events received in [$1, $2).
  static constexpr std::string_view kOverlaps =
      "b.created_at < $2 AND (b.sealed_at IS NULL OR b.sealed_at >= $1)";

  // An archived batch's rows, decoded and checked (`lock`: the dialect's row lock, or "").
  static Result<std::vector<ArchivedRow>> read_archived(SqlConnection& c, std::string_view batch_id,
                                                        std::string_view lock) {
    auto found =
        c.query(fmt::format("SELECT codec, raw_bytes, checksum, data, deleted_at FROM "
                            "\"ArchivedBatch\" WHERE batch_id = $1 AND restored_at IS NULL{}",
                            lock),
                {std::string(batch_id)});
    if (!found) return found.error();
    if (found->empty()) {
      return Error{ErrorCode::kNotFound, fmt::format("batch {} is not archived", batch_id)};
    }
    const Row& r = found->front();
    if (auto deleted = r.opt_time(4)) {
      return Error{ErrorCode::kNotFound,
                   fmt::format("batch {}: its archived events were deleted on {} "
                               "(ARCHIVE_DELETE_AFTER_DAYS)",
                               batch_id, format_timestamp(*deleted))};
    }
    auto rows = decode_archive(r.text(0), r.text(3), r.integer(1), r.text(2));
    if (!rows) {
      return Error{rows.error().code, fmt::format("batch {}: {}", batch_id, rows.error().message)};
    }
    return rows;
  }

  ConnectionPool& pool_;
};

}  // namespace

std::unique_ptr<ArchiveStore> make_archive_repository(ConnectionPool& pool) {
  return std::make_unique<SqlArchiveStore>(pool);
}

}  // namespace insightd::store
