#include "ingest/group_commit_writer.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <optional>

#include "core/arrival_rate.h"
#include "core/thread_name.h"
#include "ingest/ingest_metrics.h"

namespace insightd::ingest {
namespace {

// Events taken per second are measured over windows this long: one commit's
// count is too bursty to tell a busy writer from a burst.
constexpr std::chrono::milliseconds kRateWindow{20};

}  // namespace

GroupCommitWriter::GroupCommitWriter(store::EventAppender& events, const Clock& clock,
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
  answerer_ = start_named_thread("ingest-answer", [this] { answer_loop(); });
  thread_ = start_named_thread("ingest-commit", [this] { run(); });
  watchdog_ = start_named_thread("ingest-watchdog", [this] { watchdog_loop(); });
}

void GroupCommitWriter::stop() {
  {
    std::lock_guard lock(mu_);
    accepting_ = false;
    stopping_ = true;
  }
  cv_.notify_all();
  watchdog_cv_.notify_all();
  if (watchdog_.joinable()) watchdog_.join();
  if (thread_.joinable()) thread_.join();
  {
    std::lock_guard lock(answer_mu_);
    writer_done_ = true;
  }
  answer_cv_.notify_all();
  if (answerer_.joinable()) answerer_.join();
}

bool GroupCommitWriter::stopped() const {
  std::lock_guard lock(mu_);
  return stopping_;
}

bool GroupCommitWriter::submit(std::vector<NewEvent> events, Done done, bool independent) {
  if (events.empty()) return false;
  size_t bytes = 0;
  for (const auto& e : events) bytes += queued_size(e);
  bool wake = false;
  {
    std::lock_guard lock(mu_);
    if (!accepting_ || queued_events_ + events.size() > options_.queue_capacity_events ||
        queued_bytes_ + bytes > options_.queue_capacity_bytes) {
      return false;
    }
    queued_events_ += events.size();
    queued_bytes_ += bytes;
    queue_.push_back(
        {std::move(events), std::move(done), std::chrono::steady_clock::now(), bytes, independent});
    // A gathering writer wakes on its own: waking it for every submission
    // would cost a wake-up each.
    wake = !writer_gathering_ || queued_events_ >= options_.gather_enough;
  }
  if (wake) cv_.notify_one();
  return true;
}

size_t GroupCommitWriter::queue_depth() const {
  std::lock_guard lock(mu_);
  return queued_events_;
}

size_t GroupCommitWriter::queue_bytes() const {
  std::lock_guard lock(mu_);
  return queued_bytes_;
}

size_t GroupCommitWriter::queued_size(const NewEvent& e) {
  constexpr size_t kOverhead = sizeof(NewEvent) + 64;  // the strings' own allocations, roughly
  return kOverhead + e.event_id.size() + e.event_type.size() + (e.user_id ? e.user_id->size() : 0) +
         (e.session_id ? e.session_id->size() : 0) + e.metadata_json.size();
}

Millis GroupCommitWriter::commit_running_for() const {
  std::lock_guard lock(inflight_mu_);
  if (inflight_ == nullptr) return Millis(0);
  return std::chrono::duration_cast<Millis>(std::chrono::steady_clock::now() - inflight_since_);
}

void GroupCommitWriter::watchdog_loop() {
  const Error late = make_error(ErrorCode::kUnavailable,
                                fmt::format("no commit within {} ms: the database is not answering",
                                            options_.commit_timeout.count()));
  std::unique_lock lock(mu_);
  while (!stopping_) {
    watchdog_cv_.wait_for(lock, std::chrono::milliseconds(100));
    if (stopping_) return;
    const auto now = std::chrono::steady_clock::now();
    const auto too_old = now - options_.commit_timeout;
    std::vector<Submission> expired;
    while (!queue_.empty() && queue_.front().queued_at < too_old) {
      queued_events_ -= queue_.front().events.size();
      queued_bytes_ -= queue_.front().bytes;
      expired.push_back(std::move(queue_.front()));
      queue_.pop_front();
    }
    lock.unlock();
    size_t told = expired.size();
    {
      std::lock_guard inflight(inflight_mu_);
      if (inflight_ != nullptr && !inflight_answered_ && inflight_since_ < too_old) {
        inflight_answered_ = true;
        for (auto& sub : *inflight_) sub.done(late);
        told += inflight_->size();
      }
    }
    for (auto& sub : expired) sub.done(late);
    if (told > 0) {
      if (auto left_out = late_log_.admit()) {
        spdlog::warn("[Ingest] No commit within {} ms: told {} waiting submission(s) to retry{}",
                     options_.commit_timeout.count(), told, late_log_.suffix(*left_out));
      }
    }
    lock.lock();
  }
}

void GroupCommitWriter::run() {
  std::vector<Submission> group;
  ArrivalRate arrivals(kRateWindow);
  std::chrono::steady_clock::time_point last_start;
  while (true) {
    size_t taken = 0;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [this] { return !queue_.empty() || stopping_; });
      if (queue_.empty()) return;  // stopping and drained
      // The rest of a burst arrives just after its first event: a commit of
      // that one alone would make the others wait for two.
      auto until = queue_.front().queued_at + options_.gather_burst;
      if (arrivals.rate() >= options_.gather_from_rate) {
        until = std::max(until, last_start + options_.gather_interval);
      }
      if (!stopping_ && queued_events_ < options_.gather_enough &&
          std::chrono::steady_clock::now() < until) {
        writer_gathering_ = true;
        cv_.wait_until(lock, until,
                       [this] { return stopping_ || queued_events_ >= options_.gather_enough; });
        writer_gathering_ = false;
      }
      // Take whole submissions up to the per-commit limit (always at least one).
      while (!queue_.empty() && (taken == 0 || taken + queue_.front().events.size() <=
                                                   options_.max_events_per_commit)) {
        taken += queue_.front().events.size();
        queued_bytes_ -= queue_.front().bytes;
        group.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      queued_events_ -= taken;
    }
    last_start = std::chrono::steady_clock::now();
    arrivals.add(taken, last_start);
    Committed done;
    done.group = std::move(group);
    group.clear();
    {
      std::lock_guard inflight(inflight_mu_);
      inflight_ = &done.group;
      inflight_since_ = std::chrono::steady_clock::now();
      inflight_answered_ = false;
    }
    commit(done);
    {
      std::lock_guard inflight(inflight_mu_);
      inflight_ = nullptr;
      done.answered_early = inflight_answered_;
    }
    {
      std::unique_lock lock(answer_mu_);
      answer_cv_.wait(lock, [this] { return unanswered_.size() < kMaxUnanswered; });
      unanswered_.push_back(std::move(done));
    }
    answer_cv_.notify_all();
  }
}

Result<store::AppendOutcome> GroupCommitWriter::append(std::span<const NewEvent> events) {
  const auto started = std::chrono::steady_clock::now();
  Result<store::AppendOutcome> outcome = make_error(ErrorCode::kInternal, "not run");
  try {
    outcome = events_.append(events, options_.policy, clock_.now());
  } catch (const std::exception& e) {
    // A bug or an unreadable row: fail this commit, never the writer thread.
    outcome = make_error(ErrorCode::kInternal, std::string("append threw: ") + e.what());
  }
  const auto took = std::chrono::steady_clock::now() - started;
  if (metrics_ != nullptr) {
    metrics_->record_commit(outcome ? std::optional(outcome->path) : std::nullopt, took);
  }
  spdlog::debug("[Ingest] Committed {} events in {} us ({})", events.size(),
                std::chrono::duration_cast<std::chrono::microseconds>(took).count(),
                outcome ? store::to_string(outcome->path) : "failed");
  return outcome;
}

void GroupCommitWriter::commit(Committed& c) {
  size_t total = 0;
  for (const auto& s : c.group) total += s.events.size();
  c.events.reserve(total);
  std::vector<size_t> offsets;  // offsets[i]: first event of submission i; offsets[n] = total
  offsets.reserve(c.group.size() + 1);
  for (auto& s : c.group) {
    offsets.push_back(c.events.size());
    for (auto& e : s.events) c.events.push_back(std::move(e));
  }
  offsets.push_back(c.events.size());
  auto outcome = append(c.events);
  commit_isolating(c, offsets, 0, c.group.size(), std::move(outcome));
}

void GroupCommitWriter::commit_isolating(Committed& c, const std::vector<size_t>& offsets,
                                         size_t first, size_t count,
                                         Result<store::AppendOutcome> tried) {
  const size_t from = offsets[first];
  const size_t to = offsets[first + count];
  const bool data_refused = !tried && !is_retryable(tried.code());
  if (data_refused && count == 1 && c.group[first].independent && to - from > 1) {
    tried = append_each(c, std::span<const NewEvent>(c.events).subspan(from, to - from),
                        std::move(tried));
  }
  if (!data_refused || count == 1) {
    c.pieces.push_back(Piece{first, count, from, to - from, std::move(tried)});
    return;
  }
  // Nothing of the failed commit was stored: retry each half on its own.
  const size_t half = count / 2;
  const std::span<const NewEvent> all(c.events);
  auto left = append(all.subspan(from, offsets[first + half] - from));
  commit_isolating(c, offsets, first, half, std::move(left));
  auto right = append(all.subspan(offsets[first + half], to - offsets[first + half]));
  commit_isolating(c, offsets, first + half, count - half, std::move(right));
}

Result<store::AppendOutcome> GroupCommitWriter::append_each(Committed& c,
                                                            std::span<const NewEvent> events,
                                                            Result<store::AppendOutcome> tried) {
  if (tried || is_retryable(tried.code())) return tried;
  if (events.size() == 1) {
    spdlog::warn("[Ingest] The database refused event {}: {}", events[0].event_id,
                 tried.error().message);
    store::AppendOutcome alone;
    alone.results.push_back({.event_id = events[0].event_id, .refused = true});
    return alone;
  }
  const size_t half = events.size() / 2;
  auto left = append_each(c, events.first(half), append(events.first(half)));
  // Retryable: the submitter sends them all again, and what was stored comes
  // back as duplicates.
  if (!left) return left;
  auto right = append_each(c, events.subspan(half), append(events.subspan(half)));
  if (!right) {
    for (auto& b : left->sealed) c.stray_sealed.push_back(std::move(b));
    return right;
  }
  for (auto& r : right->results) left->results.push_back(std::move(r));
  for (auto& b : right->sealed) left->sealed.push_back(std::move(b));
  return left;
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
  for (Piece& piece : done.pieces) {
    try {
      answer_piece(done, piece);
    } catch (const std::exception& e) {
      // A callback that throws is a bug; it must not take the answering thread down.
      spdlog::error("[Ingest] Answering a commit threw: {}", e.what());
    }
  }
  if (!done.stray_sealed.empty()) announce_sealed(done.stray_sealed);
}

void GroupCommitWriter::announce_sealed(const std::vector<store::SealedBatch>& sealed) {
  for (const auto& b : sealed) {
    spdlog::info("[Batch Sealer] Sealed batch {} ({} events, size); created job {}", b.batch_id,
                 b.event_count, b.job_id);
  }
  if (on_sealed_) on_sealed_(sealed);
}

void GroupCommitWriter::answer_piece(Committed& done, Piece& piece) {
  auto& outcome = piece.outcome;
  if (!outcome) {
    if (is_retryable(outcome.code())) {
      if (auto left_out = failure_log_.admit()) {
        spdlog::warn("[Ingest] Commit of {} events failed: {}{}", piece.event_count,
                     outcome.error().message, failure_log_.suffix(*left_out));
      }
    } else {
      spdlog::warn("[Ingest] The database refused {} events of one submission: {}",
                   piece.event_count, outcome.error().message);
    }
    if (done.answered_early) return;
    for (size_t i = piece.first; i < piece.first + piece.count; ++i) {
      done.group[i].done(outcome.error());
    }
    return;
  }
  // The live view's copy first, while the results are whole, and only when
  // someone watches.
  std::vector<StoredEvent> fresh;
  if (live_ != nullptr && live_->wanted()) {
    fresh.reserve(piece.event_count);
    for (size_t i = 0; i < piece.event_count; ++i) {
      const auto& r = outcome->results[i];
      if (!r.duplicate && !r.refused)
        fresh.push_back({std::move(done.events[piece.first_event + i]), r.batch_id});
    }
  }
  // Hand each submitter its slice of the results, in its own order (unless the
  // watchdog already told them to retry: what was stored stays, and comes back
  // as "duplicate" when they do).
  size_t offset = 0;
  for (size_t i = piece.first; i < piece.first + piece.count && !done.answered_early; ++i) {
    auto& s = done.group[i];
    const size_t n = s.events.size();
    const auto from = outcome->results.begin() + static_cast<std::ptrdiff_t>(offset);
    std::vector<store::AppendResult> mine(
        std::make_move_iterator(from),
        std::make_move_iterator(from + static_cast<std::ptrdiff_t>(n)));
    offset += n;
    s.done(std::move(mine));
  }
  if (!outcome->sealed.empty()) announce_sealed(outcome->sealed);
  if (live_ != nullptr && !fresh.empty()) live_->publish(fresh);
}

}  // namespace insightd::ingest
