// The archive on both databases (ON_BOTH_DATABASES): events out of "Event"
// and back with every column unchanged, candidates, corruption refused.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/event_json.h"
#include "core/testing/builders.h"
#include "store/archive_codec.h"
#include "store/testing/test_database.h"

namespace insightd::store {
namespace {

using insightd::testing::EventBuilder;
using insightd::testing::kT0;
using testing::TestDatabase;
using namespace std::chrono_literals;

using TextRows = std::vector<std::vector<std::optional<std::string>>>;

class ArchiveContract : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = TestDatabase::create();
    ASSERT_NE(db_, nullptr);
  }
  Store& store() { return db_->store(); }

  // Appends `events` in batches of `per_batch` at kT0 and analyzes every
  // sealed batch; returns the batch ids in order.
  std::vector<std::string> analyzed(const std::vector<NewEvent>& events, int64_t per_batch) {
    auto out = store().events().append(events, {per_batch, 5}, kT0);
    EXPECT_TRUE(out.is_ok()) << (out ? "" : out.error().message);
    std::vector<std::string> ids;
    for (const SealedBatch& s : out->sealed) ids.push_back(s.batch_id);
    for (;;) {
      auto job = store().jobs().claim("w", 30s, kT0 + 1s);
      EXPECT_TRUE(job.is_ok());
      if (!job.is_ok() || !job->has_value()) break;
      NewInsight content;
      content.summary = "ok";
      content.analyzer = "builtin";
      EXPECT_TRUE(store().jobs().complete((*job)->job_id, *(*job)->lease_token, content, kT0 + 2s));
    }
    return ids;
  }

  // Every column of a batch's "Event" rows, as the database gives them.
  TextRows event_rows(const std::string& batch_id) {
    auto conn = db_->pool().acquire();
    EXPECT_TRUE(conn.is_ok());
    auto rows = (*conn)->query(
        "SELECT id, event_id, event_type, user_id, session_id, \"timestamp\", received_at, "
        "clock_skew_ms, metadata, batch_id, created_at FROM \"Event\" WHERE batch_id = $1 "
        "ORDER BY id",
        {batch_id});
    EXPECT_TRUE(rows.is_ok()) << (rows ? "" : rows.error().message);
    TextRows out;
    for (const Row& r : *rows) {
      std::vector<std::optional<std::string>> cols;
      for (size_t i = 0; i < r.size(); ++i) cols.push_back(r.opt_text(i));
      out.push_back(std::move(cols));
    }
    return out;
  }

  BatchStatus status(const std::string& batch_id) {
    return (*store().batches().get(batch_id))->status;
  }

  std::unique_ptr<TestDatabase> db_;
};

// Events that exercise every column: nulls, a clock skew, unicode, nesting,
// numbers at the edges, an escaped quote.
std::vector<NewEvent> varied_events(const std::string& prefix, int n) {
  std::vector<NewEvent> out;
  for (int i = 0; i < n; ++i) {
    EventBuilder b(fmt::format("{}-{}", prefix, i));
    b.type(i % 3 == 0 ? "purchase" : "page_view")
        .sent(kT0 - std::chrono::milliseconds(1'234'567 * i))
        .received(kT0 + std::chrono::milliseconds(i));
    if (i % 4 == 1) b.user(std::nullopt);
    if (i % 5 == 2) b.session(std::nullopt);
    b.metadata(fmt::format(
        R"({{"page":"/p/{}","title":"Größe \"XL\" — ✓","cart":{{"items":[1,2.5,-3e-7],"n":{}}},"big":12345678901234567,"ok":true,"none":null}})",
        i, i));
    NewEvent e = b;
    if (i % 7 == 3) e.clock_skew_ms = 86'400'000 + i;
    out.push_back(std::move(e));
  }
  return out;
}

TEST_F(ArchiveContract, ArchiveThenRestoreGivesBackEveryColumnUnchanged) {
  const auto ids = analyzed(varied_events("v", 60), 20);
  ASSERT_EQ(ids.size(), 3u);
  std::vector<TextRows> before;
  std::vector<std::vector<StoredEvent>> stored;
  for (const auto& id : ids) {
    before.push_back(event_rows(id));
    ASSERT_EQ(before.back().size(), 20u);
    stored.push_back(*store().events().batch_events(id, 1000));
  }

  const Timestamp cutoff = kT0 + 24h;
  auto candidates = store().archive().candidates(cutoff, 10);
  ASSERT_TRUE(candidates.is_ok()) << candidates.error().message;
  ASSERT_EQ(candidates->size(), 3u);
  EXPECT_EQ((*candidates)[0].batch_id, ids[0]);
  EXPECT_EQ((*candidates)[0].event_count, 20);
  EXPECT_TRUE(store().archive().candidates(kT0 - 1h, 10)->empty()) << "sealed after the cutoff";

  const Timestamp archived_at = kT0 + 48h;
  auto done = store().archive().archive(ids, cutoff, archived_at);
  ASSERT_TRUE(done.is_ok()) << done.error().message;
  ASSERT_EQ(done->size(), 3u);
  for (size_t b = 0; b < ids.size(); ++b) {
    const ArchivedBatchInfo& info = (*done)[b];
    EXPECT_EQ(info.batch_id, ids[b]);
    EXPECT_EQ(info.event_count, 20);
    EXPECT_GT(info.raw_bytes, info.stored_bytes);
    EXPECT_EQ(info.checksum.rfind("sha256:", 0), 0u);
    EXPECT_TRUE(event_rows(ids[b]).empty());
    EXPECT_EQ(status(ids[b]), BatchStatus::kArchived);
    auto got = store().archive().info(ids[b]);
    ASSERT_TRUE(got.is_ok() && got->has_value());
    EXPECT_TRUE((*got)->archived());
    EXPECT_EQ((*got)->stored_bytes, info.stored_bytes);
    EXPECT_EQ((*got)->archived_at, archived_at);
    // Read on demand: the same events, decompressed.
    auto events = store().archive().events(ids[b]);
    ASSERT_TRUE(events.is_ok()) << events.error().message;
    ASSERT_EQ(events->size(), stored[b].size());
    for (size_t i = 0; i < events->size(); ++i) {
      EXPECT_EQ(event_json_text((*events)[i]), event_json_text(stored[b][i]));
      EXPECT_EQ((*events)[i].event.clock_skew_ms, stored[b][i].event.clock_skew_ms);
    }
  }
  EXPECT_TRUE(store().archive().candidates(cutoff, 10)->empty());

  // Back, every column as it was.
  const Timestamp restored_at = kT0 + 72h;
  ASSERT_TRUE(store().archive().restore(ids[1], restored_at).is_ok());
  EXPECT_EQ(event_rows(ids[1]), before[1]);
  EXPECT_EQ(status(ids[1]), BatchStatus::kAnalyzed);
  auto info = *store().archive().info(ids[1]);
  ASSERT_TRUE(info.has_value());
  EXPECT_FALSE(info->archived());
  EXPECT_EQ(info->restored_at, restored_at);
  EXPECT_EQ(info->stored_bytes, 0);
  EXPECT_EQ(store().archive().events(ids[1]).code(), ErrorCode::kNotFound);
  EXPECT_EQ(store().archive().restore(ids[1], restored_at).code(), ErrorCode::kNotFound);
  EXPECT_EQ(store().events().find(before[1][0][1].value())->has_value(), true);

  // Not archived again until a whole period has passed from the restore.
  EXPECT_TRUE(store().archive().candidates(restored_at, 10)->empty());
  EXPECT_TRUE(store()
                  .archive()
                  .archive(std::vector<std::string>{ids[1]}, restored_at, restored_at + 1h)
                  ->empty());
  auto later = store().archive().candidates(restored_at + 24h, 10);
  ASSERT_EQ(later->size(), 1u);
  EXPECT_EQ((*later)[0].batch_id, ids[1]);
  auto again = store().archive().archive(std::vector<std::string>{ids[1]}, restored_at + 24h,
                                         restored_at + 25h);
  ASSERT_TRUE(again.is_ok()) << again.error().message;
  ASSERT_EQ(again->size(), 1u);
  ASSERT_TRUE(store().archive().restore(ids[1], restored_at + 26h).is_ok());
  EXPECT_EQ(event_rows(ids[1]), before[1]);

  // The others too.
  for (size_t b : {size_t{0}, size_t{2}}) {
    ASSERT_TRUE(store().archive().restore(ids[b], restored_at).is_ok());
    EXPECT_EQ(event_rows(ids[b]), before[b]);
  }
}

TEST_F(ArchiveContract, OnlyAnalyzedBatchesSealedBeforeTheCutoffMove) {
  const auto analyzed_ids = analyzed(varied_events("a", 10), 10);
  ASSERT_EQ(analyzed_ids.size(), 1u);
  // Sealed, its job not run: not a candidate; the open batch neither.
  auto sealed = store().events().append(varied_events("s", 15), {10, 5}, kT0);
  ASSERT_TRUE(sealed.is_ok());
  ASSERT_EQ(sealed->sealed.size(), 1u);
  const std::string waiting = sealed->sealed[0].batch_id;

  auto candidates = store().archive().candidates(kT0 + 24h, 10);
  ASSERT_TRUE(candidates.is_ok());
  ASSERT_EQ(candidates->size(), 1u);
  EXPECT_EQ((*candidates)[0].batch_id, analyzed_ids[0]);

  // Asking for a batch that is not a candidate moves nothing.
  auto done = store().archive().archive(std::vector<std::string>{waiting, "no-such-batch"},
                                        kT0 + 24h, kT0 + 48h);
  ASSERT_TRUE(done.is_ok()) << done.error().message;
  EXPECT_TRUE(done->empty());
  EXPECT_EQ(event_rows(waiting).size(), 10u);
  EXPECT_EQ(status(waiting), BatchStatus::kSealed);
  EXPECT_FALSE(store().archive().info(waiting)->has_value());
  EXPECT_EQ(store().archive().restore(waiting, kT0 + 48h).code(), ErrorCode::kNotFound);
}

TEST_F(ArchiveContract, ACorruptedArchiveIsRefusedOnReadAndRestoreAndNothingChanges) {
  const auto ids = analyzed(varied_events("c", 40), 40);
  ASSERT_EQ(ids.size(), 1u);
  const TextRows before = event_rows(ids[0]);
  ASSERT_EQ(store().archive().archive(ids, kT0 + 24h, kT0 + 48h)->size(), 1u);

  auto conn = db_->pool().acquire();
  ASSERT_TRUE(conn.is_ok());
  auto data = (*conn)->query("SELECT data FROM \"ArchivedBatch\" WHERE batch_id = $1", {ids[0]});
  ASSERT_TRUE(data.is_ok());
  const std::string good = data->front().text(0);
  // One byte flipped: at the start, at a third, in the middle, at the end.
  for (const size_t at : {size_t{0}, good.size() / 3, good.size() / 2, good.size() - 1}) {
    std::string bad = good;
    bad[at] = static_cast<char>(bad[at] ^ 0x20);
    ASSERT_TRUE((*conn)->execute("UPDATE \"ArchivedBatch\" SET data = $2 WHERE batch_id = $1",
                                 {ids[0], SqlBlob{bad}}));
    auto read = store().archive().events(ids[0]);
    ASSERT_FALSE(read.is_ok()) << "byte " << at;
    EXPECT_EQ(read.code(), ErrorCode::kInternal) << "byte " << at;
    if (!read) {
      EXPECT_NE(read.error().message.find("corrupt"), std::string::npos);
    }
    Status restored = store().archive().restore(ids[0], kT0 + 72h);
    EXPECT_EQ(restored.code(), ErrorCode::kInternal) << "byte " << at;
    EXPECT_TRUE(event_rows(ids[0]).empty());
    EXPECT_EQ(status(ids[0]), BatchStatus::kArchived);
    EXPECT_TRUE((*store().archive().info(ids[0]))->archived());
  }
  // Repaired, it restores.
  ASSERT_TRUE((*conn)->execute("UPDATE \"ArchivedBatch\" SET data = $2 WHERE batch_id = $1",
                               {ids[0], SqlBlob{good}}));
  ASSERT_TRUE(store().archive().restore(ids[0], kT0 + 72h).is_ok());
  EXPECT_EQ(event_rows(ids[0]), before);
}

TEST_F(ArchiveContract, ARestoreThatWouldStoreAnEventTwiceIsRefused) {
  const auto ids = analyzed(varied_events("d", 10), 10);
  ASSERT_EQ(store().archive().archive(ids, kT0 + 24h, kT0 + 48h)->size(), 1u);
  // The same event id arrives again while its batch is archived.
  auto again = store().events().append(std::vector<NewEvent>{EventBuilder("d-3")}, {100, 5}, kT0);
  ASSERT_TRUE(again.is_ok());
  Status restored = store().archive().restore(ids[0], kT0 + 72h);
  EXPECT_EQ(restored.code(), ErrorCode::kConflict);
  EXPECT_TRUE(event_rows(ids[0]).empty());
  EXPECT_EQ(status(ids[0]), BatchStatus::kArchived);
  EXPECT_EQ(store().archive().events(ids[0])->size(), 10u);
}

TEST_F(ArchiveContract, OldArchivedEventsAreDeletedTheBatchAndItsRecordStay) {
  // Four batches: two archived at +2 days, one at +10 days, one archived
  // then restored at +2 days.
  const auto ids = analyzed(varied_events("r", 40), 10);
  ASSERT_EQ(ids.size(), 4u);
  ASSERT_EQ(store()
                .archive()
                .archive(std::vector<std::string>{ids[0], ids[1], ids[3]}, kT0 + 24h, kT0 + 48h)
                ->size(),
            3u);
  ASSERT_EQ(
      store().archive().archive(std::vector<std::string>{ids[2]}, kT0 + 24h, kT0 + 240h)->size(),
      1u);
  ASSERT_TRUE(store().archive().restore(ids[3], kT0 + 72h).is_ok());

  // Archived before +5 days: the first two only, one per statement here.
  auto n = store().archive().delete_archived_before(kT0 + 120h, kT0 + 300h, 1);
  ASSERT_TRUE(n.is_ok()) << n.error().message;
  EXPECT_EQ(*n, 1);
  n = store().archive().delete_archived_before(kT0 + 120h, kT0 + 300h, 10);
  ASSERT_TRUE(n.is_ok());
  EXPECT_EQ(*n, 1);
  n = store().archive().delete_archived_before(kT0 + 120h, kT0 + 300h, 10);
  ASSERT_TRUE(n.is_ok());
  EXPECT_EQ(*n, 0);

  for (size_t b : {size_t{0}, size_t{1}}) {
    auto info = store().archive().info(ids[b]);
    ASSERT_TRUE(info.is_ok() && info->has_value());
    EXPECT_TRUE((*info)->archived());
    EXPECT_TRUE((*info)->events_deleted());
    EXPECT_EQ((*info)->deleted_at, kT0 + 300h);
    EXPECT_EQ((*info)->event_count, 10);
    EXPECT_EQ((*info)->stored_bytes, 0);
    EXPECT_EQ(status(ids[b]), BatchStatus::kArchived);  // the batch stays, and its insight
    EXPECT_EQ(store().insights().list(10, std::nullopt, ids[b])->size(), 1u);
    auto read = store().archive().events(ids[b]);
    ASSERT_FALSE(read.is_ok());
    EXPECT_EQ(read.code(), ErrorCode::kNotFound);
    EXPECT_NE(read.error().message.find("deleted"), std::string::npos) << read.error().message;
    EXPECT_EQ(store().archive().restore(ids[b], kT0 + 400h).code(), ErrorCode::kNotFound);
    EXPECT_TRUE(event_rows(ids[b]).empty());
  }
  // Younger, and restored: untouched.
  EXPECT_EQ(store().archive().events(ids[2])->size(), 10u);
  EXPECT_FALSE((*store().archive().info(ids[2]))->events_deleted());
  EXPECT_EQ(event_rows(ids[3]).size(), 10u);
  EXPECT_FALSE((*store().archive().info(ids[3]))->events_deleted());
}

// The codec alone.
TEST(ArchiveCodec, RoundTripsRowsAndRefusesWhatDoesNotMatch) {
  std::string controls;
  for (char c = 1; c < 0x20; ++c) controls += c;
  std::vector<ArchivedRow> rows{{"1", std::nullopt, "ünïcode \"q\"\n"},
                                {"2", "", "x"},
                                {"3", controls + "\\ \x7f /", std::string("nul\0in", 6)}};
  // One JSON array per line, every control character escaped.
  std::string raw;
  append_archive_line(raw, rows[1]);
  append_archive_line(raw, ArchivedRow{"a\tb\x01", std::nullopt});
  EXPECT_EQ(raw, "[\"2\",\"\",\"x\"]\n[\"a\\tb\\u0001\",null]\n");
  auto enc = encode_archive(rows);
  ASSERT_TRUE(enc.is_ok());
  auto dec = decode_archive(kArchiveCodec, enc->data, enc->raw_bytes, enc->checksum);
  ASSERT_TRUE(dec.is_ok()) << dec.error().message;
  EXPECT_EQ(*dec, rows);

  EXPECT_EQ(decode_archive("gzip", enc->data, enc->raw_bytes, enc->checksum).code(),
            ErrorCode::kInternal);
  EXPECT_EQ(decode_archive(kArchiveCodec, enc->data, enc->raw_bytes + 1, enc->checksum).code(),
            ErrorCode::kInternal);
  EXPECT_EQ(decode_archive(kArchiveCodec, enc->data.substr(0, enc->data.size() - 1), enc->raw_bytes,
                           enc->checksum)
                .code(),
            ErrorCode::kInternal);
  EXPECT_EQ(
      decode_archive(kArchiveCodec, enc->data, enc->raw_bytes, archive_checksum("other")).code(),
      ErrorCode::kInternal);
  // Every single flipped bit of the stored bytes is refused, even where zstd
  // would not notice (padding in its bit streams).
  for (size_t at = 0; at < enc->data.size(); ++at) {
    for (const int bit : {0x01, 0x20, 0x80}) {
      std::string bad = enc->data;
      bad[at] = static_cast<char>(bad[at] ^ bit);
      EXPECT_FALSE(decode_archive(kArchiveCodec, bad, enc->raw_bytes, enc->checksum).is_ok())
          << "byte " << at << " bit " << bit;
    }
  }
  EXPECT_EQ(decode_archive(kArchiveCodec, "", 0, enc->checksum).code(), ErrorCode::kInternal);
  // A record claiming more than the bound is refused before any allocation.
  EXPECT_EQ(decode_archive(kArchiveCodec, enc->data, kMaxArchiveRawBytes + 1, enc->checksum).code(),
            ErrorCode::kInternal);
  // A valid frame of something that is not the rows' lines.
  std::vector<ArchivedRow> none;
  auto empty = encode_archive(none);
  ASSERT_TRUE(empty.is_ok());
  EXPECT_EQ(empty->raw_bytes, 0);
}

}  // namespace
}  // namespace insightd::store
