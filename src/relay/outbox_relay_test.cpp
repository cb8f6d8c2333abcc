// The outbox relay against librdkafka's mock cluster (the real Kafka protocol
// on local ports), read back by a real consumer, on both databases.
#include "relay/outbox_relay.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <chrono>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "relay/outbox_retention.h"
#include "relay/testing/mock_cluster.h"
#include "store/detail/queries.h"
#include "store/testing/test_database.h"

namespace insightd::relay {
namespace {

using namespace std::chrono_literals;
using store::testing::TestDatabase;
using testing::consume;
using testing::MockCluster;
using testing::Received;

constexpr int kPartitions = 4;

struct Row {
  int64_t id;
  std::string kind;
  std::string key;
  std::string payload;
};

class OutboxRelayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = TestDatabase::create();
    ASSERT_NE(db_, nullptr);
    prefix_ = fmt::format("t{}.", std::chrono::steady_clock::now().time_since_epoch().count());
    cluster_.create_topic(prefix_ + "batches", kPartitions);
    cluster_.create_topic(prefix_ + "breaker", kPartitions);
  }

  // Writes one outbox row, as the store's transactions do, and remembers it.
  void write(const std::string& kind, const std::string& key, int n,
             Timestamp at = SystemClock::instance().now()) {
    auto conn = db_->pool().acquire();
    ASSERT_TRUE(conn.is_ok());
    const std::string payload = fmt::format(R"({{"key":"{}","n":{}}})", key, n);
    auto r =
        (*conn)->execute(store::detail::kInsertOutbox, {kind, key, payload, store::sql_time(at)});
    ASSERT_TRUE(r.is_ok()) << r.error().message;
    auto rows = (*conn)->query("SELECT max(id) FROM \"KafkaOutbox\"", {});
    ASSERT_TRUE(rows.is_ok());
    rows_.push_back({rows->front().integer(0), kind, key, payload});
  }

  // 40 batches with three messages each, interleaved, and 30 breaker changes.
  void write_mixed() {
    for (int round = 0; round < 3; ++round) {
      const char* kind = round == 0   ? "batch.sealed"
                         : round == 1 ? "insight.created"
                                      : "job.dead_lettered";
      for (int b = 0; b < 40; ++b) {
        write(kind, fmt::format("batch_{:03}", b), round);
        if (b % 4 == 0) write("circuit.state_changed", "openai", round * 40 + b);
      }
    }
  }

  RelayOptions options(const std::string& owner = "") {
    RelayOptions o;
    o.brokers = cluster_.bootstraps();
    o.topic_prefix = prefix_;
    o.owner = owner;
    o.lease = 1'000ms;
    o.idle_poll = 20ms;
    o.outage_warning = 500ms;
    return o;
  }

  bool wait_until_published(Millis within) {
    const auto deadline = std::chrono::steady_clock::now() + within;
    while (std::chrono::steady_clock::now() < deadline) {
      auto n = db_->store().outbox().count_pending();
      if (n.is_ok() && *n == 0) return true;
      std::this_thread::sleep_for(20ms);
    }
    return false;
  }

  std::vector<Received> read_all(size_t at_least) {
    return consume(cluster_.bootstraps(), {prefix_ + "batches", prefix_ + "breaker"}, kPartitions,
                   at_least, 15s);
  }

  // Every row arrived (duplicates allowed when `exactly_once` is false), with
  // its headers and payload, on its topic, keyed by its aggregate, and per key
  // in outbox order once duplicates are dropped.
  void expect_delivered(const std::vector<Received>& got, bool exactly_once) {
    std::map<int64_t, const Row*> by_id;
    for (const Row& r : rows_) by_id[r.id] = &r;
    std::set<int64_t> seen;
    std::map<std::string, int64_t> last_per_key;
    size_t duplicates = 0;
    for (const Received& m : got) {
      ASSERT_TRUE(m.headers.contains("outbox-id")) << m.value;
      const int64_t id = std::stoll(m.headers.at("outbox-id"));
      ASSERT_TRUE(by_id.contains(id)) << "unknown outbox id " << id;
      const Row& row = *by_id[id];
      EXPECT_EQ(m.headers.at("kind"), row.kind);
      EXPECT_EQ(m.key, row.key);
      // The same JSON (PostgreSQL's jsonb keeps its own key order and spacing).
      EXPECT_EQ(boost::json::parse(m.value), boost::json::parse(row.payload));
      EXPECT_EQ(m.topic, *topic_for(row.kind, prefix_));
      if (!seen.insert(id).second) {
        ++duplicates;
        continue;
      }
      const std::string order_key = m.topic + "/" + m.key;
      auto last = last_per_key.find(order_key);
      if (last != last_per_key.end()) {
        EXPECT_LT(last->second, id) << "key " << m.key << " out of order";
      }
      last_per_key[order_key] = id;
    }
    EXPECT_EQ(seen.size(), rows_.size()) << "rows missing";
    if (exactly_once) {
      EXPECT_EQ(duplicates, 0u);
    }
  }

  std::unique_ptr<TestDatabase> db_;
  MockCluster cluster_{3};
  std::string prefix_;
  std::vector<Row> rows_;
};

TEST(OutboxTopics, BatchMessagesShareATopicAndBreakerChangesHaveTheirOwn) {
  EXPECT_EQ(topic_for("batch.sealed", "p."), "p.batches");
  EXPECT_EQ(topic_for("insight.created", "p."), "p.batches");
  EXPECT_EQ(topic_for("job.dead_lettered", "p."), "p.batches");
  EXPECT_EQ(topic_for("circuit.state_changed", "p."), "p.breaker");
  EXPECT_FALSE(topic_for("something.else", "p.").has_value());
}

TEST_F(OutboxRelayTest, DeliversEveryRowOnceInOrderPerKeyWithItsHeaders) {
  write_mixed();
  OutboxRelay relay(db_->store().outbox(), RealClock::instance(), options());
  ASSERT_TRUE(relay.start().is_ok());
  ASSERT_TRUE(wait_until_published(20s)) << *db_->store().outbox().count_pending() << " left";
  relay.stop();
  EXPECT_EQ(relay.published(), rows_.size());
  expect_delivered(read_all(rows_.size()), /*exactly_once=*/true);
}

TEST_F(OutboxRelayTest, RowsWrittenWhileTheBrokerIsDownArriveOnceItIsBack) {
  cluster_.set_all_down(true);
  write_mixed();
  OutboxRelay relay(db_->store().outbox(), RealClock::instance(), options());
  ASSERT_TRUE(relay.start().is_ok());
  std::this_thread::sleep_for(1500ms);
  // Nothing can be delivered: everything is still in the outbox.
  EXPECT_EQ(*db_->store().outbox().count_pending(), static_cast<int64_t>(rows_.size()));
  for (int b = 40; b < 50; ++b) write("batch.sealed", fmt::format("batch_{:03}", b), 0);
  cluster_.set_all_down(false);
  ASSERT_TRUE(wait_until_published(30s)) << *db_->store().outbox().count_pending() << " left";
  relay.stop();
  expect_delivered(read_all(rows_.size()), /*exactly_once=*/false);
}

TEST_F(OutboxRelayTest, RefusedProduceRequestsAreRetriedWithoutReordering) {
  write_mixed();
  // NOT_ENOUGH_REPLICAS (19) and REQUEST_TIMED_OUT (7), several times over.
  cluster_.fail_next_produce_requests({19, 7, 19, 7, 19, 19, 7, 7});
  OutboxRelay relay(db_->store().outbox(), RealClock::instance(), options());
  ASSERT_TRUE(relay.start().is_ok());
  ASSERT_TRUE(wait_until_published(30s)) << *db_->store().outbox().count_pending() << " left";
  relay.stop();
  expect_delivered(read_all(rows_.size()), /*exactly_once=*/false);
}

TEST_F(OutboxRelayTest, TwoRelaysTakeTurnsAndKeepTheOrderPerKey) {
  auto other = db_->open_another();
  OutboxRelay a(db_->store().outbox(), RealClock::instance(), options("node-a"));
  OutboxRelay b(other.store->outbox(), RealClock::instance(), options("node-b"));
  ASSERT_TRUE(a.start().is_ok());
  ASSERT_TRUE(b.start().is_ok());
  write_mixed();
  ASSERT_TRUE(wait_until_published(20s));
  EXPECT_NE(a.leader(), b.leader());  // exactly one of them relays
  // The leader stops (and gives the lease back): the other one takes over.
  OutboxRelay& leader = a.leader() ? a : b;
  OutboxRelay& follower = a.leader() ? b : a;
  leader.stop();
  for (int b2 = 0; b2 < 40; ++b2) write("insight.created", fmt::format("batch_{:03}", b2), 9);
  ASSERT_TRUE(wait_until_published(20s));
  EXPECT_TRUE(follower.leader());
  follower.stop();
  expect_delivered(read_all(rows_.size()), /*exactly_once=*/true);
}

TEST_F(OutboxRelayTest, AFailedRowHoldsBackItsKeyUntilItsRetry) {
  write("batch.sealed", "batch_held", 0);
  write("insight.created", "batch_held", 1);
  write("batch.sealed", "batch_free", 0);
  // The first row failed before and waits for its retry, a minute away.
  const Timestamp later = SystemClock::instance().now() + 1min;
  ASSERT_TRUE(db_->store().outbox().mark_failed(rows_[0].id, "earlier failure", later).is_ok());
  OutboxRelay relay(db_->store().outbox(), RealClock::instance(), options());
  ASSERT_TRUE(relay.start().is_ok());
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (relay.published() < 1 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(20ms);
  }
  std::this_thread::sleep_for(300ms);  // several more passes
  relay.stop();
  EXPECT_EQ(relay.published(), 1u);  // batch_free only; batch_held's second row waits too
  EXPECT_EQ(*db_->store().outbox().count_pending(), 2);
}

TEST_F(OutboxRelayTest, TheEventStreamPublishesEveryCommittedEventOnceFromWhenItWasTurnedOn) {
  cluster_.create_topic(prefix_ + "events", kPartitions);
  auto append = [&](const std::string& prefix, int n) {
    std::vector<NewEvent> events;
    for (int i = 0; i < n; ++i) {
      NewEvent e;
      e.event_id = fmt::format("{}-{}", prefix, i);
      e.event_type = "click";
      if (i % 5 != 0) e.user_id = fmt::format("user_{}", i % 3);
      e.session_id = fmt::format("session_{}", i % 4);
      e.timestamp = e.received_at = SystemClock::instance().now();
      e.metadata_json = fmt::format(R"({{"i":{}}})", i);
      events.push_back(e);
    }
    auto r = db_->store().events().append(events, {50, 3}, SystemClock::instance().now());
    ASSERT_TRUE(r.is_ok()) << r.error().message;
  };
  append("history", 20);  // before KAFKA_EVENTS: not streamed
  RelayOptions o = options();
  o.events = true;
  {
    OutboxRelay relay(db_->store().outbox(), RealClock::instance(), o);
    ASSERT_TRUE(relay.start().is_ok());
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (!db_->store().outbox().cursor("events")->has_value() &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(10ms);
    }
    for (int round = 0; round < 3; ++round) append(fmt::format("live{}", round), 100);
    while (relay.events_published() < 300 && std::chrono::steady_clock::now() < deadline + 10s) {
      std::this_thread::sleep_for(10ms);
    }
    relay.stop();
    EXPECT_EQ(relay.events_published(), 300u);
  }
  append("later", 50);  // while no relay runs: streamed by the next one
  {
    OutboxRelay relay(db_->store().outbox(), RealClock::instance(), o);
    ASSERT_TRUE(relay.start().is_ok());
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    while (relay.events_published() < 50 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(10ms);
    }
    relay.stop();
    EXPECT_EQ(relay.events_published(), 50u);
  }
  // 3 × 100 + 50, no history; a duplicate would leave one of them unread.
  auto got = consume(cluster_.bootstraps(), {prefix_ + "events"}, kPartitions, 350, 10s);
  ASSERT_EQ(got.size(), 350u);
  std::set<std::string> ids;
  std::map<std::string, std::pair<int, int>> last_per_key;  // key -> (round, index)
  for (const Received& m : got) {
    auto v = boost::json::parse(m.value).as_object();
    const std::string event_id(v.at("eventId").as_string());
    EXPECT_EQ(m.headers.at("event-id"), event_id);
    EXPECT_EQ(m.headers.at("kind"), "event");
    EXPECT_FALSE(event_id.starts_with("history"));
    EXPECT_TRUE(ids.insert(event_id).second) << event_id << " twice";
    // Keyed by user, else by session.
    if (v.at("userId").is_string()) {
      EXPECT_EQ(m.key, v.at("userId").as_string());
    } else {
      EXPECT_EQ(m.key, v.at("sessionId").as_string());
    }
    EXPECT_FALSE(v.at("batchId").as_string().empty());
    // Per key, in the order they were committed.
    const int round = event_id.starts_with("later") ? 3 : event_id[4] - '0';
    const int index = std::stoi(event_id.substr(event_id.find('-') + 1));
    auto last = last_per_key.find(m.key);
    if (last != last_per_key.end()) {
      EXPECT_LT(last->second, std::make_pair(round, index)) << "key " << m.key;
    }
    last_per_key[m.key] = {round, index};
  }
}

// Eight days ago: older than the default retention of seven days.
Timestamp days_ago(int days) {
  return SystemClock::instance().now() - std::chrono::days(days);
}

TEST_F(OutboxRelayTest, RetentionWithoutKafkaDeletesEveryOldRowAndKeepsRecentOnes) {
  for (int i = 0; i < 25; ++i) write("batch.sealed", fmt::format("old_{}", i), i, days_ago(8));
  write("batch.sealed", "recent", 0, days_ago(6));
  OutboxRetention retention(db_->store().outbox(), RealClock::instance(), std::chrono::days(7),
                            /*relay_configured=*/false);
  retention.start();  // its first pass runs at once
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (*db_->store().outbox().count_pending() > 1 &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(10ms);
  }
  retention.stop();
  EXPECT_EQ(*db_->store().outbox().count_pending(), 1);
  auto left = db_->store().outbox().unpublished(0, 10);
  ASSERT_EQ(left->size(), 1u);
  EXPECT_EQ(left->front().key, "recent");
}

TEST_F(OutboxRelayTest, RetentionWithKafkaNeverDeletesAnUnpublishedRow) {
  write("batch.sealed", "old_published", 0, days_ago(9));
  write("batch.sealed", "old_waiting", 0, days_ago(9));
  write("batch.sealed", "recent_published", 0, days_ago(1));
  const int64_t published[] = {rows_[0].id, rows_[2].id};
  ASSERT_TRUE(
      db_->store().outbox().mark_published(published, SystemClock::instance().now()).is_ok());
  OutboxRetention retention(db_->store().outbox(), RealClock::instance(), std::chrono::days(7),
                            /*relay_configured=*/true);
  EXPECT_EQ(retention.run_once(), 1);  // old_published only
  EXPECT_EQ(retention.run_once(), 0);
  auto conn = db_->pool().acquire();
  auto keys = (*conn)->query("SELECT key FROM \"KafkaOutbox\" ORDER BY id", {});
  ASSERT_TRUE(keys.is_ok());
  ASSERT_EQ(keys->size(), 2u);
  EXPECT_EQ((*keys)[0].text(0), "old_waiting");
  EXPECT_EQ((*keys)[1].text(0), "recent_published");
}

}  // namespace
}  // namespace insightd::relay
