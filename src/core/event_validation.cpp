#include "core/event_validation.h"

#include <date/date.h>
#include <fmt/format.h>

#include <boost/json/monotonic_resource.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serializer.hpp>
#include <boost/json/value.hpp>
#include <cmath>
#include <optional>
#include <vector>

#include "core/ids.h"
#include "core/plain_ascii.h"

namespace insightd {
namespace {

namespace json = boost::json;

// Deep enough to let metadata_too_deep name the real problem for anything a
// client plausibly sends, shallow enough to bound the work on hostile input.
constexpr size_t kMaxParseDepth = 64;

std::string_view view(const json::string& s) {
  return {s.data(), s.size()};
}

EventRejection reject(std::string_view event_id, std::string_view code, std::string message) {
  return EventRejection{std::string(event_id), std::string(code), std::move(message)};
}

// Counts the Unicode characters of UTF-8 text; nullopt when the text is not valid
// UTF-8 or holds a control character (C0, DEL or C1). Stops early past `max_chars`.
std::optional<size_t> count_clean_chars(std::string_view s, size_t max_chars) {
  // One character a byte; no further than one past the most wanted.
  size_t i = plain_ascii_prefix(s.substr(0, max_chars + 1));
  size_t chars = i;
  if (chars > max_chars) return chars;
  while (i < s.size()) {
    if (++chars > max_chars) return chars;
    const auto b0 = static_cast<unsigned char>(s[i]);
    if (b0 < 0x80) {
      if (b0 < 0x20 || b0 == 0x7F) return std::nullopt;
      ++i;
      continue;
    }
    size_t len;
    unsigned char lo = 0x80;  // the range of the second byte, tighter for some leads
    unsigned char hi = 0xBF;
    if (b0 >= 0xC2 && b0 <= 0xDF) {
      len = 2;
    } else if (b0 >= 0xE0 && b0 <= 0xEF) {
      len = 3;
      if (b0 == 0xE0) lo = 0xA0;  // overlong
      if (b0 == 0xED) hi = 0x9F;  // surrogates
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
      len = 4;
      if (b0 == 0xF0) lo = 0x90;  // overlong
      if (b0 == 0xF4) hi = 0x8F;  // above U+10FFFF
    } else {
      return std::nullopt;
    }
    if (i + len > s.size()) return std::nullopt;
    const auto b1 = static_cast<unsigned char>(s[i + 1]);
    if (b1 < lo || b1 > hi) return std::nullopt;
    for (size_t k = 2; k < len; ++k) {
      const auto b = static_cast<unsigned char>(s[i + k]);
      if (b < 0x80 || b > 0xBF) return std::nullopt;
    }
    if (b0 == 0xC2 && b1 <= 0x9F) return std::nullopt;  // C1 controls U+0080..U+009F
    i += len;
  }
  return chars;
}

bool is_event_type_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == ':' || c == '.' || c == '-';
}

bool is_valid_event_type(std::string_view s) {
  if (s.empty() || s.size() > kMaxEventTypeLength) return false;
  for (const char c : s) {
    if (!is_event_type_char(c)) return false;
  }
  return true;
}

// Whether `v` nests at most `levels` objects/arrays deep, counting itself. The
// recursion stops at the limit, so it is bounded whatever the input.
bool within_depth(const json::value& v, int levels) {
  if (v.is_object()) {
    if (levels <= 0) return false;
    for (const auto& member : v.get_object()) {
      if (!within_depth(member.value(), levels - 1)) return false;
    }
  } else if (v.is_array()) {
    if (levels <= 0) return false;
    for (const auto& element : v.get_array()) {
      if (!within_depth(element, levels - 1)) return false;
    }
  }
  return true;
}

// Whether every string (keys included) is free of NUL and every number is finite:
// PostgreSQL's jsonb refuses "\u0000", and an infinite double (from 1e400) has
// no JSON form. Iterative, so hostile nesting costs no stack.
bool storable_everywhere(const json::value& root) {
  std::vector<const json::value*> todo{&root};
  auto clean = [](std::string_view s) { return s.find('\0') == std::string_view::npos; };
  while (!todo.empty()) {
    const json::value* v = todo.back();
    todo.pop_back();
    switch (v->kind()) {
      case json::kind::object:
        for (const auto& member : v->get_object()) {
          if (!clean(member.key())) return false;
          todo.push_back(&member.value());
        }
        break;
      case json::kind::array:
        for (const auto& element : v->get_array()) todo.push_back(&element);
        break;
      case json::kind::string:
        if (!clean(view(v->get_string()))) return false;
        break;
      case json::kind::double_:
        if (!std::isfinite(v->get_double())) return false;
        break;
      default:
        break;
    }
  }
  return true;
}

// Serialises `v` as compact JSON into `out` (when given), unless that takes more
// than `limit` bytes; stops as soon as it does, so oversized input costs little.
bool serialize_within(const json::value& v, size_t limit, std::string* out) {
  json::serializer sr;
  sr.reset(&v);
  char buf[4096];
  size_t total = 0;
  while (!sr.done()) {
    const auto chunk = sr.read(buf, sizeof buf);
    total += chunk.size();
    if (total > limit) return false;
    if (out != nullptr) out->append(chunk.data(), chunk.size());
  }
  return true;
}

// At least the compact JSON size of a scalar: a string escapes each byte into
// at most six (\u00XX) between its quotes, a number takes at most 32
// characters; nullopt for an object or an array.
std::optional<size_t> scalar_size_bound(const json::value& v) {
  switch (v.kind()) {
    case json::kind::string:
      return 6 * v.get_string().size() + 2;
    case json::kind::object:
    case json::kind::array:
      return std::nullopt;
    default:
      return 32;
  }
}

// Whether the event takes at most kMaxEventBytes as compact JSON, its metadata
// taking `metadata_size`. A bound settles it for events whose other members are
// scalars (all of them, in practice), without serialising the whole event again;
// otherwise it is serialised.
bool event_within_limit(const json::value& event, size_t metadata_size) {
  size_t bound = 2;  // the braces
  for (const auto& member : event.get_object()) {
    bound += 6 * member.key().size() + 4;  // the key, its quotes, ':' and ','
    if (member.key() == "metadata" && !member.value().is_null()) {
      bound += metadata_size;
      continue;
    }
    const std::optional<size_t> size = scalar_size_bound(member.value());
    if (!size) return serialize_within(event, kMaxEventBytes, nullptr);
    bound += *size;
    if (bound > kMaxEventBytes) break;
  }
  return bound <= kMaxEventBytes || serialize_within(event, kMaxEventBytes, nullptr);
}

// One member of an event as the rules see it, whichever parser found it.
struct Field {
  enum class Kind { kAbsent, kNull, kString, kOther };
  Kind kind = Kind::kAbsent;
  std::string_view text;  // the string, for kString

  bool given() const { return kind != Kind::kAbsent && kind != Kind::kNull; }
  bool is_string() const { return kind == Kind::kString; }
};

// The members the rules read, other than metadata.
struct Fields {
  Field event_id;
  Field event_type;
  Field user_id;
  Field session_id;
  Field timestamp;
  Field sent_at;
};

Field field_of(const json::object& obj, std::string_view key) {
  const json::value* v = obj.if_contains(key);
  if (v == nullptr) return {};
  if (v->is_null()) return {Field::Kind::kNull, {}};
  if (v->is_string()) return {Field::Kind::kString, view(v->get_string())};
  return {Field::Kind::kOther, {}};
}

// An optional id-like string field: nullopt (absent, null or ""), the text, or a
// rejection when it is not a clean string of at most `max_chars`.
struct OptionalText {
  std::optional<std::string> text;
  bool ok = true;
};

OptionalText read_optional_text(const Field& f, size_t max_chars) {
  if (!f.given()) return {};
  if (!f.is_string()) return {std::nullopt, false};
  const auto chars = count_clean_chars(f.text, max_chars);
  if (!chars || *chars > max_chars) return {std::nullopt, false};
  if (f.text.empty()) return {};
  return {std::string(f.text), true};
}

std::string rfc3339_message(std::string_view field) {
  return fmt::format("{} must be an RFC 3339 date-time string such as \"2026-11-29T04:49:05.123Z\"",
                     field);
}

// What every store accepts and reads back: years 0001 to 9999 in UTC.
// PostgreSQL's timestamptz has no year 0 (it would read back as "1 BC"), and
// format_timestamp writes four digits of year.
bool is_representable(Timestamp t) {
  constexpr auto kFirst = date::sys_days(date::year{1} / 1 / 1);
  constexpr auto kAfterLast = date::sys_days(date::year{10000} / 1 / 1);
  return t >= kFirst && t < kAfterLast;
}

// What the rules made of the members other than metadata.
struct Checked {
  std::optional<std::string> user_id;
  std::optional<std::string> session_id;
  std::optional<Timestamp> timestamp;  // corrected by sentAt when both were given
};

// The id a rejection echoes: the eventId exactly as sent, or "" when it is no string.
std::string_view given_id(const Fields& f) {
  return f.event_id.is_string() ? f.event_id.text : std::string_view{};
}

// The rules for every member but metadata, in their order: eventId, eventType,
// userId, sessionId, timestamp, sentAt. Fills `out` when they hold.
std::optional<EventRejection> check_fields(const Fields& f, Timestamp received_at, Checked& out) {
  // eventId first, so that every later rejection can name the event.
  const std::string_view id = given_id(f);
  if (f.event_id.given()) {
    const auto chars =
        f.event_id.is_string() ? count_clean_chars(id, kMaxEventIdLength) : std::nullopt;
    if (!chars || *chars < 1 || *chars > kMaxEventIdLength) {
      // Echoed as given, but no longer than the longest valid id can be: a
      // megabyte of id is not sent back twice (event:error and the ack).
      std::string_view echo = id;
      if (echo.size() > kMaxEventIdLength * 4) {
        size_t cut = kMaxEventIdLength * 4;
        while (cut > 0 && (static_cast<unsigned char>(echo[cut]) & 0xC0) == 0x80) --cut;
        echo = echo.substr(0, cut);  // on a character boundary: still UTF-8
      }
      return reject(echo, event_error::kInvalidEventId,
                    fmt::format("eventId must be a string of 1-{} characters without control "
                                "characters",
                                kMaxEventIdLength));
    }
  }

  if (!f.event_type.is_string() || !is_valid_event_type(f.event_type.text)) {
    return reject(id, event_error::kInvalidEventType,
                  fmt::format("eventType {} 1-{} characters of letters, digits, '_', ':', '.', '-'",
                              f.event_type.kind == Field::Kind::kAbsent ? "is required and must be"
                                                                        : "must be",
                              kMaxEventTypeLength));
  }

  OptionalText user_id = read_optional_text(f.user_id, kMaxUserIdLength);
  if (!user_id.ok) {
    return reject(id, event_error::kInvalidUserId,
                  fmt::format("userId must be a string of at most {} characters without control "
                              "characters",
                              kMaxUserIdLength));
  }
  OptionalText session_id = read_optional_text(f.session_id, kMaxSessionIdLength);
  if (!session_id.ok) {
    return reject(id, event_error::kInvalidSessionId,
                  fmt::format("sessionId must be a string of at most {} characters without "
                              "control characters",
                              kMaxSessionIdLength));
  }

  std::optional<Timestamp> timestamp;
  if (f.timestamp.given()) {
    if (f.timestamp.is_string()) timestamp = parse_rfc3339(f.timestamp.text);
    if (!timestamp) return reject(id, event_error::kInvalidTimestamp, rfc3339_message("timestamp"));
    if (!is_representable(*timestamp)) {
      return reject(id, event_error::kInvalidTimestamp,
                    "timestamp must fall in the years 0001-9999 once its offset is applied");
    }
  }
  std::optional<Timestamp> sent_at;
  if (f.sent_at.given()) {
    if (f.sent_at.is_string()) sent_at = parse_rfc3339(f.sent_at.text);
    if (!sent_at) return reject(id, event_error::kInvalidTimestamp, rfc3339_message("sentAt"));
    if (!is_representable(*sent_at)) {
      return reject(id, event_error::kInvalidTimestamp,
                    "sentAt must fall in the years 0001-9999 once its offset is applied");
    }
  }
  // Segment's and RudderStack's correction: the client's clock is off by
  // (sentAt − receivedAt), so shift its timestamp by the same amount.
  if (timestamp && sent_at) {
    *timestamp = received_at - (*sent_at - *timestamp);
    if (!is_representable(*timestamp)) {
      return reject(id, event_error::kInvalidTimestamp,
                    "timestamp corrected by sentAt falls outside the years 0001-9999");
    }
  }
  out.user_id = std::move(user_id.text);
  out.session_id = std::move(session_id.text);
  out.timestamp = timestamp;
  return std::nullopt;
}

// The event to store, once every rule held.
NewEvent finish(const Fields& f, Checked&& checked, std::string metadata_json,
                Timestamp received_at) {
  NewEvent out;
  // Made only for events that pass, at the injected receive time so ids sort with it.
  out.event_id = f.event_id.given() ? std::string(f.event_id.text) : new_id("evt", received_at);
  out.event_type = std::string(f.event_type.text);
  out.user_id = std::move(checked.user_id);
  out.session_id = std::move(checked.session_id);
  out.received_at = received_at;
  out.timestamp = checked.timestamp.value_or(received_at);
  if (out.timestamp - received_at > kMaxFutureSkew) {
    out.clock_skew_ms = (out.timestamp - received_at).count();
  }
  out.metadata_json = std::move(metadata_json);
  return out;
}

}  // namespace

EventVerdict validate_event(const json::value& event, Timestamp received_at) {
  if (!event.is_object()) {
    return reject("", event_error::kInvalidEvent, "an event must be a JSON object");
  }
  const json::object& obj = event.get_object();
  const Fields fields{field_of(obj, "eventId"),   field_of(obj, "eventType"),
                      field_of(obj, "userId"),    field_of(obj, "sessionId"),
                      field_of(obj, "timestamp"), field_of(obj, "sentAt")};
  Checked checked;
  if (auto rejection = check_fields(fields, received_at, checked)) return std::move(*rejection);
  const std::string_view id = given_id(fields);

  std::string metadata_json = "{}";
  if (const json::value* v = obj.if_contains("metadata"); v != nullptr && !v->is_null()) {
    if (!v->is_object()) {
      return reject(id, event_error::kInvalidMetadata, "metadata must be a JSON object");
    }
    if (!within_depth(*v, kMaxMetadataDepth)) {
      return reject(id, event_error::kMetadataTooDeep,
                    fmt::format("metadata must nest objects and arrays at most {} levels deep",
                                kMaxMetadataDepth));
    }
    if (!storable_everywhere(*v)) {
      return reject(id, event_error::kInvalidMetadata,
                    "metadata strings and keys must not contain NUL (\\u0000) and numbers must "
                    "be finite");
    }
    metadata_json.clear();
    if (!serialize_within(*v, kMaxMetadataBytes, &metadata_json)) {
      return reject(id, event_error::kMetadataTooLarge,
                    fmt::format("metadata must be at most {} bytes as JSON ({} KB)",
                                kMaxMetadataBytes, kMaxMetadataBytes / 1024));
    }
  }

  if (!event_within_limit(event, metadata_json.size())) {
    return reject(id, event_error::kEventTooLarge,
                  fmt::format("an event must be at most {} bytes as JSON ({} KB)", kMaxEventBytes,
                              kMaxEventBytes / 1024));
  }
  return finish(fields, std::move(checked), std::move(metadata_json), received_at);
}

namespace {

// A reader of the plainest JSON (see validate_plain_event_text): it gives up
// (returns false) at anything else, so that the tree parser decides.
class PlainReader {
 public:
  explicit PlainReader(std::string_view text) : s_(text) {}

  bool at_end() const { return i_ == s_.size(); }
  bool take(char c) {
    if (i_ >= s_.size() || s_[i_] != c) return false;
    ++i_;
    return true;
  }
  bool peek(char c) const { return i_ < s_.size() && s_[i_] == c; }
  size_t pos() const { return i_; }

  // A string of printable ASCII without escapes; `out` is its text.
  bool string(std::string_view& out) {
    if (!take('"')) return false;
    const size_t start = i_;
    i_ += plain_ascii_prefix(s_.substr(i_));
    if (!peek('"')) return false;  // an escape, a byte outside printable ASCII, or the end
    out = s_.substr(start, i_ - start);
    ++i_;
    return true;
  }

  bool literal(std::string_view word) {
    if (s_.substr(i_, word.size()) != word) return false;
    i_ += word.size();
    return true;
  }

  // An integer as Boost.JSON writes it back unchanged: no fraction or
  // exponent, no leading zero, not -0, at most 18 digits (an int64).
  bool integer() {
    const size_t start = i_;
    take('-');
    const size_t digits = i_;
    while (i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9') ++i_;
    const size_t n = i_ - digits;
    if (n == 0 || n > 18) return false;
    if (s_[digits] == '0' && (n > 1 || digits > start)) return false;
    return !(peek('.') || peek('e') || peek('E'));
  }

  // A value of a flat metadata object.
  bool scalar() {
    std::string_view ignored;
    if (peek('"')) return string(ignored);
    if (peek('t')) return literal("true");
    if (peek('f')) return literal("false");
    if (peek('n')) return literal("null");
    return integer();
  }

 private:
  std::string_view s_;
  size_t i_ = 0;
};

// Metadata as a flat object of plain members with distinct keys, returned as
// its text (which is how Boost.JSON writes it back); nullopt otherwise.
constexpr size_t kMaxPlainMetadataMembers = 64;

bool plain_metadata(PlainReader& r, std::string_view whole, std::string_view& text) {
  const size_t start = r.pos();
  if (!r.take('{')) return false;
  std::string_view keys[kMaxPlainMetadataMembers];
  size_t n = 0;
  if (!r.take('}')) {
    do {
      std::string_view key;
      if (n == kMaxPlainMetadataMembers || !r.string(key) || !r.take(':') || !r.scalar()) {
        return false;
      }
      for (size_t k = 0; k < n; ++k) {
        if (keys[k] == key) return false;  // the tree keeps the last: let it decide
      }
      keys[n++] = key;
    } while (r.take(','));
    if (!r.take('}')) return false;
  }
  text = whole.substr(start, r.pos() - start);
  return true;
}

}  // namespace

std::optional<EventVerdict> validate_plain_event_text(std::string_view text,
                                                      Timestamp received_at) {
  // Within the limit as text, within it as Boost.JSON writes it: plain text
  // is written back no longer than it came.
  if (text.size() > kMaxEventBytes) return std::nullopt;
  PlainReader r(text);
  Fields fields;
  Field metadata;
  std::string_view metadata_text;
  if (!r.take('{')) return std::nullopt;
  if (!r.take('}')) {
    do {
      std::string_view key;
      if (!r.string(key) || !r.take(':')) return std::nullopt;
      Field* f = nullptr;
      if (key == "eventId") {
        f = &fields.event_id;
      } else if (key == "eventType") {
        f = &fields.event_type;
      } else if (key == "userId") {
        f = &fields.user_id;
      } else if (key == "sessionId") {
        f = &fields.session_id;
      } else if (key == "timestamp") {
        f = &fields.timestamp;
      } else if (key == "sentAt") {
        f = &fields.sent_at;
      } else if (key == "metadata") {
        f = &metadata;
      } else {
        return std::nullopt;  // a member the rules ignore still counts in the size
      }
      if (f->kind != Field::Kind::kAbsent) return std::nullopt;  // a duplicate member
      if (r.literal("null")) {
        f->kind = Field::Kind::kNull;
      } else if (f == &metadata) {
        if (!plain_metadata(r, text, metadata_text)) return std::nullopt;
        f->kind = Field::Kind::kOther;
      } else {
        if (!r.string(f->text)) return std::nullopt;
        f->kind = Field::Kind::kString;
      }
    } while (r.take(','));
    if (!r.take('}')) return std::nullopt;
  }
  if (!r.at_end()) return std::nullopt;

  Checked checked;
  if (auto rejection = check_fields(fields, received_at, checked)) {
    return EventVerdict(std::move(*rejection));
  }
  std::string metadata_json = metadata.given() ? std::string(metadata_text) : std::string("{}");
  return EventVerdict(finish(fields, std::move(checked), std::move(metadata_json), received_at));
}

EventVerdict validate_event_text(std::string_view text, Timestamp received_at) {
  // The parsed value only lives until its fields are copied out: one arena, freed at once.
  unsigned char initial[4096];
  json::monotonic_resource arena(initial, sizeof initial);
  json::parse_options options;
  options.max_depth = kMaxParseDepth;
  json::error_code ec;
  const json::value event =
      json::parse(json::string_view(text.data(), text.size()), ec, &arena, options);
  if (ec) {
    return reject("", event_error::kInvalidJson,
                  fmt::format("an event must be valid JSON: {}", ec.message()));
  }
  return validate_event(event, received_at);
}

}  // namespace insightd
