// Helpers for the pipeline's tests: an analyzer whose answers the test sets
// (and can hold back), a job store that tells the test whenever a worker
// used it (so a test waits for the state it expects instead of polling or
// sleeping), and sealed batches made in one call.
#pragma once

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "analysis/analyzer.h"
#include "store/store.h"

namespace insightd::pipeline::testing {

// An analyzer that succeeds or fails as told, counts its calls, and can hold
// every call at a gate until the test opens it.
class FakeAnalyzer final : public analysis::Analyzer {
 public:
  std::string_view name() const override { return "openai"; }

  analysis::AnalysisResult analyze(std::span<const NewEvent> events,
                                   std::span<const analysis::MetricSnapshot>) override {
    ++calls_;
    {
      std::unique_lock lock(mu_);
      ++waiting_;
      cv_.notify_all();
      cv_.wait(lock, [this] { return !gated_; });
      --waiting_;
    }
    std::lock_guard lock(mu_);
    if (fail_) return *fail_;
    analysis::Insight insight;
    insight.content.summary = fmt::format("{} events", events.size());
    insight.content.confidence = 0.5;
    insight.analyzer = "openai";
    insight.metrics = boost::json::object{{"event_count", events.size()}};
    return insight;
  }

  void succeed() {
    std::lock_guard lock(mu_);
    fail_.reset();
  }
  void fail(analysis::AnalysisErrorKind kind, bool retryable, std::string message) {
    std::lock_guard lock(mu_);
    fail_ =
        analysis::AnalysisError{kind, retryable, std::nullopt, std::nullopt, std::move(message)};
  }
  void close_gate() {
    std::lock_guard lock(mu_);
    gated_ = true;
  }
  void open_gate() {
    {
      std::lock_guard lock(mu_);
      gated_ = false;
    }
    cv_.notify_all();
  }
  // Waits until `n` calls are held at the gate.
  bool wait_held(int n, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return waiting_ >= n; });
  }
  int calls() const { return calls_.load(); }

 private:
  std::atomic<int> calls_{0};
  std::mutex mu_;
  std::condition_variable cv_;
  bool gated_ = false;
  int waiting_ = 0;
  std::optional<analysis::AnalysisError> fail_;
};

// Job store calls seen by the WatchedJobStores that share it: a test waits
// here for what workers write.
class StoreCalls {
 public:
  // Waits until `pred` holds, checking it at once and again after every call
  // through a watched store (a claim, a heartbeat, an outcome: whatever could
  // have made it true). `timeout` is real time, a safety net for a hung test;
  // a test that passes never reaches it.
  bool wait_until(const std::function<bool()>& pred,
                  std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    const auto give_up = std::chrono::steady_clock::now() + timeout;
    std::unique_lock lock(mu_);
    for (;;) {
      const uint64_t seen = calls_;
      lock.unlock();
      if (pred()) return true;
      lock.lock();
      if (!cv_.wait_until(lock, give_up, [&] { return calls_ != seen; })) {
        lock.unlock();
        return pred();
      }
    }
  }
  // How many times `method` ("complete_many", "release", ...) has returned.
  int count(const std::string& method) {
    std::lock_guard lock(mu_);
    return by_method_[method];
  }
  void record(const char* method) {
    {
      std::lock_guard lock(mu_);
      ++calls_;
      ++by_method_[method];
    }
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  uint64_t calls_ = 0;
  std::map<std::string, int> by_method_;
};

// A JobStore that forwards every call to a real one and, once it returned,
// records it in `calls`.
class WatchedJobStore final : public store::JobStore {
 public:
  WatchedJobStore(store::JobStore& inner, StoreCalls& calls) : inner_(inner), calls_(calls) {}

  Result<std::optional<Job>> get(std::string_view job_id) override {
    return seen("get", inner_.get(job_id));
  }
  Result<std::vector<Job>> list(std::optional<JobStatus> status, size_t limit) override {
    return seen("list", inner_.list(status, limit));
  }
  Result<std::map<JobStatus, int64_t>> count_by_status() override {
    return seen("count_by_status", inner_.count_by_status());
  }
  Result<std::optional<Timestamp>> oldest_pending_created_at() override {
    return seen("oldest_pending_created_at", inner_.oldest_pending_created_at());
  }
  Result<Job> create(std::string_view batch_id, JobTrigger trigger,
                     const store::BatchPolicy& policy, Timestamp now) override {
    return seen("create", inner_.create(batch_id, trigger, policy, now));
  }
  Result<std::optional<Job>> claim(std::string_view owner, Millis lease, Timestamp now) override {
    return seen("claim", inner_.claim(owner, lease, now));
  }
  Result<std::vector<Job>> claim_many(std::string_view owner, Millis lease, size_t max,
                                      Timestamp now) override {
    return seen("claim_many", inner_.claim_many(owner, lease, max, now));
  }
  Status heartbeat(std::string_view job_id, std::string_view token, Millis lease,
                   Timestamp now) override {
    return seen("heartbeat", inner_.heartbeat(job_id, token, lease, now));
  }
  Result<store::Insight> complete(std::string_view job_id, std::string_view token,
                                  const store::NewInsight& insight, Timestamp now) override {
    return seen("complete", inner_.complete(job_id, token, insight, now));
  }
  Result<std::vector<Result<store::Insight>>> complete_many(
      std::span<const store::Completion> items, Timestamp now) override {
    return seen("complete_many", inner_.complete_many(items, now));
  }
  Result<store::FailOutcome> fail(std::string_view job_id, std::string_view token,
                                  std::string_view error, Timestamp retry_at,
                                  Timestamp now) override {
    return seen("fail", inner_.fail(job_id, token, error, retry_at, now));
  }
  Status release(std::string_view job_id, std::string_view token, std::string_view reason,
                 Timestamp run_after, Timestamp now) override {
    return seen("release", inner_.release(job_id, token, reason, run_after, now));
  }
  Result<std::optional<Timestamp>> next_run_after() override {
    return seen("next_run_after", inner_.next_run_after());
  }
  Result<std::vector<store::RecoveredJob>> recover_expired(Timestamp stuck_before,
                                                           Timestamp now) override {
    return seen("recover_expired", inner_.recover_expired(stuck_before, now));
  }

 private:
  template <class T>
  T seen(const char* method, T result) {
    calls_.record(method);
    return result;
  }

  store::JobStore& inner_;
  StoreCalls& calls_;
};

// Appends `n` events as one full batch, which seals with its PENDING job.
inline store::SealedBatch seal_batch(store::Store& store, const std::string& prefix, int n,
                                     Timestamp now, int64_t max_attempts = 5) {
  std::vector<NewEvent> events;
  for (int i = 0; i < n; ++i) {
    NewEvent e;
    e.event_id = fmt::format("{}-{}", prefix, i);
    e.event_type = i % 3 == 0 ? "page_view" : "click";
    e.user_id = fmt::format("user_{}", i % 4);
    e.session_id = fmt::format("session_{}", i % 5);
    e.timestamp = e.received_at = now;
    events.push_back(std::move(e));
  }
  auto out = store.events().append(events, store::BatchPolicy{n, max_attempts}, now);
  EXPECT_TRUE(out.is_ok()) << (out ? "" : out.error().message);
  if (!out || out->sealed.size() != 1) {
    ADD_FAILURE() << "the batch did not seal";
    return {};
  }
  return out->sealed.front();
}

inline Job job_of(store::Store& store, const std::string& job_id) {
  auto j = store.jobs().get(job_id);
  EXPECT_TRUE(j.is_ok() && j->has_value()) << job_id;
  return j && *j ? **j : Job{};
}

}  // namespace insightd::pipeline::testing
