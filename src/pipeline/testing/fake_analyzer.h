// Test support for the pipeline (and anything that runs jobs): an analyzer
// whose answers the test sets (and can hold back), and sealed batches made in
// one call. To wait for what workers write, run them on a
// store::testing::FaultyStore (store/testing/faulty_store.h).
#pragma once

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "analysis/analyzer.h"
#include "core/testing/builders.h"
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

// Appends `n` events as one full batch, which seals with its PENDING job.
inline store::SealedBatch seal_batch(store::Store& store, const std::string& prefix, int n,
                                     Timestamp now, int64_t max_attempts = 5) {
  std::vector<NewEvent> events;
  events.reserve(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    events.push_back(insightd::testing::EventBuilder(fmt::format("{}-{}", prefix, i))
                         .type(i % 3 == 0 ? "page_view" : "click")
                         .user(fmt::format("user_{}", i % 4))
                         .session(fmt::format("session_{}", i % 5))
                         .at(now)
                         .metadata("{}"));
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
