#include "ingest/socketio_ingest.h"

#include <fmt/format.h>

#include <boost/json.hpp>
#include <functional>
#include <memory>
#include <span>
#include <utility>

#include "core/event_validation.h"

namespace insightd::ingest {
namespace {

using socketio::Ack;
using socketio::Payload;
using socketio::Socket;

// event:ack or event:error for one outcome; returns the object sent.
boost::json::object answer(const Socket& socket, const EventOutcome& o) {
  const bool stored = o.status == EventStatus::kOk || o.status == EventStatus::kDuplicate;
  boost::json::object body;
  body["eventId"] = o.event_id;
  if (stored) {
    body["status"] = to_string(o.status);
    body["batchId"] = o.batch_id;
    if (o.received_at) body["receivedAt"] = format_timestamp(*o.received_at);
  } else {
    body["code"] = o.code;
    body["message"] = o.message;
    // Unstored for a reason that passes (overload, database down): say so.
    if (o.status == EventStatus::kUnavailable) body["retryable"] = true;
    if (o.retry_after) body["retryAfterMs"] = o.retry_after->count();
  }
  socket.emit(stored ? "event:ack" : "event:error", Payload(boost::json::array{body}));
  return body;
}

void reject_payload(const Socket& socket, const Ack& ack, std::string_view message,
                    std::string_view code = event_error::kInvalidEvent) {
  boost::json::object body{{"eventId", ""}, {"code", code}, {"message", message}};
  socket.emit("event:error", Payload(boost::json::array{body}));
  if (ack) ack(Payload(boost::json::array{body}));
}

// The events of one connection that wait for their commit. On the socket's
// strand only.
struct Flow {
  size_t waiting = 0;
  bool paused = false;
};

// Queues `events` and pauses reading the connection while too many wait; `answer`
// runs with their outcomes on the writer thread (or at once, when none was queued).
void ingest_with_backpressure(const Socket& socket, IngestService& service,
                              const std::shared_ptr<Flow>& flow, const std::string& rate_key,
                              std::span<const boost::json::value> events,
                              std::function<void(std::vector<EventOutcome>)> answer) {
  const size_t n = events.size();
  flow->waiting += n;
  if (!flow->paused && flow->waiting >= kPauseReadingAt) {
    flow->paused = true;
    socket.pause_reading(true);
    service.record_reading_paused(true);
  }
  service.ingest(
      events, Transport::kSocketIo,
      [socket, flow, n, &service, answer = std::move(answer)](std::vector<EventOutcome> outcomes) {
        answer(std::move(outcomes));
        // After the answers, which are posted to the same strand.
        socket.dispatch([socket, flow, n, &service] {
          flow->waiting -= n;
          if (flow->paused && flow->waiting <= kResumeReadingAt) {
            flow->paused = false;
            socket.pause_reading(false);
            service.record_reading_paused(false);
          }
        });
      },
      rate_key);
}

}  // namespace

void attach_socketio_ingest(socketio::SocketIoServer& io, IngestService& service) {
  io.on_connection(
      "/",
      [&service](const Socket& socket) {
        auto flow = std::make_shared<Flow>();
        // The write key this connection authenticated with, as the rate limiter knows it.
        const auto* key = socket.auth().if_contains("writeKey");
        const auto rate_key = std::make_shared<const std::string>(service.rate_key(
            key != nullptr && key->is_string() ? std::optional(std::string_view(key->as_string()))
                                               : std::nullopt));
        socket.on_disconnect([flow, &service](std::string_view) {
          // Leaving resumes the transport; the gauge follows.
          if (std::exchange(flow->paused, false)) service.record_reading_paused(false);
        });
        socket.on("user:event", [socket, flow, rate_key, &service](Payload args, const Ack& ack) {
          if (args.values.empty() || !args.values[0].is_object()) {
            service.record_rejected(Transport::kSocketIo, "invalid_event");
            reject_payload(socket, ack, "user:event takes one event object");
            return;
          }
          ingest_with_backpressure(socket, service, flow, *rate_key, std::span(&args.values[0], 1),
                                   [socket, ack](std::vector<EventOutcome> outcomes) {
                                     const boost::json::object body =
                                         answer(socket, outcomes.at(0));
                                     if (ack) ack(Payload(boost::json::array{body}));
                                   });
        });
        socket.on("user:events", [socket, flow, rate_key, &service](Payload args, const Ack& ack) {
          if (args.values.empty() || !args.values[0].is_array() ||
              args.values[0].as_array().empty()) {
            service.record_rejected(Transport::kSocketIo, "invalid_event");
            reject_payload(socket, ack, "user:events takes a non-empty array of events");
            return;
          }
          const boost::json::array& events = args.values[0].as_array();
          if (events.size() > kMaxEventsPerRequest) {
            // One error for the message: answers stay proportional to what was sent.
            service.record_rejected(Transport::kSocketIo, event_error::kTooManyEvents);
            reject_payload(socket, ack,
                           fmt::format("user:events holds {} events; at most {} are taken per "
                                       "message; nothing was stored",
                                       events.size(), kMaxEventsPerRequest),
                           event_error::kTooManyEvents);
            return;
          }
          ingest_with_backpressure(socket, service, flow, *rate_key,
                                   std::span(events.data(), events.size()),
                                   [socket, ack](const std::vector<EventOutcome>& outcomes) {
                                     boost::json::array all;
                                     all.reserve(outcomes.size());
                                     for (const auto& o : outcomes)
                                       all.push_back(answer(socket, o));
                                     if (ack) ack(Payload(boost::json::array{std::move(all)}));
                                   });
        });
      },
      [&service](const boost::json::object& auth) -> std::optional<std::string> {
        if (service.open()) return std::nullopt;
        const auto* key = auth.if_contains("writeKey");
        if (key != nullptr && key->is_string() &&
            service.authorized(std::string_view(key->as_string()))) {
          return std::nullopt;
        }
        return std::string("a valid write key is required (auth: {writeKey})");
      });
}

}  // namespace insightd::ingest
