// One Engine.IO v4 session, whatever carries it: HTTP long-polling, a WebSocket,
// or polling upgraded to a WebSocket. The state machine of the protocol lives
// here — handshake, heartbeat, poll and post rules, the upgrade (probe, noop
// answers to waiting polls until the client says "upgrade", then the buffered
// packets over the WebSocket) — and meets the network only through the small
// HttpReply and WsChannel interfaces, so tests drive it without sockets.
//
// Threads: everything but sid() and context() runs on the session's context.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/time.h"
#include "socketio/engineio_packet.h"
#include "socketio/runtime.h"

namespace insightd::socketio {

struct EngineOptions {
  Millis ping_interval{25'000};
  Millis ping_timeout{20'000};
  // The most bytes of one WebSocket message or one POST body; told to the client,
  // which packs its polling payloads up to it.
  size_t max_payload = 1'000'000;
  // A probe WebSocket that has not completed the upgrade by then is closed.
  Millis upgrade_timeout{10'000};
  // While an upgrade completes, a waiting poll is answered with noop at least this
  // often, so the client can finish pausing polling.
  Millis noop_interval{100};
  bool allow_polling = true;
  bool allow_websocket = true;
  // Per session, packets waiting to be sent; beyond either bound the client is too
  // slow to read and the session closes rather than buffering without bound.
  size_t max_queued_packets = 20'000;
  // Twice the largest payload: a full user:events answer fits, a peer that stops
  // reading costs at most this (plus the connection's control frames).
  size_t max_queued_bytes = size_t{2} * 1024 * 1024;
  // While this many packets or bytes wait to be sent, the client is slow to take
  // its answers: reading from it is held (as hold_reading()) until they have gone.
  // Then at most these, the answers to one full post (up to 1 MB of the smallest
  // events: some 12,000 packets, 1.3 MB) and those to the events still waiting
  // for their commit are queued, so an honest client never meets the bounds above.
  size_t hold_reading_at_packets = 1'000;
  size_t hold_reading_at_bytes = size_t{256} * 1024;
  size_t max_sessions = 100'000;  // beyond it new handshakes get 503
};

enum class Transport { kPolling, kWebSocket };

// An HTTP answer in the protocol's terms; the binding turns it into a response.
struct HttpAnswer {
  int status = 200;
  std::string content_type;
  std::string body;
};

inline constexpr std::string_view kTextPlain = "text/plain; charset=UTF-8";

// The answer slot of one HTTP request (a poll or a post).
class HttpReply {
 public:
  virtual ~HttpReply() = default;
  // Thread-safe; the first answer counts.
  virtual void send(HttpAnswer answer) = 0;
  // `fn` runs (on any thread) if the client goes away before the answer.
  virtual void on_abandoned(std::function<void()> fn) = 0;
};

struct WsFrame {
  bool binary = false;
  std::string data;
  // A byte the frame carries before `data` (a text packet's Engine.IO type),
  // or 0 for none: the packet's text is framed without a copy to prepend it.
  char lead = 0;
};

// One WebSocket connection as the session sees it. The binding reports back
// through EngineSession::on_ws_frame, on_ws_written and on_ws_closed, on the
// session's context.
class WsChannel {
 public:
  virtual ~WsChannel() = default;
  // Writes the frames in order, then reports on_ws_written. One batch at a time.
  virtual void write(std::vector<WsFrame> frames) = 0;
  // Closes the connection after the batch in flight; on_ws_closed follows.
  virtual void close() = 0;
  // Backpressure: while paused, no more frames are read from the peer (the one
  // being read may still arrive); its bytes wait in the kernel and then in the
  // peer. Resuming reads again.
  virtual void pause_reading(bool paused) = 0;
};

class EngineSession;

// What runs on top of Engine.IO (Socket.IO, or an echo server in tests). Called on
// the session's context.
class EngineHandler {
 public:
  virtual ~EngineHandler() = default;
  virtual void on_open(EngineSession& session) { (void)session; }
  virtual void on_message(EngineSession& session, eio::Packet message) = 0;
  // Once, when the session ends; sending is no longer possible.
  virtual void on_close(EngineSession& session, std::string_view reason) = 0;
};

class EngineSession : public std::enable_shared_from_this<EngineSession> {
 public:
  using ClosedHook = std::function<void(const std::string& sid)>;

  EngineSession(std::string sid, std::shared_ptr<const EngineOptions> options,
                std::shared_ptr<SessionContext> context, std::unique_ptr<EngineHandler> handler,
                ClosedHook on_closed);
  ~EngineSession();

  EngineSession(const EngineSession&) = delete;
  EngineSession& operator=(const EngineSession&) = delete;

  // Thread-safe.
  const std::string& sid() const { return sid_; }
  const std::shared_ptr<SessionContext>& context() const { return context_; }

  // Everything below: on the context only.
  Transport transport() const { return transport_; }
  bool closed() const { return closed_; }
  EngineHandler& handler() { return *handler_; }

  // Starts a session opened by a polling handshake: the open packet is the answer.
  void start_polling(const std::shared_ptr<HttpReply>& handshake);
  // Starts a WebSocket-only session: the open packet is the first frame.
  void start_websocket(std::shared_ptr<WsChannel> ws);

  // A poll (GET) and a post (POST) of the polling transport.
  void handle_get(std::shared_ptr<HttpReply> reply);
  void handle_post(const std::string& body, bool binary_content_type,
                   std::shared_ptr<HttpReply> reply);
  // A WebSocket that names this session's sid: the start of an upgrade.
  void handle_upgrade(std::shared_ptr<WsChannel> ws);

  void on_ws_frame(WsChannel& ws, bool binary, std::string_view data);
  void on_ws_written(WsChannel& ws);
  void on_ws_closed(WsChannel& ws);

  // Queues packets for the client, all or none. False when the session is closed,
  // or when they would overflow the queue: then the session closes too.
  bool send(eio::Packet packet);
  bool send(std::vector<eio::Packet> packets);
  // Between cork() and its uncork(), sent packets are queued but not written:
  // what a handler sends in one go then leaves in one write. Counted like holds.
  void cork() { ++corks_; }
  void uncork();

  // Backpressure from the handler: while at least one hold is taken, nothing more
  // is read from the client. A WebSocket stops reading; a polling post is answered
  // only once the last hold is released, and the client sends no other post before
  // that answer. Holds are counted; every hold_reading() needs one release_reading().
  // Heartbeats are not read either, so a hold must end well within ping_timeout.
  void hold_reading();
  void release_reading();
  bool reading_held() const { return read_holds_ > 0; }

  // Ends the session: a waiting poll gets the close packet, a WebSocket is closed,
  // the handler hears on_close(reason). Idempotent.
  void close(std::string_view reason = "server close");
  // Ends the session once what is queued for the client has reached it: a
  // WebSocket when its last frames are written, a polling session at the
  // client's next poll after the answers (which gets the close packet). The
  // client then connects again, to another node behind a load balancer.
  // Packets sent meanwhile are delivered first. Idempotent.
  void drain(std::string_view reason);

  // The open packet's text ("0{...}") for this session's transport.
  std::string open_packet() const;

 private:
  enum class Upgrade { kNone, kProbing, kProbed };

  void on_packet(eio::Packet packet);
  void on_probe_frame(bool binary, std::string_view data);
  void complete_upgrade();
  void abort_upgrade();
  void schedule_ping();
  void on_ping_due();
  void on_pong();
  void on_pong_missed();
  void noop_tick();
  void flush();
  // While draining, with nothing left to deliver: closes, from a fresh call
  // on the context (never inside a send() of the handler's).
  void close_if_drained();
  void flush_poll();
  void flush_ws();
  // Holds reading while the send queue is over its marks, releases it below.
  void hold_while_backlogged();
  void answer_poll(std::string body);
  void close_with(std::string_view reason, bool by_client);

  // Timer callbacks hold the session weakly: a timer never keeps it alive.
  template <typename Member>
  std::function<void()> weak_call(Member member) {
    return [weak = weak_from_this(), member] {
      if (auto self = weak.lock()) ((*self).*member)();
    };
  }

  const std::string sid_;
  const std::shared_ptr<const EngineOptions> options_;
  const std::shared_ptr<SessionContext> context_;
  std::unique_ptr<EngineHandler> handler_;
  ClosedHook on_closed_;

  Transport transport_ = Transport::kPolling;
  bool started_ = false;
  bool closed_ = false;
  bool draining_ = false;  // drain(): close once the queue has gone out
  bool drain_close_posted_ = false;
  std::string drain_reason_;

  // Packets waiting to be sent; empty (and holding no memory) between bursts.
  std::vector<eio::Packet> queue_;
  size_t queued_bytes_ = 0;

  std::shared_ptr<HttpReply> pending_get_;
  size_t read_holds_ = 0;
  size_t corks_ = 0;
  bool outbound_held_ = false;            // one of read_holds_ is the send queue's
  std::shared_ptr<HttpReply> held_post_;  // answered when the last hold goes

  std::shared_ptr<WsChannel> ws_;  // the WebSocket transport, once there is one
  bool ws_writing_ = false;
  std::shared_ptr<WsChannel> probe_;  // a WebSocket upgrading this polling session
  bool probe_writing_ = false;
  Upgrade upgrade_ = Upgrade::kNone;

  bool awaiting_pong_ = false;
  // The next ping, then (once sent) the pong's deadline: never both at once.
  std::unique_ptr<Timer> heartbeat_timer_;
  // Made by the first upgrade probe: most sessions never upgrade.
  std::unique_ptr<Timer> upgrade_timer_;
  std::unique_ptr<Timer> noop_timer_;
};

}  // namespace insightd::socketio
