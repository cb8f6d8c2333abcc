#include "ingest/socketio_ingest.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/json.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <utility>
#include <vector>

#include "core/event_json.h"
#include "core/event_validation.h"

namespace insightd::ingest {
namespace {

using socketio::Ack;
using socketio::Payload;
using socketio::Socket;

// event:ack or event:error for one outcome; returns the object sent, as JSON
// text (written directly: this runs for every event), for the ack to carry too.
Payload answer(const Socket& socket, const EventOutcome& o) {
  const bool stored = o.status == EventStatus::kOk || o.status == EventStatus::kDuplicate;
  std::string body;
  body.reserve(160);
  body = R"({"eventId":)";
  append_json_string(body, o.event_id);
  if (stored) {
    body += R"(,"status":")";
    body += to_string(o.status);
    body += R"(","batchId":)";
    append_json_string(body, o.batch_id);
    if (o.received_at) {
      body += R"(,"receivedAt":")";
      append_timestamp(body, *o.received_at);
      body += '"';
    }
  } else {
    body += R"(,"code":)";
    append_json_string(body, o.code);
    body += R"(,"message":)";
    append_json_string(body, o.message);
    // Unstored for a reason that passes (overload, database down): say so.
    if (o.status == EventStatus::kUnavailable) body += R"(,"retryable":true)";
    if (o.retry_after) body += fmt::format(R"(,"retryAfterMs":{})", o.retry_after->count());
  }
  body += '}';
  Payload sent = Payload::of_json_text(std::move(body));
  socket.emit(stored ? "event:ack" : "event:error", sent);
  return sent;
}

void reject_payload(const Socket& socket, const Ack& ack, std::string_view message,
                    std::string_view code = event_error::kInvalidEvent) {
  boost::json::object body{{"eventId", ""}, {"code", code}, {"message", message}};
  socket.emit("event:error", Payload(boost::json::array{body}));
  if (ack) ack(Payload(boost::json::array{body}));
}

// Answers to send to a connection, with what they answer.
struct Answered {
  std::vector<EventOutcome> outcomes;
  std::function<void(std::vector<EventOutcome>)> respond;
  size_t events = 0;
};

// One connection's ingestion state.
struct Flow {
  // On the socket's strand only: the events that wait for their commit.
  size_t waiting = 0;
  bool paused = false;
  // On the strand: the user:event events of the read being handled and their
  // acks, handed over together after its last message (one submission, one
  // commit callback and one hand-over of answers for all of them), each still
  // rate-limited, refused and answered as if it had come alone.
  std::vector<EventVerdict> gathered;
  std::vector<Ack> gathered_acks;
  std::chrono::steady_clock::time_point gathered_since;  // the first one's hand-over
  size_t last_gathered = 0;                              // how many the last read brought
  // Filled by the writer's answering thread, emptied on the strand: a commit
  // holding many of this connection's events hands them over once, and their
  // answers leave in one write.
  std::mutex mu;
  std::vector<Answered> answered;
  bool delivery_posted = false;
};

// On the strand: resumes reading the connection if it was paused and few
// enough of its events wait.
void resume_if_drained(Flow& flow, IngestService& service, const Socket& socket) {
  if (flow.paused && flow.waiting <= kResumeReadingAt) {
    flow.paused = false;
    socket.pause_reading(false);
    service.record_reading_paused(false);
  }
}

// On the strand: sends every answer waiting, then resumes reading if it was
// paused and few enough events wait.
void deliver(Flow& flow, IngestService& service, const Socket& socket) {
  std::vector<Answered> ready;
  {
    std::lock_guard lock(flow.mu);
    ready.swap(flow.answered);
    flow.delivery_posted = false;
  }
  for (Answered& a : ready) {
    flow.waiting -= a.events;
    // One answer that fails to go out (it threw) must not take the others
    // with it, nor leave the connection counted as waiting.
    try {
      if (a.respond) a.respond(std::move(a.outcomes));
    } catch (const std::exception& e) {
      spdlog::error("[Ingest] Answering a Socket.IO submission threw: {}", e.what());
    }
  }
  resume_if_drained(flow, service, socket);
}

// Counts `n` more events of the connection as waiting for their commit, and
// pauses reading it while too many wait.
void count_waiting(const Socket& socket, IngestService& service, Flow& flow, size_t n) {
  flow.waiting += n;
  if (!flow.paused && flow.waiting >= kPauseReadingAt) {
    flow.paused = true;
    socket.pause_reading(true);
    service.record_reading_paused(true);
  }
}

// Queues `n` events already counted as waiting (`submit` hands them to the
// service with the callback given to it); `respond` runs with their outcomes
// on the socket's strand once committed (or at once, when none was queued).
template <typename Submit>
void ingest_counted(const Socket& socket, IngestService& service, const std::shared_ptr<Flow>& flow,
                    size_t n, Submit&& submit,
                    std::function<void(std::vector<EventOutcome>)> respond) {
  submit([socket, flow, n, &service,
          respond = std::move(respond)](std::vector<EventOutcome> outcomes) mutable {
    bool post = false;
    {
      std::lock_guard lock(flow->mu);
      flow->answered.push_back({std::move(outcomes), std::move(respond), n});
      post = !std::exchange(flow->delivery_posted, true);
    }
    if (post) {
      socket.batch([socket, flow, &service] { deliver(*flow, service, socket); });
    }
  });
}

// On the strand, after the read that brought them: hands the gathered
// user:event events over as one submission, and answers each (event:ack or
// event:error, then its ack) once committed.
void hand_over_gathered(const Socket& socket, IngestService& service,
                        const std::shared_ptr<Flow>& flow, const std::string& rate_key) {
  std::vector<EventVerdict> verdicts = std::exchange(flow->gathered, {});
  std::vector<Ack> acks = std::exchange(flow->gathered_acks, {});
  if (verdicts.empty()) return;
  const size_t n = verdicts.size();
  flow->last_gathered = n;
  try {
    ingest_counted(
        socket, service, flow, n,
        [&](IngestService::Done done) {
          service.ingest_verdicts(verdicts, Transport::kSocketIo, std::move(done), rate_key,
                                  flow->gathered_since, /*independent=*/true);
        },
        [socket, acks = std::move(acks)](std::vector<EventOutcome> outcomes) {
          for (size_t i = 0; i < outcomes.size() && i < acks.size(); ++i) {
            const Payload sent = answer(socket, outcomes[i]);
            if (acks[i]) acks[i](sent);
          }
        });
  } catch (const std::exception& e) {
    // Nothing was queued (the writer takes a submission last): the client
    // hears nothing and sends them again; the connection reads on.
    spdlog::error("[Ingest] Handing over {} Socket.IO events threw: {}", n, e.what());
    flow->waiting -= n;
    resume_if_drained(*flow, service, socket);
  }
}

// One user:event, validated: joins the events of the read being handled.
void gather(const Socket& socket, IngestService& service, const std::shared_ptr<Flow>& flow,
            const std::shared_ptr<const std::string>& rate_key, EventVerdict verdict,
            const Ack& ack, std::chrono::steady_clock::time_point handed_over) {
  if (flow->gathered.empty()) {
    // Room for as many as the last read brought, within reason: a client
    // that once sent a megabyte POST must not make every read reserve for it.
    flow->gathered.reserve(std::clamp<size_t>(flow->last_gathered, 8, 64));
    flow->gathered_acks.reserve(flow->gathered.capacity());
    flow->gathered_since = handed_over;
    socket.defer([socket, flow, rate_key, &service] {
      hand_over_gathered(socket, service, flow, *rate_key);
    });
  }
  flow->gathered.push_back(std::move(verdict));
  flow->gathered_acks.push_back(ack);
  count_waiting(socket, service, *flow, 1);
  // A long-polling POST delivers up to a megabyte of packets in one go: no
  // submission gets larger than one request may be.
  if (flow->gathered.size() >= kMaxEventsPerRequest) {
    hand_over_gathered(socket, service, flow, *rate_key);
  }
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
        // Most events are plain JSON, read straight into a row; the rest are
        // parsed into a tree first, with the same rules and answers.
        socket.on_text("user:event", [socket, flow, rate_key, &service](std::string_view args,
                                                                        const Ack& ack) {
          const auto handed_over = std::chrono::steady_clock::now();
          std::optional<EventVerdict> verdict = validate_plain_event_text(args, service.now());
          if (!verdict) return false;
          gather(socket, service, flow, rate_key, std::move(*verdict), ack, handed_over);
          return true;
        });
        socket.on("user:event", [socket, flow, rate_key, &service](Payload args, const Ack& ack) {
          if (args.values.empty() || !args.values[0].is_object()) {
            service.record_rejected(Transport::kSocketIo, "invalid_event");
            reject_payload(socket, ack, "user:event takes one event object");
            return;
          }
          const auto handed_over = std::chrono::steady_clock::now();
          gather(socket, service, flow, rate_key, validate_event(args.values[0], service.now()),
                 ack, handed_over);
        });
        socket.on("user:events", [socket, flow, rate_key, &service](Payload args, const Ack& ack) {
          // The user:event events before it in this read go first, in order.
          hand_over_gathered(socket, service, flow, *rate_key);
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
          count_waiting(socket, service, *flow, events.size());
          ingest_counted(
              socket, service, flow, events.size(),
              [&](IngestService::Done done) {
                service.ingest(std::span(events.data(), events.size()), Transport::kSocketIo,
                               std::move(done), *rate_key);
              },
              [socket, ack](const std::vector<EventOutcome>& outcomes) {
                std::string all = "[";
                for (const auto& o : outcomes) {
                  if (all.size() > 1) all += ',';
                  all += answer(socket, o).json_text;
                }
                all += ']';
                if (ack) ack(Payload::of_json_text(std::move(all)));
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
