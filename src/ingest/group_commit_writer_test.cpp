#include "ingest/group_commit_writer.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "core/testing/builders.h"
#include "ingest/ingest_service.h"
#include "net/rate_limiter.h"
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
  std::string poison;      // an event id the "database" refuses, failing its whole commit
  std::string outage;      // an event id whose commit fails as if the database went down
  bool seal_each = false;  // every commit that succeeds seals a batch named after its first event

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
    for (const auto& e : events) {
      if (!outage.empty() && e.event_id == outage) {
        return make_error(ErrorCode::kUnavailable, "connection lost");
      }
    }
    store::AppendOutcome out;
    for (const auto& e : events) out.results.push_back({e.event_id, false, "batch_x", now});
    if (seal_each) out.sealed.push_back({"sealed-" + events[0].event_id, 1});
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

// Copying every committed event for a live view no one watches costs each
// event a move and an allocation: the writer asks first.
TEST(GroupCommitWriter, CommittedEventsGoLiveOnlyWhileSomeoneWatches) {
  auto db = store::testing::TestDatabase::create();
  ASSERT_NE(db, nullptr);
  LiveHub live;
  std::atomic<bool> watching{false};
  std::atomic<size_t> live_events{0};
  live.subscribe([&](std::span<const StoredEvent> events) { live_events += events.size(); },
                 [&] { return watching.load(); });
  EXPECT_FALSE(live.wanted());
  GroupCommitWriter writer(db->store().events(), SystemClock::instance(), WriterOptions{}, &live,
                           nullptr);
  writer.start();
  auto commit = [&writer](std::string id) {
    std::promise<void> done;
    ASSERT_TRUE(writer.submit({event(std::move(id))}, [&](auto) { done.set_value(); }));
    done.get_future().wait();
  };
  commit("unwatched");
  // One answering thread, in commit order: once the second is answered, the
  // first is done with, publish included.
  commit("unwatched-2");
  EXPECT_EQ(live_events.load(), 0U);
  watching = true;
  EXPECT_TRUE(live.wanted());
  commit("watched");
  writer.stop();
  EXPECT_EQ(live_events.load(), 1U);
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

// The events of one Socket.IO read are separate requests handed over together:
// the database refusing one must not refuse the others.
TEST(GroupCommitWriter, AnIndependentSubmissionLosesOnlyTheEventTheDatabaseRefuses) {
  GatedEventStore store;
  store.poison = "bad";
  GroupCommitWriter writer(store, SystemClock::instance(), WriterOptions{}, nullptr, nullptr);
  writer.start();
  std::promise<Result<std::vector<store::AppendResult>>> answer;
  const std::vector<NewEvent> events{event("a"), event("b"), event("bad"), event("c"), event("d")};
  ASSERT_TRUE(writer.submit(
      events, [&](auto r) { answer.set_value(std::move(r)); }, /*independent=*/true));
  store.gate.set_value();
  auto r = answer.get_future().get();
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_EQ(r->size(), events.size());
  for (size_t i = 0; i < events.size(); ++i) {
    EXPECT_EQ(r->at(i).event_id, events[i].event_id);
    EXPECT_EQ(r->at(i).refused, i == 2) << i;
    if (i != 2) {
      EXPECT_EQ(r->at(i).batch_id, "batch_x") << i;
    }
  }
  writer.stop();
}

// Isolating a refused event, a part commits and seals a batch, then the
// database goes away: the submission hears "retry", and the seal still counts.
TEST(GroupCommitWriter, BatchesSealedBeforeAnOutageMidIsolationAreStillAnnounced) {
  GatedEventStore store;
  store.poison = "bad";
  store.outage = "down";
  store.seal_each = true;
  store.gate.set_value();
  std::mutex mu;
  std::vector<std::string> sealed;
  GroupCommitWriter writer(store, SystemClock::instance(), WriterOptions{}, nullptr,
                           [&](const std::vector<store::SealedBatch>& b) {
                             std::lock_guard lock(mu);
                             for (const auto& s : b) sealed.push_back(s.batch_id);
                           });
  writer.start();
  std::promise<Result<std::vector<store::AppendResult>>> answer;
  // Halves: [a, bad] -> [a] commits (seals "sealed-a"), [bad] refused; then [c, down] fails.
  ASSERT_TRUE(writer.submit(
      {event("a"), event("bad"), event("c"), event("down")},
      [&](auto r) { answer.set_value(std::move(r)); }, /*independent=*/true));
  auto r = answer.get_future().get();
  writer.stop();  // joins the answering thread, which announces after answering
  ASSERT_FALSE(r);
  EXPECT_TRUE(is_retryable(r.code()));
  std::lock_guard lock(mu);
  EXPECT_EQ(sealed, (std::vector<std::string>{"sealed-a"}));
}

TEST(GroupCommitWriter, AnIndependentSubmissionStillFailsWholeWhenTheDatabaseIsDown) {
  GatedEventStore store;
  store.fail = true;
  store.gate.set_value();
  GroupCommitWriter writer(store, SystemClock::instance(), WriterOptions{}, nullptr, nullptr);
  writer.start();
  std::promise<Result<std::vector<store::AppendResult>>> answer;
  ASSERT_TRUE(writer.submit(
      {event("a"), event("b")}, [&](auto r) { answer.set_value(std::move(r)); }, true));
  auto r = answer.get_future().get();
  ASSERT_FALSE(r);
  EXPECT_TRUE(is_retryable(r.code()));
  writer.stop();
}

std::vector<EventOutcome> ingest_now(IngestService& service, std::vector<EventVerdict> verdicts,
                                     bool independent) {
  std::promise<std::vector<EventOutcome>> outcomes;
  service.ingest_verdicts(
      verdicts, Transport::kSocketIo, [&](auto o) { outcomes.set_value(std::move(o)); }, "k",
      std::chrono::steady_clock::now(), independent);
  return outcomes.get_future().get();
}

// Answered as if each had come alone: the database's refusal of one ...
TEST(IngestService, IndependentEventsAreRefusedByTheDatabaseOneByOne) {
  GatedEventStore store;
  store.poison = "bad";
  store.gate.set_value();
  GroupCommitWriter writer(store, SystemClock::instance(), WriterOptions{}, nullptr, nullptr);
  writer.start();
  IngestService service(writer, SystemClock::instance(), {});
  const auto o = ingest_now(service, {event("a"), event("bad"), event("c")}, true);
  ASSERT_EQ(o.size(), 3U);
  EXPECT_EQ(o[0].status, EventStatus::kOk);
  EXPECT_EQ(o[1].status, EventStatus::kRejected);
  EXPECT_EQ(o[1].code, event_error::kNotStorable);
  EXPECT_EQ(o[2].status, EventStatus::kOk);
  // Handed over as one request, they stand or fall together.
  const auto together = ingest_now(service, {event("e"), event("bad")}, false);
  EXPECT_EQ(together[0].status, EventStatus::kRejected);
  writer.stop();
}

// ... and the rate limit, which takes them one at a time.
TEST(IngestService, IndependentEventsAreRateLimitedOneByOne) {
  GatedEventStore store;
  store.gate.set_value();
  GroupCommitWriter writer(store, SystemClock::instance(), WriterOptions{}, nullptr, nullptr);
  writer.start();
  const auto t0 = std::chrono::steady_clock::now();
  net::KeyedRateLimiter limiter(1, 2, 10, [t0] { return t0; });  // two tokens, no refill
  IngestService service(writer, SystemClock::instance(), {});
  service.limit_rate(limiter);
  const auto o = ingest_now(service, {event("a"), event("b"), event("c"), event("d")}, true);
  ASSERT_EQ(o.size(), 4U);
  EXPECT_EQ(o[0].status, EventStatus::kOk);
  EXPECT_EQ(o[1].status, EventStatus::kOk);
  EXPECT_EQ(o[2].status, EventStatus::kUnavailable);
  EXPECT_EQ(o[2].code, "rate_limited");
  EXPECT_EQ(o[3].code, "rate_limited");
  EXPECT_TRUE(o[3].retry_after.has_value());
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

// An event log that records how many events each commit held, and when.
class RecordingEventStore final : public store::EventAppender {
 public:
  Result<store::AppendOutcome> append(std::span<const NewEvent> events, const store::BatchPolicy&,
                                      Timestamp now) override {
    {
      std::lock_guard lock(mu);
      commits.push_back(events.size());
    }
    store::AppendOutcome out;
    for (const auto& e : events) out.results.push_back({e.event_id, false, "batch_x", now});
    return out;
  }
  std::vector<size_t> sizes() {
    std::lock_guard lock(mu);
    return commits;
  }

 private:
  std::mutex mu;
  std::vector<size_t> commits;
};

// Submits one event and returns a future for its answer.
std::future<bool> submit_one(GroupCommitWriter& writer, std::string id) {
  auto done = std::make_shared<std::promise<bool>>();
  auto answered = done->get_future();
  const bool queued = writer.submit({event(std::move(id))},
                                    [done](const Result<std::vector<store::AppendResult>>& r) {
                                      done->set_value(static_cast<bool>(r));
                                    });
  if (!queued) done->set_value(false);
  return answered;
}

TEST(GroupCommitWriter, TheRestOfABurstJoinsTheCommitOfItsFirstEvent) {
  RecordingEventStore store;
  GroupCommitWriter writer(store, SystemClock::instance(), WriterOptions{.gather_burst = 400ms},
                           nullptr, nullptr);
  writer.start();
  auto first = submit_one(writer, "first");
  std::this_thread::sleep_for(50ms);  // long enough for a writer that does not wait
  auto second = submit_one(writer, "second");
  EXPECT_TRUE(first.get());
  EXPECT_TRUE(second.get());
  writer.stop();
  EXPECT_EQ(store.sizes(), std::vector<size_t>{2}) << "one commit for the burst";
}

TEST(GroupCommitWriter, EnoughWaitingEventsStartACommitAtOnce) {
  RecordingEventStore store;
  GroupCommitWriter writer(store, SystemClock::instance(),
                           WriterOptions{.gather_burst = 30s, .gather_enough = 3}, nullptr,
                           nullptr);
  writer.start();
  const auto started = std::chrono::steady_clock::now();
  std::vector<std::future<bool>> answers;
  for (int i = 0; i < 3; ++i) answers.push_back(submit_one(writer, fmt::format("e{}", i)));
  for (auto& a : answers) {
    ASSERT_EQ(a.wait_for(10s), std::future_status::ready) << "waited out the gathering";
    EXPECT_TRUE(a.get());
  }
  EXPECT_LT(std::chrono::steady_clock::now() - started, 10s);
  writer.stop();
  EXPECT_EQ(store.sizes(), std::vector<size_t>{3});
}

// Two commits 30 ms apart (they give the writer a rate: its window is 20 ms),
// then two events 50 ms apart; returns the events of each commit.
std::vector<size_t> commits_of_two_then_two(const WriterOptions& options) {
  RecordingEventStore store;
  GroupCommitWriter writer(store, SystemClock::instance(), options, nullptr, nullptr);
  writer.start();
  EXPECT_TRUE(submit_one(writer, "a").get());
  std::this_thread::sleep_for(30ms);
  EXPECT_TRUE(submit_one(writer, "b").get());
  auto c = submit_one(writer, "c");
  std::this_thread::sleep_for(50ms);
  auto d = submit_one(writer, "d");
  EXPECT_TRUE(c.get());
  EXPECT_TRUE(d.get());
  writer.stop();
  return store.sizes();
}

TEST(GroupCommitWriter, ABusyWriterSpacesItsCommitsAndAQuietOneDoesNot) {
  // Any rate counts as busy here; bursts are not waited for. Busy, the third
  // commit starts 400 ms after the second did, with both last events.
  WriterOptions options{.gather_burst = 0ms, .gather_from_rate = 1, .gather_interval = 400ms};
  EXPECT_EQ(commits_of_two_then_two(options), (std::vector<size_t>{1, 1, 2}));
  // With a rate it never reaches, the writer commits each event alone.
  options.gather_from_rate = 1e9;
  EXPECT_EQ(commits_of_two_then_two(options), (std::vector<size_t>{1, 1, 1, 1}));
}

TEST(GroupCommitWriter, StoppingCommitsAGatheringQueueAtOnce) {
  RecordingEventStore store;
  GroupCommitWriter writer(store, SystemClock::instance(), WriterOptions{.gather_burst = 60s},
                           nullptr, nullptr);
  writer.start();
  auto answer = submit_one(writer, "waiting");
  std::this_thread::sleep_for(20ms);
  const auto started = std::chrono::steady_clock::now();
  writer.stop();
  EXPECT_LT(std::chrono::steady_clock::now() - started, 10s);
  ASSERT_EQ(answer.wait_for(0s), std::future_status::ready);
  EXPECT_TRUE(answer.get());
  EXPECT_EQ(store.sizes(), std::vector<size_t>{1});
}

}  // namespace
}  // namespace insightd::ingest
