// The cluster against a real Redis (INSIGHTD_TEST_REDIS_URL, which the test
// command starts): two Cluster objects in one process are two nodes. Each test
// uses a key prefix of its own.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <chrono>
#include <cstdlib>
#include <random>
#include <thread>

#include "cluster/cluster.h"
#include "cluster/redis.h"
#include "cluster/shared_state.h"
#include "net/connection_limiter.h"
#include "net/rate_limiter.h"
#include "obs/metrics.h"

namespace insightd::cluster {
namespace {

using namespace std::chrono_literals;

RedisEndpoint test_endpoint() {
  const char* url = std::getenv("INSIGHTD_TEST_REDIS_URL");
  if (url == nullptr) {
    ADD_FAILURE() << "INSIGHTD_TEST_REDIS_URL is not set: these tests need a Redis "
                     "(scripts/test starts one)";
    return {};
  }
  auto e = parse_redis_url(url);
  EXPECT_TRUE(e) << (e ? "" : e.error().message);
  return e ? *e : RedisEndpoint{};
}

std::string fresh_prefix() {
  static std::mt19937_64 rng{std::random_device{}()};
  return "insightd-test:" + std::to_string(rng()) + ":";
}

template <typename F>
bool eventually(F f, std::chrono::milliseconds within = 5s) {
  const auto deadline = std::chrono::steady_clock::now() + within;
  while (std::chrono::steady_clock::now() < deadline) {
    if (f()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return f();
}

ClusterOptions node(const std::string& name, const std::string& prefix) {
  return ClusterOptions{.node = name, .prefix = prefix, .gauges_every = 100ms};
}

TEST(RedisUrl, ParsesHostsSocketsCredentialsAndDatabases) {
  auto plain = parse_redis_url("redis://cache.internal");
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain->host, "cache.internal");
  EXPECT_EQ(plain->port, 6379);
  EXPECT_EQ(plain->db, 0);
  auto full = parse_redis_url("redis://app:s3cret@10.0.0.5:6380/3");
  ASSERT_TRUE(full);
  EXPECT_EQ(full->username, "app");
  EXPECT_EQ(full->password, "s3cret");
  EXPECT_EQ(full->port, 6380);
  EXPECT_EQ(full->db, 3);
  EXPECT_EQ(full->describe(), "10.0.0.5:6380") << "no credentials in logs";
  auto password_only = parse_redis_url("redis://:pw@h");
  ASSERT_TRUE(password_only);
  EXPECT_EQ(password_only->username, "");
  EXPECT_EQ(password_only->password, "pw");
  auto v6 = parse_redis_url("redis://[::1]:6390");
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->port, 6390);
  auto sock = parse_redis_url("unix:///run/redis/redis.sock?db=2");
  ASSERT_TRUE(sock);
  EXPECT_EQ(sock->unix_path, "/run/redis/redis.sock");
  EXPECT_EQ(sock->db, 2);
  for (const char* bad : {"localhost:6379", "http://h", "redis://", "redis://h:0", "redis://h/x",
                          "rediss://h", "unix://relative", "unix:///s?db=x"}) {
    EXPECT_FALSE(parse_redis_url(bad)) << bad;
  }
}

TEST(RedisConnection, SendsCommandsAndPipelinesAndWaitsQuietlyForMessages) {
  auto conn = RedisConnection::open(test_endpoint(), 500ms);
  ASSERT_TRUE(conn) << conn.error().message;
  const std::string key = fresh_prefix() + "k";
  auto replies = conn->pipeline({{"SET", key, "41", "PX", "10000"},
                                 {"INCR", key},
                                 {"GET", key},
                                 {"HGET", key, "x"},
                                 {"GET", key + ":missing"}});
  ASSERT_TRUE(replies) << replies.error().message;
  EXPECT_EQ((*replies)[0].str, "OK");
  EXPECT_EQ((*replies)[1].as_integer(), 42);
  EXPECT_EQ((*replies)[2].str, "42");
  EXPECT_TRUE((*replies)[3].is_error()) << "a wrong type is an error reply, not a broken link";
  EXPECT_EQ((*replies)[4].type, RedisReply::Type::kNil);
  ASSERT_TRUE(conn->send({"SUBSCRIBE", key}));
  auto confirmation = conn->next_reply(1s);
  ASSERT_TRUE(confirmation && *confirmation);
  auto quiet = conn->next_reply(50ms);
  ASSERT_TRUE(quiet) << "no message within the wait is not an error";
  EXPECT_FALSE(*quiet);
  auto other = RedisConnection::open(test_endpoint(), 500ms);
  ASSERT_TRUE(other);
  ASSERT_TRUE(other->command({"PUBLISH", key, "hello"}));
  auto message = conn->next_reply(1s);
  ASSERT_TRUE(message && *message);
  ASSERT_EQ((*message)->elements.size(), 3u);
  EXPECT_EQ((*message)->elements[2].str, "hello");
}

TEST(Cluster, SharesARateLimitBetweenNodes) {
  const std::string prefix = fresh_prefix();
  net::KeyedRateLimiter on_a(10, 10);
  net::KeyedRateLimiter on_b(10, 10);
  Cluster a(test_endpoint(), node("a", prefix));
  Cluster b(test_endpoint(), node("b", prefix));
  a.share_counts("ingest", on_a);
  b.share_counts("ingest", on_b);
  a.start();
  b.start();
  ASSERT_TRUE(eventually([&] { return a.up() && b.up(); }));
  EXPECT_EQ(on_b.take("key"), std::nullopt);  // node B knows the key
  std::this_thread::sleep_for(150ms);
  EXPECT_EQ(on_a.take("key", 9), std::nullopt);  // node A spends the rest
  EXPECT_TRUE(eventually([&] { return on_b.take("key").has_value(); }, 2s))
      << "node B hears of node A's nine within a few syncs";
  a.stop();
  b.stop();
}

TEST(Cluster, AddsUpTheNodesConnectionsPerAddress) {
  const std::string prefix = fresh_prefix();
  auto on_a = net::ConnectionLimiter::make({.max_per_address = 4});
  auto on_b = net::ConnectionLimiter::make({.max_per_address = 4});
  Cluster a(test_endpoint(), node("a", prefix));
  Cluster b(test_endpoint(), node("b", prefix));
  a.share_gauges("sessions", *on_a);
  b.share_gauges("sessions", *on_b);
  a.start();
  b.start();
  std::vector<net::ConnectionLimiter::Ticket> held;
  held.reserve(3);
  for (int i = 0; i < 3; ++i) held.push_back(on_a->admit("10.1.1.1"));
  auto mine = on_b->admit("10.1.1.1");
  ASSERT_NE(mine, nullptr);
  EXPECT_TRUE(eventually([&] { return on_b->admit("10.1.1.1") == nullptr; }, 3s))
      << "one here and three on node A: the cap of four holds across both";
  held.clear();
  EXPECT_TRUE(eventually([&] { return on_b->admit("10.1.1.1") != nullptr; }, 3s))
      << "node A's connections closed: node B admits again";
  a.stop();
  b.stop();
}

TEST(Cluster, RelaysLiveEventsOfOtherNodesOnlyToNodesThatWatch) {
  const std::string prefix = fresh_prefix();
  obs::Registry metrics;
  Cluster a(test_endpoint(), node("a", prefix), &metrics);
  Cluster b(test_endpoint(), node("b", prefix));
  std::mutex mu;
  std::vector<std::string> on_a, on_b;
  a.on_live([&](boost::json::array events) {
    std::lock_guard lock(mu);
    for (auto& e : events) on_a.emplace_back(e.as_object().at("eventId").as_string());
  });
  b.on_live([&](boost::json::array events) {
    std::lock_guard lock(mu);
    for (auto& e : events) on_b.emplace_back(e.as_object().at("eventId").as_string());
  });
  a.start();
  b.start();
  ASSERT_TRUE(eventually([&] { return a.up() && b.up(); }));
  EXPECT_FALSE(a.others_watching());
  b.set_watching(true);
  a.set_watching(true);
  ASSERT_TRUE(eventually([&] { return a.others_watching() && b.others_watching(); }));
  a.publish_live({boost::json::object{{"eventId", "e1"}}, boost::json::object{{"eventId", "e2"}}});
  ASSERT_TRUE(eventually([&] {
    std::lock_guard lock(mu);
    return on_b.size() == 2;
  }));
  std::this_thread::sleep_for(100ms);
  {
    std::lock_guard lock(mu);
    EXPECT_TRUE(on_a.empty()) << "a node's own events are not relayed back to it";
    EXPECT_EQ(on_b, (std::vector<std::string>{"e1", "e2"}));
  }
  b.set_watching(false);
  a.set_watching(false);
  EXPECT_TRUE(eventually([&] { return !a.others_watching(); }));
  EXPECT_NE(metrics.render().find("insightd_redis_live_published_total 2"), std::string::npos);
  EXPECT_NE(metrics.render().find("insightd_redis_up 1"), std::string::npos);
  a.stop();
  b.stop();
}

TEST(Cluster, SharesTheFailedLoginLimitAndTheCache) {
  const std::string prefix = fresh_prefix();
  Cluster a(test_endpoint(), node("a", prefix));
  Cluster b(test_endpoint(), node("b", prefix));
  a.start();
  b.start();
  ASSERT_TRUE(eventually([&] { return a.up() && b.up(); }));
  RedisLoginLimit on_a(a);
  RedisLoginLimit on_b(b);
  const auth::LoginRateLimit limit{.max_failures = 3, .window = std::chrono::minutes(1)};
  EXPECT_EQ(on_a.start_attempt("1.2.3.4", "x1", limit), std::nullopt);
  EXPECT_EQ(on_b.start_attempt("1.2.3.4", "x2", limit), std::nullopt);
  EXPECT_EQ(on_a.start_attempt("1.2.3.4", "x3", limit), std::nullopt);
  const auto wait = on_b.start_attempt("1.2.3.4", "x4", limit);
  ASSERT_TRUE(wait.has_value()) << "three failures on two nodes";
  EXPECT_GT(*wait, std::chrono::seconds(50));
  on_b.forget_attempt("1.2.3.4", "x3");  // an attempt that could not be judged
  EXPECT_EQ(on_a.start_attempt("1.2.3.4", "x5", limit), std::nullopt);
  on_a.record_success("1.2.3.4");
  EXPECT_EQ(on_b.start_attempt("1.2.3.4", "x6", limit), std::nullopt) << "a success clears it";
  EXPECT_EQ(on_b.start_attempt("5.6.7.8", "y", limit), std::nullopt) << "per client";

  RedisCache cache_a(a);
  RedisCache cache_b(b);
  EXPECT_EQ(cache_b.get("metrics"), std::nullopt);
  cache_a.put("metrics", "{\"n\":1}", 200ms);
  EXPECT_EQ(cache_b.get("metrics"), "{\"n\":1}");
  EXPECT_TRUE(eventually([&] { return !cache_b.get("metrics").has_value(); }, 2s)) << "expired";
  a.stop();
  b.stop();
}

TEST(Cluster, ARedisThatRefusesEveryCommandIsNotUp) {
  // A password this Redis does not want: it accepts the connection, then
  // answers every command with an error.
  RedisEndpoint wrong = test_endpoint();
  wrong.password = "not-the-password";
  EXPECT_FALSE(RedisConnection::open(wrong, 500ms)) << "the PING after AUTH fails";
  Cluster c(wrong, ClusterOptions{.node = "refused", .prefix = fresh_prefix()});
  c.start();
  std::this_thread::sleep_for(300ms);
  EXPECT_FALSE(c.up());
  c.stop();
}

TEST(Cluster, CarriesOnAloneAtOnceWhileRedisIsUnreachable) {
  // A port nothing listens on.
  RedisEndpoint nowhere{.host = "127.0.0.1", .port = 1};
  obs::Registry metrics;
  net::KeyedRateLimiter limiter(5, 5);
  Cluster c(nowhere, ClusterOptions{.node = "alone", .prefix = fresh_prefix()}, &metrics);
  c.share_counts("ingest", limiter);
  c.start();
  std::this_thread::sleep_for(300ms);
  EXPECT_FALSE(c.up());
  EXPECT_FALSE(c.others_watching());
  const auto started = std::chrono::steady_clock::now();
  EXPECT_EQ(c.call({"PING"}), std::nullopt);
  c.publish_live({boost::json::object{{"eventId", "e"}}});
  for (int i = 0; i < 5; ++i) EXPECT_EQ(limiter.take("k"), std::nullopt) << "the local limit holds";
  EXPECT_TRUE(limiter.take("k").has_value());
  EXPECT_LT(std::chrono::steady_clock::now() - started, 50ms) << "nothing waits on Redis";
  EXPECT_NE(metrics.render().find("insightd_redis_up 0"), std::string::npos);
  c.stop();
}

}  // namespace
}  // namespace insightd::cluster
