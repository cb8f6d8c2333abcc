#include "lifecycle/import.h"

#include <fmt/format.h>

#include <boost/json.hpp>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "core/event_validation.h"
#include "store/archive_codec.h"

namespace insightd::lifecycle {

namespace {

// Reads one line of at most kMaxImportLine bytes into `line`; a longer one is
// skipped to its end and reported by `too_long`. False at the end of input.
bool read_line(std::istream& in, std::string& line, bool& too_long) {
  line.clear();
  too_long = false;
  std::streambuf* buf = in.rdbuf();
  bool any = false;
  for (;;) {
    const int c = buf->sbumpc();
    if (c == std::char_traits<char>::eof()) return any;
    any = true;
    if (c == '\n') return true;
    if (line.size() < kMaxImportLine) {
      line.push_back(static_cast<char>(c));
    } else {
      too_long = true;
    }
  }
}

// The writer's answers, collected for the reading thread.
struct InFlight {
  std::mutex mu;
  std::condition_variable cv;
  size_t waiting = 0;
  // Each answer with the events it answers (kept for a retry).
  std::deque<std::pair<std::shared_ptr<const std::vector<NewEvent>>,
                       Result<std::vector<store::AppendResult>>>>
      answers;
};

// Live ingestion's validation, with one difference: a line without an eventId
// gets one derived from its text ("import_" and 32 hex digits of its SHA-256),
// where live ingestion would make a new one, so that importing the same file
// again stores such an event once, not twice.
EventVerdict validate_line(const std::string& line, Timestamp now) {
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(line, ec);
  if (!ec && v.is_object() && !v.as_object().contains("eventId")) {
    // archive_checksum: "sha256:" and the digest's hex.
    v.as_object()["eventId"] = "import_" + store::archive_checksum(line).substr(7, 32);
    return validate_event(v, now);
  }
  return validate_event_text(line, now);
}

}  // namespace

Result<ImportSummary> import_events(std::istream& in, ingest::GroupCommitWriter& writer,
                                    const Clock& clock, const ImportOptions& options,
                                    const std::function<void(const RejectedLine&)>& rejected,
                                    const std::function<void(int64_t)>& progress) {
  ImportSummary summary;
  InFlight flight;
  std::vector<NewEvent> pending;

  // Hands `events` to the writer, retrying while it says "later" (a full queue).
  auto submit = [&](const std::shared_ptr<const std::vector<NewEvent>>& events) -> Status {
    for (int attempt = 0;; ++attempt) {
      {
        std::lock_guard lock(flight.mu);
        ++flight.waiting;
      }
      const bool queued =
          writer.submit(*events, [&flight, events](Result<std::vector<store::AppendResult>> r) {
            std::lock_guard lock(flight.mu);
            flight.answers.emplace_back(events, std::move(r));
            --flight.waiting;
            flight.cv.notify_all();
          });
      if (queued) return Status::ok();
      {
        std::lock_guard lock(flight.mu);
        --flight.waiting;
      }
      if (attempt >= 100) return Error{ErrorCode::kUnavailable, "the writer's queue stays full"};
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  };
  // Takes the answers in; waits while more than `max_waiting` submissions are out.
  auto settle = [&](size_t max_waiting) -> Status {
    std::unique_lock lock(flight.mu);
    for (;;) {
      while (!flight.answers.empty()) {
        auto [events, answer] = std::move(flight.answers.front());
        flight.answers.pop_front();
        if (!answer && is_retryable(answer.code())) {
          // A commit that timed out or a database that blinked: the same events
          // again (their eventIds make it harmless).
          lock.unlock();
          std::this_thread::sleep_for(std::chrono::milliseconds(200));
          if (Status st = submit(events); !st) return st;
          lock.lock();
          continue;
        }
        if (!answer) return answer.error();
        for (const store::AppendResult& r : *answer) {
          if (r.duplicate) {
            ++summary.duplicates;
          } else {
            ++summary.accepted;
          }
        }
      }
      if (flight.waiting <= max_waiting) return Status::ok();
      flight.cv.wait(lock);
    }
  };

  std::string line;
  bool too_long = false;
  int64_t number = 0;
  while (read_line(in, line, too_long)) {
    ++number;
    if (!too_long && line.find_first_not_of(" \t\r") == std::string::npos) continue;
    ++summary.lines;
    if (too_long) {
      ++summary.rejected;
      rejected({.line = number,
                .code = "line_too_long",
                .reason = fmt::format("longer than {} bytes", kMaxImportLine),
                .event_id = "",
                .text = ""});
    } else {
      EventVerdict verdict = validate_line(line, clock.now());
      if (verdict) {
        pending.push_back(std::move(verdict).event());
      } else {
        const EventRejection& why = verdict.rejection();
        ++summary.rejected;
        rejected({.line = number,
                  .code = why.code,
                  .reason = why.message,
                  .event_id = why.event_id,
                  .text = line});
      }
    }
    if (pending.size() >= options.events_per_submission) {
      if (Status st = submit(std::make_shared<const std::vector<NewEvent>>(std::move(pending)));
          !st) {
        return st.error();
      }
      pending.clear();
      if (Status st = settle(options.submissions_in_flight); !st) return st.error();
      if (progress) progress(summary.lines);
    }
  }
  if (!pending.empty()) {
    if (Status st = submit(std::make_shared<const std::vector<NewEvent>>(std::move(pending)));
        !st) {
      return st.error();
    }
  }
  if (Status st = settle(0); !st) return st.error();
  if (progress) progress(summary.lines);
  return summary;
}

}  // namespace insightd::lifecycle
