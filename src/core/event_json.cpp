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

std::string event_json_text(const StoredEvent& s) {
  const NewEvent& e = s.event;
  auto quoted = [](const std::optional<std::string>& v) {
    return v ? boost::json::serialize(boost::json::string_view(*v)) : std::string("null");
  };
  std::string out;
  out.reserve(160 + e.metadata_json.size());
  out += R"({"eventId":)";
  out += boost::json::serialize(boost::json::string_view(e.event_id));
  out += R"(,"eventType":)";
  out += boost::json::serialize(boost::json::string_view(e.event_type));
  out += R"(,"userId":)";
  out += quoted(e.user_id);
  out += R"(,"sessionId":)";
  out += quoted(e.session_id);
  out += R"(,"timestamp":")";
  out += format_timestamp(e.timestamp);
  out += R"(","receivedAt":")";
  out += format_timestamp(e.received_at);
  out += R"(","metadata":)";
  out += e.metadata_json.empty() ? std::string("{}") : e.metadata_json;
  out += R"(,"batchId":)";
  out += boost::json::serialize(boost::json::string_view(s.batch_id));
  out += '}';
  return out;
}

}  // namespace insightd
