#include "lifecycle/export.h"

#include <fmt/format.h>

#include <algorithm>
#include <boost/json.hpp>
#include <vector>

namespace insightd::lifecycle {

namespace {

constexpr size_t kBatchesPerPage = 500;
constexpr size_t kMaxEventsPerBatch = 1'000'000'000;

// RFC 4180: a field with a comma, a quote or a line break is quoted, its
// quotes doubled.
std::string csv_field(std::string_view v) {
  if (v.find_first_of(",\"\r\n") == std::string_view::npos) return std::string(v);
  std::string out = "\"";
  for (const char c : v) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
  return out;
}

std::string quoted(const std::optional<std::string>& v) {
  return v ? boost::json::serialize(boost::json::string_view(*v)) : std::string("null");
}

}  // namespace

std::string csv_header() {
  return "eventId,eventType,userId,sessionId,timestamp,receivedAt,metadata";
}

std::string export_line(const StoredEvent& s, ExportOptions::Format format) {
  const NewEvent& e = s.event;
  const std::string metadata = e.metadata_json.empty() ? std::string("{}") : e.metadata_json;
  if (format == ExportOptions::Format::kCsv) {
    return fmt::format("{},{},{},{},{},{},{}", csv_field(e.event_id), csv_field(e.event_type),
                       csv_field(e.user_id.value_or("")), csv_field(e.session_id.value_or("")),
                       format_timestamp(e.timestamp), format_timestamp(e.received_at),
                       csv_field(metadata));
  }
  return fmt::format(
      R"({{"eventId":{},"eventType":{},"userId":{},"sessionId":{},"timestamp":"{}","receivedAt":"{}","metadata":{}}})",
      quoted(e.event_id), quoted(e.event_type), quoted(e.user_id), quoted(e.session_id),
      format_timestamp(e.timestamp), format_timestamp(e.received_at), metadata);
}

Result<ExportSummary> export_events(store::Store& store, const ExportOptions& options,
                                    std::ostream& out,
                                    const std::function<void(int64_t)>& progress) {
  // Unbounded: the years every stored time falls in (validation's range).
  const Timestamp from =
      options.from.value_or(Timestamp(std::chrono::sys_days{std::chrono::year{1} / 1 / 1}));
  const Timestamp to =
      options.to.value_or(Timestamp(std::chrono::sys_days{std::chrono::year{9999} / 12 / 31}));
  ExportSummary summary;
  if (options.format == ExportOptions::Format::kCsv) out << csv_header() << '\n';
  std::string after;
  for (;;) {
    auto page = store.archive().batches_between(from, to, after, kBatchesPerPage);
    if (!page) return page.error();
    if (page->empty()) break;
    for (const Batch& b : *page) {
      after = b.batch_id;
      Result<std::vector<StoredEvent>> events =
          b.status == BatchStatus::kArchived
              ? store.archive().events(b.batch_id)
              : store.events().batch_events(b.batch_id, kMaxEventsPerBatch);
      if (!events && events.code() == ErrorCode::kNotFound) {
        // Restored (or archived) between the listing and the read: read it the other way.
        events = b.status == BatchStatus::kArchived
                     ? store.events().batch_events(b.batch_id, kMaxEventsPerBatch)
                     : store.archive().events(b.batch_id);
      }
      if (!events) {
        return Error{events.error().code,
                     fmt::format("batch {}: {}", b.batch_id, events.error().message)};
      }
      std::stable_sort(events->begin(), events->end(),
                       [](const StoredEvent& x, const StoredEvent& y) {
                         return x.event.received_at < y.event.received_at;
                       });
      ++summary.batches;
      if (b.status == BatchStatus::kArchived) ++summary.archived_batches;
      for (const StoredEvent& e : *events) {
        if (e.event.received_at < from || e.event.received_at >= to) continue;
        if (options.type && e.event.event_type != *options.type) continue;
        out << export_line(e, options.format) << '\n';
        ++summary.events;
      }
      if (!out) return Error{ErrorCode::kUnavailable, "cannot write the output"};
      if (progress) progress(summary.events);
    }
  }
  out.flush();
  if (!out) return Error{ErrorCode::kUnavailable, "cannot write the output"};
  return summary;
}

}  // namespace insightd::lifecycle
