#include "ingest/group_commit_writer.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <set>

#include "core/testing/builders.h"
#include "store/testing/test_database.h"

namespace insightd::ingest {
namespace {

using namespace std::chrono_literals;

NewEvent event(std::string id) {
  return insightd::testing::EventBuilder(std::move(id)).at(SystemClock::instance().now());
}

// An event log whose append waits at a gate, or fails: for backpressure and
// failure paths that a real database cannot be made to hit on cue.
class GatedEventStore final : public store::EventAppender {
 public:
  std::promise<void> gate;
  std::shared_future<void> opened = gate.get_future().share();
  std::atomic<int> appends{0};
  bool fail = false;
  std::string poison;  // an event id the "database" refuses, failing its whole commit

  Result<store::AppendOutcome> append(std::span<const NewEvent> events, const store::BatchPolicy&,
                                      Timestamp now) override {
    ++appends;
    opened.wait();
    if (fail) return make_error(ErrorCode::kUnavailable, "database down");
    for (const auto& e : events) {
      if (!poison.empty() && e.event_id == poison) {
        return make_error(ErrorCode::kInternal, "invalid input syntax for type json");
      }
    }
    store::AppendOutcome out;
    for (const auto& e : events) out.results.push_back({e.event_id, false, "batch_x", now});
    return out;
  }
};

TEST(GroupCommitWriter, CommitsEverySubmissionOnceAndAnswersEachInOrder) {
  auto db = store::testing::TestDatabase::create();
  ASSERT_NE(db, nullptr);
  LiveHub live;
  std::atomic<size_t> live_events{0};
  live.subscribe([&](std::span<const StoredEvent> events) { live_events += events.size(); });
  std::atomic<int> sealed{0};
  GroupCommitWriter writer(
      db->store().events(), SystemClock::instance(), WriterOptions{.policy = {10, 5}}, &live,
      [&](const std::vector<store::SealedBatch>& b) { sealed += static_cast<int>(b.size()); });
  writer.start();
  constexpr int kThreads = 4, kPerThread = 50;
  std::atomic<int> answered{0};
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  threads.reserve(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        std::vector<NewEvent> events{event(fmt::format("t{}-{}", t, i)),
                                     event(fmt::format("t{}-{}", t, i))};  // a repeat
        std::promise<void> done;
        const bool queued =
            writer.submit(events, [&](const Result<std::vector<store::AppendResult>>& r) {
              if (!r || r->size() != 2 || r->at(0).event_id != fmt::format("t{}-{}", t, i) ||
                  r->at(0).duplicate || !r->at(1).duplicate ||
                  r->at(0).batch_id != r->at(1).batch_id) {
                ++wrong;
              }
              ++answered;
              done.set_value();
            });
        ASSERT_TRUE(queued);
        done.get_future().wait();
      }
    });
  }
  for (auto& t : threads) t.join();
  writer.stop();
  EXPECT_EQ(answered.load(), kThreads * kPerThread);
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_EQ(*db->store().events().count(), kThreads * kPerThread);
  EXPECT_EQ(sealed.load(), kThreads * kPerThread / 10);
  EXPECT_EQ(live_events.load(), static_cast<size_t>(kThreads * kPerThread));
}

TEST(GroupCommitWriter, AFullQueueIsRefusedAtOnceAndNothingIsLost) {
  GatedEventStore store;
  GroupCommitWriter writer(store, SystemClock::instance(),
                           WriterOptions{.queue_capacity_events = 5, .max_events_per_commit = 100},
                           nullptr, nullptr);
  writer.start();
  std::atomic<int> ok{0};
  auto count_ok = [&](const Result<std::vector<store::AppendResult>>& r) {
    if (r) ok += static_cast<int>(r->size());
  };
  // The first submission is taken by the writer thread and waits at the gate.
  ASSERT_TRUE(writer.submit({event("a")}, count_ok));
  while (store.appends.load() == 0) std::this_thread::sleep_for(1ms);
  // Five more fill the queue; the sixth is refused.
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(writer.submit({event(fmt::format("q{}", i))}, count_ok));
  EXPECT_EQ(writer.queue_depth(), 5u);
  EXPECT_FALSE(writer.submit({event("overflow")}, count_ok));
  store.gate.set_value();
  writer.stop();  // drains what was queued
  EXPECT_EQ(ok.load(), 6);
  EXPECT_EQ(writer.queue_depth(), 0u);
  EXPECT_FALSE(writer.submit({event("after stop")}, count_ok));
}

TEST(GroupCommitWriter, ADatabaseFailureReachesEverySubmitter) {
  GatedEventStore store;
  store.fail = true;
  store.gate.set_value();
  GroupCommitWriter writer(store, SystemClock::instance(), WriterOptions{}, nullptr, nullptr);
  writer.start();
  std::promise<ErrorCode> code;
  ASSERT_TRUE(writer.submit({event("x")}, [&](const Result<std::vector<store::AppendResult>>& r) {
    code.set_value(r ? ErrorCode::kInternal : r.code());
  }));
  EXPECT_EQ(code.get_future().get(), ErrorCode::kUnavailable);
}

// Regression: one event the database refuses failed every event committed with
// it (16.7 % of innocent requests got 503 while poison was being sent).
TEST(GroupCommitWriter, AnEventTheDatabaseRefusesFailsOnlyItsOwnSubmission) {
  GatedEventStore store;
  store.poison = "bad";
  GroupCommitWriter writer(store, SystemClock::instance(), WriterOptions{}, nullptr, nullptr);
  writer.start();  // the gate holds the first commit, so the rest queue up as one group
  constexpr int kSubmissions = 9;
  std::vector<std::promise<Result<std::vector<store::AppendResult>>>> answers(kSubmissions);
  for (int i = 0; i < kSubmissions; ++i) {
    std::vector<NewEvent> events{event(fmt::format("e{}", i))};
    if (i == 5) events.push_back(event("bad"));
    ASSERT_TRUE(writer.submit(events, [&answers, i](Result<std::vector<store::AppendResult>> r) {
      answers[i].set_value(std::move(r));
    }));
  }
  store.gate.set_value();
  for (int i = 0; i < kSubmissions; ++i) {
    auto r = answers[i].get_future().get();
    if (i == 5) {
      ASSERT_FALSE(r);
      EXPECT_FALSE(is_retryable(r.code())) << "poison must not be told to retry";
    } else {
      ASSERT_TRUE(r) << "innocent submission " << i << ": " << r.error().message;
      EXPECT_EQ(r->at(0).event_id, fmt::format("e{}", i));
    }
  }
  writer.stop();
}

TEST(GroupCommitWriter, ADatabaseThatStopsAnsweringGetsRetryableAnswersWithinTheTimeout) {
  GatedEventStore store;  // the gate stays shut: the commit hangs like a stopped server
  GroupCommitWriter writer(store, SystemClock::instance(),
                           WriterOptions{.commit_timeout = std::chrono::milliseconds(300)}, nullptr,
                           nullptr);
  writer.start();
  std::promise<Result<std::vector<store::AppendResult>>> in_commit, queued;
  ASSERT_TRUE(writer.submit({event("a")}, [&](auto r) { in_commit.set_value(std::move(r)); }));
  while (store.appends.load() == 0) std::this_thread::sleep_for(1ms);
  ASSERT_TRUE(writer.submit({event("b")}, [&](auto r) { queued.set_value(std::move(r)); }));
  const auto started = std::chrono::steady_clock::now();
  auto first = in_commit.get_future();
  auto second = queued.get_future();
  ASSERT_EQ(first.wait_for(5s), std::future_status::ready);
  ASSERT_EQ(second.wait_for(5s), std::future_status::ready);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 3s);
  auto a = first.get();
  auto b = second.get();
  ASSERT_FALSE(a);
  ASSERT_FALSE(b);
  EXPECT_TRUE(is_retryable(a.code()));
  EXPECT_TRUE(is_retryable(b.code()));
  EXPECT_GE(writer.commit_running_for(), std::chrono::milliseconds(300));
  store.gate.set_value();  // the database answers again: the late commit is not answered twice
  writer.stop();
  EXPECT_EQ(writer.commit_running_for(), std::chrono::milliseconds(0));
}

TEST(GroupCommitWriter, TheQueueIsBoundedInBytesAsWellAsEvents) {
  GatedEventStore store;         // holds the first commit, so the rest stay queued
  NewEvent big = event("big0");  // every id below has this length
  big.metadata_json = "{\"s\":\"" + std::string(30'000, 'x') + "\"}";
  const size_t one = GroupCommitWriter::queued_size(big);
  GroupCommitWriter writer(store, SystemClock::instance(),
                           WriterOptions{.queue_capacity_bytes = 3 * one}, nullptr, nullptr);
  writer.start();
  ASSERT_TRUE(writer.submit({event("first")}, [](auto) {}));
  while (store.appends.load() == 0) std::this_thread::sleep_for(1ms);
  int queued = 0;
  for (int i = 0; i < 10; ++i) {
    big.event_id = fmt::format("big{}", i);
    if (writer.submit({big}, [](auto) {})) ++queued;
  }
  EXPECT_EQ(queued, 3) << "refused once the bytes waiting would pass the bound";
  EXPECT_LE(writer.queue_bytes(), 3 * one);
  store.gate.set_value();
  writer.stop();
  EXPECT_EQ(writer.queue_bytes(), 0u);
}

}  // namespace
}  // namespace insightd::ingest
