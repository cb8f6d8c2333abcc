// libFuzzer target: any bytes as one event's JSON text. The validator must never
// crash, and whatever it accepts must satisfy the limits it promises; the
// plain reader, when it answers, must answer exactly as the tree does.
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string_view>

#include "core/event_validation.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const insightd::Timestamp now = insightd::from_unix_ms(1'790'000'000'000);
  const insightd::EventVerdict verdict = insightd::validate_event_text(text, now);
  if (verdict) {
    const insightd::NewEvent& e = verdict.event();
    if (e.event_type.empty() || e.event_id.empty() || e.metadata_json.empty() ||
        e.metadata_json.size() > insightd::kMaxMetadataBytes || e.received_at != now) {
      std::abort();
    }
  } else if (verdict.rejection().code.empty() || verdict.rejection().message.empty()) {
    std::abort();
  }
  const std::optional<insightd::EventVerdict> plain =
      insightd::validate_plain_event_text(text, now);
  if (!plain) return 0;
  if (plain->is_ok() != verdict.is_ok()) std::abort();
  if (!verdict) {
    const auto& a = plain->rejection();
    const auto& b = verdict.rejection();
    if (a.event_id != b.event_id || a.code != b.code || a.message != b.message) std::abort();
    return 0;
  }
  const insightd::NewEvent& a = plain->event();
  const insightd::NewEvent& b = verdict.event();
  // A fresh id ("evt_…", made when the event has none) differs between two
  // calls; an id the client gave must be kept by both.
  const boost::json::value parsed = boost::json::parse(text);
  const boost::json::value* given = parsed.as_object().if_contains("eventId");
  const bool fresh = (given == nullptr || given->is_null()) && b.event_id.starts_with("evt_") &&
                     a.event_id.starts_with("evt_");
  if ((!fresh && a.event_id != b.event_id) || a.event_type != b.event_type ||
      a.user_id != b.user_id || a.session_id != b.session_id || a.timestamp != b.timestamp ||
      a.received_at != b.received_at || a.clock_skew_ms != b.clock_skew_ms ||
      a.metadata_json != b.metadata_json) {
    std::abort();
  }
  return 0;
}
