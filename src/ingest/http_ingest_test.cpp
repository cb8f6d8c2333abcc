#include "ingest/http_ingest.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "store/testing/test_database.h"

namespace insightd::ingest {
namespace {

namespace http = net::http;

class HttpIngest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = store::testing::TestDatabase::create();
    ASSERT_NE(db_, nullptr);
    writer_ =
        std::make_unique<GroupCommitWriter>(db_->store().events(), SystemClock::instance(),
                                            WriterOptions{.policy = {100, 5}}, nullptr, nullptr);
    writer_->start();
  }
  void use(std::vector<std::string> keys, std::optional<std::string> origin = std::nullopt) {
    service_ = std::make_unique<IngestService>(*writer_, SystemClock::instance(), std::move(keys));
    router_ = net::Router();
    add_ingest_routes(router_, *service_, HttpIngestOptions{.cors_origin = origin});
  }
  net::Response post(std::string body,
                     std::vector<std::pair<std::string, std::string>> headers = {},
                     std::string target = "/api/events") {
    net::Request req{http::verb::post, target, 11};
    for (auto& [k, v] : headers) req.set(k, v);
    req.body() = std::move(body);
    req.prepare_payload();
    return router_.dispatch(req);
  }
  static boost::json::object json(const net::Response& res) {
    return boost::json::parse(res.body()).as_object();
  }

  std::unique_ptr<store::testing::TestDatabase> db_;
  std::unique_ptr<GroupCommitWriter> writer_;
  std::unique_ptr<IngestService> service_;
  net::Router router_;
};

TEST_F(HttpIngest, OneEventIsStoredAndAcknowledgedWithItsBatch) {
  use({});
  auto res =
      post(R"({"eventId":"e1","eventType":"page_view","userId":"u1","metadata":{"page":"/"}})");
  ASSERT_EQ(res.result(), http::status::ok) << res.body();
  auto body = json(res);
  EXPECT_EQ(body.at("accepted").as_int64(), 1);
  auto r = body.at("results").as_array().at(0).as_object();
  EXPECT_EQ(r.at("eventId").as_string(), "e1");
  EXPECT_EQ(r.at("status").as_string(), "ok");
  auto stored = db_->store().events().find("e1");
  ASSERT_TRUE(stored.is_ok() && stored->has_value());
  EXPECT_EQ(r.at("batchId").as_string(), (*stored)->batch_id);
  EXPECT_EQ(res[http::field::access_control_allow_origin], "*");
}

TEST_F(HttpIngest, ArraysAndEnvelopesGivePerEventResults) {
  use({});
  auto res = post(R"([{"eventId":"a","eventType":"click"},{"eventId":"b","eventType":"bad type!"},
                      {"eventId":"a","eventType":"click"}])");
  ASSERT_EQ(res.result(), http::status::ok) << res.body();
  auto results = json(res).at("results").as_array();
  ASSERT_EQ(results.size(), 3u);
  EXPECT_EQ(results[0].at("status").as_string(), "ok");
  EXPECT_EQ(results[1].at("status").as_string(), "rejected");
  EXPECT_EQ(results[1].at("code").as_string(), "invalid_event_type");
  EXPECT_EQ(results[2].at("status").as_string(), "duplicate");
  auto env = post(R"({"events":[{"eventId":"c","eventType":"click"}]})");
  ASSERT_EQ(env.result(), http::status::ok) << env.body();
  EXPECT_EQ(*db_->store().events().count(), 2);
  // Sent again: a duplicate, stored once.
  auto again = post(R"({"eventId":"c","eventType":"click"})");
  EXPECT_EQ(json(again).at("results").as_array()[0].at("status").as_string(), "duplicate");
  EXPECT_EQ(*db_->store().events().count(), 2);
}

TEST_F(HttpIngest, MalformedBodiesAre400WithAClearError) {
  use({});
  for (const char* body :
       {"{not json", "42", "\"text\"", "[]", R"({"events":{}})", R"([{"eventType":""}])"}) {
    auto res = post(body);
    EXPECT_EQ(res.result(), http::status::bad_request) << body << " -> " << res.body();
    EXPECT_TRUE(res.body().find("\"error\"") != std::string::npos ||
                res.body().find("\"rejected\"") != std::string::npos)
        << res.body();
  }
  EXPECT_EQ(*db_->store().events().count(), 0);
}

TEST_F(HttpIngest, OversizedBodiesAndEventsAre413AndStoreNothing) {
  use({});
  std::string big(33 * 1024, 'x');
  auto one = post(R"([{"eventId":"ok","eventType":"a"},{"eventType":"a","metadata":{"b":")" + big +
                  R"("}}])");
  EXPECT_EQ(one.result(), http::status::payload_too_large) << one.body();
  std::string huge = "[";
  for (int i = 0; i < 30; ++i) {
    huge += (i ? "," : "") + std::string(R"({"eventType":"a","metadata":{"b":")") +
            std::string(20 * 1024, 'y') + "\"}}";
  }
  huge += "]";
  auto many = post(huge);
  EXPECT_EQ(many.result(), http::status::payload_too_large);
  EXPECT_EQ(*db_->store().events().count(), 0);
}

TEST_F(HttpIngest, WriteKeysAreEnforcedWhenConfigured) {
  use({"0123456789abcdef-key"});
  const std::string body = R"({"eventType":"click"})";
  EXPECT_EQ(post(body).result(), http::status::unauthorized);
  EXPECT_EQ(post(body, {{"X-Write-Key", "wrong-key-0000000"}}).result(),
            http::status::unauthorized);
  EXPECT_EQ(post(body, {{"X-Write-Key", "0123456789abcdef-key"}}).result(), http::status::ok);
  EXPECT_EQ(post(body, {{"Authorization", "Bearer 0123456789abcdef-key"}}).result(),
            http::status::ok);
  EXPECT_EQ(*db_->store().events().count(), 2);
}

TEST_F(HttpIngest, AStoppedWriterAnswers503WithRetryAfter) {
  use({});
  writer_->stop();
  auto res = post(R"({"eventId":"late","eventType":"click"})");
  EXPECT_EQ(res.result(), http::status::service_unavailable);
  EXPECT_EQ(res[http::field::retry_after], "1");
  // Its node is shutting down: send it again (to another node).
  EXPECT_EQ(json(res).at("results").as_array()[0].at("code").as_string(), "shutting_down");
}

TEST_F(HttpIngest, CorsFollowsTheConfiguredOrigin) {
  use({}, "https://shop.example.com");
  net::Request pre{http::verb::options, "/api/events", 11};
  pre.set(http::field::origin, "https://shop.example.com");
  auto res = router_.dispatch(pre);
  EXPECT_EQ(res.result(), http::status::no_content);
  EXPECT_EQ(res[http::field::access_control_allow_origin], "https://shop.example.com");
  EXPECT_NE(res[http::field::access_control_allow_headers].find("X-Write-Key"), std::string::npos);
  // JSON from another origin: a browser would have asked first and been told
  // no; what reaches here is answered without the CORS header.
  auto other = post(R"({"eventType":"click"})",
                    {{"Origin", "https://evil.example.com"}, {"Content-Type", "application/json"}});
  EXPECT_EQ(other.result(), http::status::ok);
  EXPECT_EQ(other[http::field::access_control_allow_origin], "");
}

TEST_F(HttpIngest, TakesABeaconsTextPlainBodyWithTheKeyInTheBodyOrTheQuery) {
  use({"key-0123456789abcdef"}, "https://app.example.com");
  const std::vector<std::pair<std::string, std::string>> beacon{
      {"Content-Type", "text/plain;charset=UTF-8"}, {"Origin", "https://app.example.com"}};
  auto in_body =
      post(R"({"events":[{"eventId":"b1","eventType":"click"}],"writeKey":"key-0123456789abcdef"})",
           beacon);
  ASSERT_EQ(in_body.result(), http::status::ok) << in_body.body();
  EXPECT_EQ(in_body[http::field::access_control_allow_origin], "https://app.example.com");
  auto in_query = post(R"({"events":[{"eventId":"b2","eventType":"click"}]})", beacon,
                       "/api/events?writeKey=key-0123456789abcdef");
  ASSERT_EQ(in_query.result(), http::status::ok) << in_query.body();
  EXPECT_EQ(*db_->store().events().count(), 2);
  // A wrong key anywhere, or none: 401, nothing stored.
  auto wrong =
      post(R"({"events":[{"eventId":"b3","eventType":"click"}],"writeKey":"nope"})", beacon);
  EXPECT_EQ(wrong.result(), http::status::unauthorized);
  auto none = post(R"({"events":[{"eventId":"b4","eventType":"click"}]})", beacon);
  EXPECT_EQ(none.result(), http::status::unauthorized);
  auto garbage = post("writeKey but not JSON", beacon);
  EXPECT_EQ(garbage.result(), http::status::unauthorized) << "not judged before the key";
  // A key in the body of a large request is not looked for: a client nobody
  // has authenticated cannot make the node parse hundreds of kilobytes.
  std::string big = R"({"events":[{"eventId":"b6","eventType":"click","metadata":{"pad":")";
  big += std::string(kMaxBodyKeyBytes, 'x');
  big += R"("}}],"writeKey":"key-0123456789abcdef"})";
  auto large = post(big, beacon);
  EXPECT_EQ(large.result(), http::status::unauthorized);
  EXPECT_NE(json(large).at("error").as_object().at("message").as_string().find("X-Write-Key"),
            std::string::npos)
      << "says where the key goes for a body that large";
  auto large_in_query = post(big, beacon, "/api/events?writeKey=key-0123456789abcdef");
  EXPECT_NE(large_in_query.result(), http::status::unauthorized)
      << "with the key outside the body, a large body is judged as usual";
  // From another page's origin without a preflight: refused, as the browser
  // would refuse its JSON twin.
  auto foreign =
      post(R"({"events":[{"eventId":"b5","eventType":"click"}],"writeKey":"key-0123456789abcdef"})",
           {{"Content-Type", "text/plain"}, {"Origin", "https://evil.example.net"}});
  EXPECT_EQ(foreign.result(), http::status::forbidden);
  EXPECT_EQ(json(foreign).at("error").as_object().at("code").as_string(), "origin_not_allowed");
  EXPECT_EQ(foreign[http::field::access_control_allow_origin], "https://evil.example.net")
      << "the refusal is readable by that page, whose client then stops";
  EXPECT_EQ(*db_->store().events().count(), 2);
}

}  // namespace
}  // namespace insightd::ingest
