#include "core/event_json.h"

#include <optional>
#include <string>

#include "core/time.h"

namespace insightd {

namespace {

boost::json::value or_null(const std::optional<std::string>& v) {
  return v ? boost::json::value(*v) : boost::json::value(nullptr);
}

// A stored JSON text as JSON (an unreadable one as null: never fail a listing).
boost::json::value parsed(std::string_view text) {
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(text, ec);
  return ec ? boost::json::value(nullptr) : v;
}

}  // namespace

boost::json::object event_json(const StoredEvent& s) {
  const NewEvent& e = s.event;
  return {{"eventId", e.event_id},
          {"eventType", e.event_type},
          {"userId", or_null(e.user_id)},
          {"sessionId", or_null(e.session_id)},
          {"timestamp", format_timestamp(e.timestamp)},
          {"receivedAt", format_timestamp(e.received_at)},
          {"metadata", parsed(e.metadata_json)},
          {"batchId", s.batch_id}};
}

}  // namespace insightd
