// Validation of one incoming event (SPEC §4 "Rules"): the client's JSON in, either a
// NewEvent ready to store or a rejection to send back (Socket.IO `event:error`, a
// per-event HTTP result). Pure: no I/O, and the only time it reads is the receive
// time it is given. Thread-safe.
#pragma once

#include <boost/json/fwd.hpp>
#include <cassert>
#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

#include "core/model.h"
#include "core/time.h"

namespace insightd {

// Limits. Lengths of text fields count Unicode characters (code points); sizes
// count bytes of compact JSON as Boost.JSON serialises it. 32 KB per event is
// what Segment's SDKs expect.
inline constexpr size_t kMaxEventTypeLength = 100;
inline constexpr size_t kMaxEventIdLength = 128;
inline constexpr size_t kMaxUserIdLength = 200;
inline constexpr size_t kMaxSessionIdLength = 200;
inline constexpr size_t kMaxMetadataBytes = size_t{32} * 1024;
inline constexpr size_t kMaxEventBytes = size_t{32} * 1024;
// Levels of objects and arrays in metadata, counting the metadata object itself:
// {} is 1 deep, {"a":[{}]} is 3 deep.
inline constexpr int kMaxMetadataDepth = 16;
// Events in one HTTP request or one user:events message (what SDKs expect), so an
// answer stays proportional to its request.
inline constexpr size_t kMaxEventsPerRequest = 1'000;
// A client clock further ahead than this is recorded in NewEvent::clock_skew_ms.
inline constexpr Millis kMaxFutureSkew = std::chrono::minutes(5);

// Rejection codes, sent to clients as they are.
namespace event_error {
inline constexpr std::string_view kInvalidJson = "invalid_json";
inline constexpr std::string_view kInvalidEvent = "invalid_event";
inline constexpr std::string_view kInvalidEventType = "invalid_event_type";
inline constexpr std::string_view kInvalidEventId = "invalid_event_id";
inline constexpr std::string_view kInvalidUserId = "invalid_user_id";
inline constexpr std::string_view kInvalidSessionId = "invalid_session_id";
inline constexpr std::string_view kInvalidTimestamp = "invalid_timestamp";
inline constexpr std::string_view kInvalidMetadata = "invalid_metadata";
inline constexpr std::string_view kMetadataTooLarge = "metadata_too_large";
inline constexpr std::string_view kMetadataTooDeep = "metadata_too_deep";
inline constexpr std::string_view kEventTooLarge = "event_too_large";
// Passed validation but the database refused it (isolated in the group commit).
inline constexpr std::string_view kNotStorable = "not_storable";
// More events in one request or message than kMaxEventsPerRequest.
inline constexpr std::string_view kTooManyEvents = "too_many_events";
}  // namespace event_error

// Why an event was refused, in the shape of the `event:error` payload.
struct EventRejection {
  std::string event_id;  // the eventId exactly as sent; empty when absent or not a string
  std::string code;      // one of event_error::k*
  std::string message;   // for people: what is wrong and what is allowed
};

// The outcome of validating one event: the event to store, or why it was refused.
class [[nodiscard]] EventVerdict {
 public:
  EventVerdict(NewEvent event) : v_(std::move(event)) {}  // NOLINT: implicit by design
  EventVerdict(EventRejection rejection)
      : v_(std::move(rejection)) {}  // NOLINT: implicit by design

  bool is_ok() const { return v_.index() == 0; }
  explicit operator bool() const { return is_ok(); }

  const NewEvent& event() const& {
    assert(is_ok());
    return std::get<0>(v_);
  }
  NewEvent&& event() && {
    assert(is_ok());
    return std::get<0>(std::move(v_));
  }
  const EventRejection& rejection() const {
    assert(!is_ok());
    return std::get<1>(v_);
  }

 private:
  std::variant<NewEvent, EventRejection> v_;
};

// Checks one event as the client sent it ({eventId, eventType, userId, sessionId,
// timestamp, sentAt, metadata}; other fields are ignored) and fills a NewEvent:
// - eventId absent or null: a fresh "evt_…" id made at `received_at`;
// - userId / sessionId absent, null or "": nullopt;
// - timestamp absent or null: `received_at`; with sentAt as well, corrected for the
//   client's clock: received_at − (sentAt − timestamp);
// - a timestamp more than kMaxFutureSkew after `received_at` is kept, and the
//   difference recorded in clock_skew_ms;
// - metadata absent or null: "{}", else the object serialised.
// Only the first broken rule is reported, checked in this order: an object,
// eventId, eventType, userId, sessionId, timestamp, sentAt, metadata, whole size.
EventVerdict validate_event(const boost::json::value& event, Timestamp received_at);

// Parses `json` (one event as text) and validates it; text that is not JSON, or
// nests deeper than 64 levels, is refused as invalid_json.
EventVerdict validate_event_text(std::string_view json, Timestamp received_at);

// The verdict validate_event_text would give, for the plainest events only,
// found without building a tree: one JSON object written compactly (no
// whitespace), in printable ASCII without escapes, with no member twice and
// none but those the rules read (eventId, eventType, userId, sessionId,
// timestamp, sentAt, metadata), each a string or null, metadata null or a flat
// object of strings, integers (no fraction or exponent, no leading zero, not
// -0, at most 18 digits), true, false and null with distinct keys, all in at
// most kMaxEventBytes. What bench/ingest/loadgen.mjs and most SDKs send is.
// nullopt for any other text, valid or not: the caller parses it as usual.
std::optional<EventVerdict> validate_plain_event_text(std::string_view json, Timestamp received_at);

}  // namespace insightd
