#include "ingest/group_commit_writer.h"

#include <spdlog/spdlog.h>

#include <optional>

#include "ingest/ingest_metrics.h"

namespace insightd::ingest {

GroupCommitWriter::GroupCommitWriter(store::EventStore& events, const Clock& clock,
                                     WriterOptions options, LiveHub* live, SealListener on_sealed,
                                     IngestMetrics* metrics)
    : events_(events),
      clock_(clock),
      options_(options),
      live_(live),
      on_sealed_(std::move(on_sealed)),
      metrics_(metrics) {}

GroupCommitWriter::~GroupCommitWriter() {
  stop();
}

void GroupCommitWriter::start() {
  std::lock_guard lock(mu_);
  if (thread_.joinable() || stopping_) return;
  accepting_ = true;
  writer_done_ = false;
  answerer_ = std::thread([this] { answer_loop(); });
  thread_ = std::thread([this] { run(); });
}

void GroupCommitWriter::stop() {
  {
    std::lock_guard lock(mu_);
    accepting_ = false;
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  {
    std::lock_guard lock(answer_mu_);
    writer_done_ = true;
  }
  answer_cv_.notify_all();
  if (answerer_.joinable()) answerer_.join();
}

bool GroupCommitWriter::submit(std::vector<NewEvent> events, Done done) {
  if (events.empty()) return false;
  {
    std::lock_guard lock(mu_);
    if (!accepting_ || queued_events_ + events.size() > options_.queue_capacity_events) {
      return false;
    }
    queued_events_ += events.size();
    queue_.push_back({std::move(events), std::move(done)});
  }
  cv_.notify_one();
  return true;
}

size_t GroupCommitWriter::queue_depth() const {
  std::lock_guard lock(mu_);
  return queued_events_;
}

void GroupCommitWriter::run() {
  std::vector<Submission> group;
  while (true) {
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [this] { return !queue_.empty() || stopping_; });
      if (queue_.empty()) return;  // stopping and drained
      // Take whole submissions up to the per-commit limit (always at least one).
      size_t taken = 0;
      while (!queue_.empty() && (taken == 0 || taken + queue_.front().events.size() <=
                                                   options_.max_events_per_commit)) {
        taken += queue_.front().events.size();
        group.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      queued_events_ -= taken;
    }
    Committed done = commit(std::move(group));
    group.clear();
    {
      std::unique_lock lock(answer_mu_);
      answer_cv_.wait(lock, [this] { return unanswered_.size() < kMaxUnanswered; });
      unanswered_.push_back(std::move(done));
    }
    answer_cv_.notify_all();
  }
}

GroupCommitWriter::Committed GroupCommitWriter::commit(std::vector<Submission> group) {
  std::vector<NewEvent> all;
  size_t total = 0;
  for (const auto& s : group) total += s.events.size();
  all.reserve(total);
  for (auto& s : group) {
    for (auto& e : s.events) all.push_back(std::move(e));
  }
  const auto started = std::chrono::steady_clock::now();
  auto outcome = events_.append(all, options_.policy, clock_.now());
  const auto took = std::chrono::steady_clock::now() - started;
  if (metrics_ != nullptr) {
    metrics_->record_commit(outcome ? std::optional(outcome->path) : std::nullopt, took);
  }
  spdlog::debug("[Ingest] Committed {} events from {} submissions in {} us ({})", all.size(),
                group.size(), std::chrono::duration_cast<std::chrono::microseconds>(took).count(),
                outcome ? store::to_string(outcome->path) : "failed");
  return Committed{std::move(group), std::move(all), std::move(outcome)};
}

void GroupCommitWriter::answer_loop() {
  while (true) {
    std::optional<Committed> done;
    {
      std::unique_lock lock(answer_mu_);
      answer_cv_.wait(lock, [this] { return !unanswered_.empty() || writer_done_; });
      if (unanswered_.empty()) return;  // the writer has stopped and all is answered
      done.emplace(std::move(unanswered_.front()));
      unanswered_.pop_front();
    }
    answer_cv_.notify_all();  // room for the writer
    answer(*done);
  }
}

void GroupCommitWriter::answer(Committed& done) {
  auto& group = done.group;
  auto& outcome = done.outcome;
  if (!outcome) {
    spdlog::warn("[Ingest] Commit of {} events failed: {}", done.events.size(),
                 outcome.error().message);
    for (auto& s : group) s.done(outcome.error());
    return;
  }
  // Hand each submitter its slice of the results, in its own order.
  size_t offset = 0;
  for (auto& s : group) {
    const size_t n = s.events.size();
    std::vector<store::AppendResult> mine(
        outcome->results.begin() + static_cast<std::ptrdiff_t>(offset),
        outcome->results.begin() + static_cast<std::ptrdiff_t>(offset + n));
    offset += n;
    s.done(std::move(mine));
  }
  if (!outcome->sealed.empty()) {
    for (const auto& b : outcome->sealed) {
      spdlog::info("[Batch Sealer] Sealed batch {} ({} events, size); created job {}", b.batch_id,
                   b.event_count, b.job_id);
    }
    if (on_sealed_) on_sealed_(outcome->sealed);
  }
  if (live_ != nullptr) {
    std::vector<StoredEvent> fresh;
    fresh.reserve(done.events.size());
    for (size_t i = 0; i < done.events.size(); ++i) {
      const auto& r = outcome->results[i];
      if (!r.duplicate) fresh.push_back({std::move(done.events[i]), r.batch_id});
    }
    live_->publish(fresh);
  }
}

}  // namespace insightd::ingest
