// An event as JSON, in the shape `user:event` takes (eventId, eventType,
// userId, sessionId, timestamp, metadata) plus what the server added
// (receivedAt, batchId): the admin API, the live stream and the Kafka event
// stream all speak it.
#pragma once

#include <boost/json.hpp>

#include "core/model.h"

namespace insightd {

boost::json::object event_json(const StoredEvent& event);

}  // namespace insightd
