// The Socket.IO front door: `user:event` (one event) and `user:events` (an
// array) on the default namespace. Once the events are committed the client gets
// `event:ack` {eventId, status: "ok" | "duplicate", batchId, receivedAt} per
// event — and its ack callback, when it passed one, with the same object (an
// array of them for `user:events`). A rejected or unstored event gets
// `event:error` {eventId, code, message}. With write keys configured, a client
// joins only with auth {writeKey}.
//
// Backpressure: once kPauseReadingAt events of one connection wait for their
// commit, insightd stops reading that connection (its bytes wait in the kernel,
// then in the client) until no more than kResumeReadingAt wait. Nothing is
// refused for it and nothing more is buffered.
#pragma once

#include <cstddef>

#include "ingest/ingest_service.h"
#include "socketio/socketio_server.h"

namespace insightd::ingest {

inline constexpr size_t kPauseReadingAt = 2'000;
inline constexpr size_t kResumeReadingAt = 1'000;

// Registers the default namespace on `io`. `service` must outlive `io`.
void attach_socketio_ingest(socketio::SocketIoServer& io, IngestService& service);

}  // namespace insightd::ingest
