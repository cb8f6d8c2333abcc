// An event as JSON, in the shape `user:event` takes (eventId, eventType,
// userId, sessionId, timestamp, metadata) plus what the server added
// (receivedAt, batchId): the admin API, the live stream and the Kafka event
// stream all speak it.
#pragma once

#include <boost/json.hpp>
#include <string>
#include <string_view>

#include "core/model.h"

namespace insightd {

boost::json::object event_json(const StoredEvent& event);

// The same object as JSON text, written directly (the event stream writes one
// per event): the stored metadata is already serialised JSON and goes in as is.
std::string event_json_text(const StoredEvent& event);

// Appends `text` to `out` as a JSON string: quoted, with '"', '\\' and the
// control characters escaped (UTF-8 passes as is), without building a
// boost::json value first.
void append_json_string(std::string& out, std::string_view text);

}  // namespace insightd
