// Export on both databases: every event in order of receipt, hot and archived
// alike, filtered by time and type; JSON lines and RFC 4180 CSV.
#include "lifecycle/export.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "core/testing/builders.h"
#include "store/testing/test_database.h"

namespace insightd::lifecycle {
namespace {

using insightd::testing::EventBuilder;
using insightd::testing::kT0;
using store::testing::TestDatabase;
using namespace std::chrono_literals;

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

class ExportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = TestDatabase::create();
    ASSERT_NE(db_, nullptr);
    // 45 events, one a second from kT0, in batches of 10 (4 sealed, 1 open);
    // the sealed ones analyzed, the first two archived.
    std::vector<NewEvent> events;
    for (int i = 0; i < 45; ++i) {
      events.push_back(EventBuilder(fmt::format("e{:02}", i))
                           .type(i % 3 == 0 ? "purchase" : "page_view")
                           .at(kT0 + std::chrono::seconds(i)));
    }
    for (const NewEvent& e : events) {
      auto r = store().events().append(std::vector<NewEvent>{e}, {10, 5}, e.received_at);
      ASSERT_TRUE(r.is_ok()) << r.error().message;
    }
    for (;;) {
      auto job = store().jobs().claim("w", 30s, kT0 + 1h);
      ASSERT_TRUE(job.is_ok());
      if (!job->has_value()) break;
      store::NewInsight content;
      content.summary = "ok";
      content.analyzer = "builtin";
      ASSERT_TRUE(
          store().jobs().complete((*job)->job_id, *(*job)->lease_token, content, kT0 + 1h).is_ok());
    }
    auto candidates = store().archive().candidates(kT0 + 21s, 10);
    ASSERT_TRUE(candidates.is_ok());
    ASSERT_EQ(candidates->size(), 2u);
    std::vector<std::string> ids{(*candidates)[0].batch_id, (*candidates)[1].batch_id};
    ASSERT_EQ(store().archive().archive(ids, kT0 + 21s, kT0 + 2h)->size(), 2u);
    ASSERT_EQ(*store().events().count(), 25);
  }
  store::Store& store() { return db_->store(); }

  std::string run(const ExportOptions& o, ExportSummary* summary = nullptr) {
    std::ostringstream out;
    std::vector<int64_t> heard;
    auto r = export_events(store(), o, out, [&](int64_t n) { heard.push_back(n); });
    EXPECT_TRUE(r.is_ok()) << r.error().message;
    if (r && summary != nullptr) *summary = *r;
    EXPECT_TRUE(std::is_sorted(heard.begin(), heard.end()));
    return out.str();
  }

  std::unique_ptr<TestDatabase> db_;
};

TEST_F(ExportTest, EveryEventInOrderHotAndArchivedAsJsonLines) {
  ExportSummary summary;
  const auto lines = lines_of(run({}, &summary));
  ASSERT_EQ(lines.size(), 45u);
  EXPECT_EQ(summary.events, 45);
  EXPECT_EQ(summary.batches, 5);
  EXPECT_EQ(summary.archived_batches, 2);
  for (size_t i = 0; i < lines.size(); ++i) {
    const auto v = boost::json::parse(lines[i]).as_object();
    EXPECT_EQ(v.at("eventId").as_string(), fmt::format("e{:02}", i));
    EXPECT_EQ(v.at("eventType").as_string(), i % 3 == 0 ? "purchase" : "page_view");
    EXPECT_EQ(v.at("userId").as_string(), "user_1");
    EXPECT_EQ(v.at("timestamp").as_string(),
              format_timestamp(kT0 + std::chrono::seconds(static_cast<int64_t>(i))));
    EXPECT_EQ(v.at("metadata").as_object().at("page").as_string(), "/products");
  }
}

TEST_F(ExportTest, ByTimeAndType) {
  ExportOptions o;
  o.from = kT0 + 5s;
  o.to = kT0 + 35s;
  auto lines = lines_of(run(o));
  ASSERT_EQ(lines.size(), 30u);
  EXPECT_NE(lines.front().find("\"e05\""), std::string::npos);
  EXPECT_NE(lines.back().find("\"e34\""), std::string::npos);
  o.type = "purchase";
  lines = lines_of(run(o));
  ASSERT_EQ(lines.size(), 10u);  // e06, e09, ..., e33
  for (const auto& l : lines) EXPECT_NE(l.find("\"purchase\""), std::string::npos);
}

TEST_F(ExportTest, CsvHasAHeaderAndQuotesWhatNeedsIt) {
  ExportOptions o;
  o.format = ExportOptions::Format::kCsv;
  const auto lines = lines_of(run(o));
  ASSERT_EQ(lines.size(), 46u);
  EXPECT_EQ(lines[0], csv_header());
  EXPECT_EQ(lines[1].rfind("e00,purchase,user_1,session_1,", 0), 0u) << lines[1];
  // The metadata column holds a JSON object with commas and quotes (PostgreSQL's
  // jsonb orders the keys its own way).
  EXPECT_TRUE(
      std::regex_search(lines[1], std::regex(R"re(,"\{.*""page"": ?""/products"".*\}"$)re")))
      << lines[1];

  StoredEvent odd;
  odd.event = EventBuilder("x,1").user("a \"b\"").session(std::nullopt).metadata(R"({"k":"l\nm"})");
  EXPECT_EQ(export_line(odd, ExportOptions::Format::kCsv),
            fmt::format(R"("x,1",page_view,"a ""b""",,{},{},"{{""k"":""l\nm""}}")",
                        format_timestamp(kT0), format_timestamp(kT0)));
}

TEST_F(ExportTest, ACorruptArchiveFailsTheExportWithItsError) {
  auto conn = db_->pool().acquire();
  ASSERT_TRUE(conn.is_ok());
  ASSERT_TRUE((*conn)->execute("UPDATE \"ArchivedBatch\" SET data = $1",
                               {store::SqlBlob{std::string("\x28\xb5\x2f\xfd\x00\x11", 6)}}));
  std::ostringstream out;
  auto r = export_events(store(), {}, out);
  ASSERT_FALSE(r.is_ok());
  EXPECT_NE(r.error().message.find("archive is corrupt"), std::string::npos);
}

}  // namespace
}  // namespace insightd::lifecycle
