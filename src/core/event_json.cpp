#include "core/event_json.h"

#include <optional>
#include <string>

#include "core/plain_ascii.h"
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

void append_json_string(std::string& out, std::string_view text) {
  out += '"';
  size_t clean = 0;  // start of the run not yet appended
  // Ids and names are plain ASCII: most text goes in with one append.
  for (size_t i = plain_ascii_prefix(text); i < text.size(); ++i) {
    const auto ch = static_cast<unsigned char>(text[i]);
    if (ch >= 0x20 && ch != '"' && ch != '\\') continue;
    out.append(text, clean, i - clean);
    clean = i + 1;
    switch (ch) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default: {
        constexpr std::string_view kHex = "0123456789abcdef";
        out += "\\u00";
        out += kHex[ch >> 4];
        out += kHex[ch & 0xF];
      }
    }
  }
  out.append(text, clean, text.size() - clean);
  out += '"';
}

std::string event_json_text(const StoredEvent& s) {
  const NewEvent& e = s.event;
  auto optional = [](std::string& out, const std::optional<std::string>& v) {
    if (v) {
      append_json_string(out, *v);
    } else {
      out += "null";
    }
  };
  std::string out;
  out.reserve(160 + e.metadata_json.size());
  out += R"({"eventId":)";
  append_json_string(out, e.event_id);
  out += R"(,"eventType":)";
  append_json_string(out, e.event_type);
  out += R"(,"userId":)";
  optional(out, e.user_id);
  out += R"(,"sessionId":)";
  optional(out, e.session_id);
  out += R"(,"timestamp":")";
  out += format_timestamp(e.timestamp);
  out += R"(","receivedAt":")";
  out += format_timestamp(e.received_at);
  out += R"(","metadata":)";
  out += e.metadata_json.empty() ? std::string("{}") : e.metadata_json;
  out += R"(,"batchId":)";
  append_json_string(out, s.batch_id);
  out += '}';
  return out;
}

}  // namespace insightd
