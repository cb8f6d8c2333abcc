#include "socketio/engineio_session.h"

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

namespace insightd::socketio {
namespace {

using eio::Packet;
using eio::PacketType;

HttpAnswer text_answer(std::string body) {
  return HttpAnswer{200, std::string(kTextPlain), std::move(body)};
}

HttpAnswer error_answer(int status, int code, std::string_view message) {
  boost::json::object body{{"code", code}, {"message", message}};
  return HttpAnswer{status, "application/json", boost::json::serialize(body)};
}

size_t cost_of(const Packet& packet) {
  return packet.data.size() + 1;
}

WsFrame frame_of(Packet packet) {
  if (packet.binary) return WsFrame{true, std::move(packet.data)};
  return WsFrame{false, std::move(packet.data),
                 static_cast<char>('0' + static_cast<int>(packet.type))};
}

}  // namespace

EngineSession::EngineSession(std::string sid, std::shared_ptr<const EngineOptions> options,
                             std::shared_ptr<SessionContext> context,
                             std::unique_ptr<EngineHandler> handler, ClosedHook on_closed)
    : sid_(std::move(sid)),
      options_(std::move(options)),
      context_(std::move(context)),
      handler_(std::move(handler)),
      on_closed_(std::move(on_closed)),
      heartbeat_timer_(context_->make_timer()) {}

EngineSession::~EngineSession() = default;

std::string EngineSession::open_packet() const {
  boost::json::array upgrades;
  if (transport_ == Transport::kPolling && options_->allow_websocket)
    upgrades.emplace_back("websocket");
  boost::json::object open{
      {"sid", sid_},
      {"upgrades", std::move(upgrades)},
      {"pingInterval", options_->ping_interval.count()},
      {"pingTimeout", options_->ping_timeout.count()},
      {"maxPayload", options_->max_payload},
  };
  return "0" + boost::json::serialize(open);
}

void EngineSession::start_polling(const std::shared_ptr<HttpReply>& handshake) {
  transport_ = Transport::kPolling;
  started_ = true;
  handshake->send(text_answer(open_packet()));
  schedule_ping();
  handler_->on_open(*this);
}

void EngineSession::start_websocket(std::shared_ptr<WsChannel> ws) {
  transport_ = Transport::kWebSocket;
  started_ = true;
  ws_ = std::move(ws);
  ws_writing_ = true;
  ws_->write({WsFrame{false, open_packet()}});
  schedule_ping();
  handler_->on_open(*this);
}

void EngineSession::handle_get(std::shared_ptr<HttpReply> reply) {
  if (closed_) return reply->send(error_answer(400, 1, "Session ID unknown"));
  if (transport_ != Transport::kPolling) {
    // The session moved to a WebSocket; it goes on there.
    return reply->send(error_answer(400, 3, "Bad request"));
  }
  if (pending_get_) {
    // Two polls at once would reorder packets: the protocol makes it fatal.
    reply->send(error_answer(400, 3, "Bad request"));
    return close_with("multiple polls", false);
  }
  pending_get_ = std::move(reply);
  pending_get_->on_abandoned(
      [weak = weak_from_this(), context = context_, reply = pending_get_.get()] {
        context->post([weak, reply] {
          auto self = weak.lock();
          if (self && self->pending_get_.get() == reply) self->close_with("transport close", true);
        });
      });
  // During an upgrade a poll waits for the next noop tick, as on the reference
  // server: a client that sent "upgrade" together with this poll is turned away
  // at the upgrade, whichever of the two connections was read first.
  flush();
}

void EngineSession::handle_post(const std::string& body, bool binary_content_type,
                                std::shared_ptr<HttpReply> reply) {
  if (closed_) return reply->send(error_answer(400, 1, "Session ID unknown"));
  if (transport_ != Transport::kPolling) return reply->send(error_answer(400, 3, "Bad request"));
  if (held_post_) {
    // A client waits for a post's answer before the next: this one reads past
    // the backpressure, as the reference server's "data request overlap".
    reply->send(error_answer(400, 3, "Bad request"));
    return close_with("transport error", false);
  }
  if (binary_content_type) {
    // Engine.IO v4 clients send binary as base64 text; octet-stream is v3's way.
    reply->send(error_answer(400, 3, "Bad request"));
    return close_with("transport error", false);
  }
  if (body.size() > options_->max_payload) {
    reply->send(error_answer(413, 3, "Payload too large"));
    return close_with("transport error", false);
  }
  auto packets = eio::decode_payload(body);
  if (!packets) {
    reply->send(error_answer(400, 3, "Bad request"));
    return close_with("parse error", false);
  }
  // Keeps the session alive while a handler may close it.
  auto self = shared_from_this();
  for (Packet& packet : *packets) {
    if (closed_) break;
    on_packet(std::move(packet));
  }
  // Under backpressure the answer waits: the client sends nothing more until then.
  if (read_holds_ > 0 && !closed_) {
    held_post_ = std::move(reply);
    return;
  }
  reply->send(text_answer("ok"));
}

void EngineSession::hold_reading() {
  if (read_holds_++ == 0 && ws_) ws_->pause_reading(true);
}

void EngineSession::release_reading() {
  if (read_holds_ == 0 || --read_holds_ > 0) return;
  if (ws_) ws_->pause_reading(false);
  if (held_post_) std::exchange(held_post_, nullptr)->send(text_answer("ok"));
}

void EngineSession::handle_upgrade(std::shared_ptr<WsChannel> ws) {
  if (closed_ || transport_ != Transport::kPolling || probe_ || !options_->allow_websocket) {
    // One WebSocket per session: later ones are turned away.
    ws->close();
    return;
  }
  probe_ = std::move(ws);
  upgrade_ = Upgrade::kProbing;
  if (!upgrade_timer_) upgrade_timer_ = context_->make_timer();
  if (!noop_timer_) noop_timer_ = context_->make_timer();
  upgrade_timer_->start(options_->upgrade_timeout, weak_call(&EngineSession::abort_upgrade));
}

void EngineSession::on_ws_frame(WsChannel& ws, bool binary, std::string_view data) {
  if (closed_) return;
  if (&ws == probe_.get()) return on_probe_frame(binary, data);
  if (&ws != ws_.get()) return;
  if (binary) return on_packet(eio::decode_binary_frame(data));
  auto packet = eio::decode_text(data);
  if (!packet) return close_with("parse error", false);
  on_packet(std::move(*packet));
}

void EngineSession::on_probe_frame(bool binary, std::string_view data) {
  if (!binary && upgrade_ == Upgrade::kProbing && data == "2probe") {
    upgrade_ = Upgrade::kProbed;
    probe_writing_ = true;
    probe_->write({WsFrame{false, "3probe"}});
    // The client now pauses polling; a poll it still has out must end so that it
    // can: polls get noop every noop_interval until "upgrade" arrives. The first
    // comes after an interval too, as from the reference server, so an "upgrade"
    // sent right behind the probe is read before any noop is sent.
    noop_timer_->start(options_->noop_interval, weak_call(&EngineSession::noop_tick));
    return;
  }
  if (!binary && upgrade_ == Upgrade::kProbed && data == "5") return complete_upgrade();
  // Anything else on a probe is a failed upgrade; polling goes on.
  abort_upgrade();
}

void EngineSession::noop_tick() {
  if (closed_ || upgrade_ != Upgrade::kProbed) return;
  if (pending_get_) answer_poll(eio::encode_text(Packet::text(PacketType::kNoop)));
  if (noop_timer_)
    noop_timer_->start(options_->noop_interval, weak_call(&EngineSession::noop_tick));
}

void EngineSession::complete_upgrade() {
  // The session is on its WebSocket for good: these are never needed again.
  upgrade_timer_.reset();
  noop_timer_.reset();
  if (pending_get_) {
    // A client only upgrades once its polls are over: this one came after the
    // probe, and polling is over for the session.
    auto late = std::move(pending_get_);
    late->send(error_answer(400, 3, "Bad request"));
  }
  transport_ = Transport::kWebSocket;
  ws_ = std::move(probe_);
  if (read_holds_ > 0) ws_->pause_reading(true);
  ws_writing_ = probe_writing_;
  probe_writing_ = false;
  upgrade_ = Upgrade::kNone;
  flush();
}

void EngineSession::abort_upgrade() {
  if (!probe_) return;
  upgrade_timer_->cancel();
  noop_timer_->cancel();
  auto probe = std::move(probe_);
  probe_writing_ = false;
  upgrade_ = Upgrade::kNone;
  probe->close();
  flush();
}

void EngineSession::on_ws_written(WsChannel& ws) {
  if (&ws == probe_.get()) {
    probe_writing_ = false;
    return;
  }
  if (&ws != ws_.get()) return;
  ws_writing_ = false;
  if (!closed_) flush();
}

void EngineSession::on_ws_closed(WsChannel& ws) {
  if (&ws == probe_.get()) return abort_upgrade();
  if (&ws == ws_.get() && !closed_) close_with("transport close", true);
}

void EngineSession::on_packet(Packet packet) {
  switch (packet.type) {
    case PacketType::kMessage:
      handler_->on_message(*this, std::move(packet));
      return;
    case PacketType::kPong:
      on_pong();
      return;
    case PacketType::kClose:
      close_with("transport close", true);
      return;
    case PacketType::kOpen:
      // Only a server opens; a client that sends it is broken.
      close_with("parse error", false);
      return;
    case PacketType::kPing:     // v4 clients ping only to probe, on the probe WebSocket
    case PacketType::kUpgrade:  // meaningful only on a probe
    case PacketType::kNoop:
      return;
  }
}

void EngineSession::schedule_ping() {
  heartbeat_timer_->start(options_->ping_interval, weak_call(&EngineSession::on_ping_due));
}

void EngineSession::on_ping_due() {
  if (closed_) return;
  awaiting_pong_ = true;
  // The ping's own wait is over: the same timer now waits for the pong.
  heartbeat_timer_->start(options_->ping_timeout, weak_call(&EngineSession::on_pong_missed));
  send(Packet::text(PacketType::kPing));
}

void EngineSession::on_pong_missed() {
  close_with("ping timeout", false);
}

void EngineSession::on_pong() {
  if (!awaiting_pong_) return;
  awaiting_pong_ = false;
  schedule_ping();  // replaces the pong's deadline
}

bool EngineSession::send(Packet packet) {
  std::vector<Packet> one;
  one.push_back(std::move(packet));
  return send(std::move(one));
}

bool EngineSession::send(std::vector<Packet> packets) {
  if (closed_) return false;
  size_t bytes = 0;
  for (const Packet& packet : packets) bytes += cost_of(packet);
  if (queue_.size() + packets.size() > options_->max_queued_packets ||
      queued_bytes_ + bytes > options_->max_queued_bytes) {
    close_with("write queue full", false);
    return false;
  }
  queued_bytes_ += bytes;
  for (Packet& packet : packets) queue_.push_back(std::move(packet));
  if (corks_ == 0) flush();
  return true;
}

void EngineSession::uncork() {
  if (corks_ > 0 && --corks_ == 0 && !closed_) flush();
}

void EngineSession::flush() {
  if (started_) {
    if (transport_ == Transport::kPolling) {
      flush_poll();
    } else {
      flush_ws();
    }
  }
  hold_while_backlogged();
  close_if_drained();
}

void EngineSession::drain(std::string_view reason) {
  if (closed_ || draining_) return;
  draining_ = true;
  drain_reason_ = std::string(reason);
  close_if_drained();
}

void EngineSession::close_if_drained() {
  if (!draining_ || closed_ || drain_close_posted_ || !queue_.empty()) return;
  // Polling: the client's poll is back, so it has the answers before this one.
  const bool delivered =
      transport_ == Transport::kPolling ? pending_get_ != nullptr : (ws_ && !ws_writing_);
  if (!delivered) return;
  drain_close_posted_ = true;
  context_->post([weak = weak_from_this()] {
    auto self = weak.lock();
    if (!self || self->closed_) return;
    if (!self->queue_.empty()) {  // sent meanwhile: deliver it first
      self->drain_close_posted_ = false;
      return self->flush();
    }
    self->close(self->drain_reason_);
  });
}

void EngineSession::hold_while_backlogged() {
  const bool backlogged = !closed_ && (queue_.size() >= options_->hold_reading_at_packets ||
                                       queued_bytes_ >= options_->hold_reading_at_bytes);
  if (backlogged == outbound_held_) return;
  outbound_held_ = backlogged;
  if (backlogged) {
    hold_reading();
  } else {
    release_reading();
  }
}

void EngineSession::flush_poll() {
  if (!pending_get_ || queue_.empty() || upgrade_ == Upgrade::kProbed) return;
  std::string body;
  for (const Packet& packet : queue_) eio::append_to_payload(body, packet);
  queue_ = {};
  queued_bytes_ = 0;
  answer_poll(std::move(body));
}

void EngineSession::flush_ws() {
  if (!ws_ || ws_writing_ || queue_.empty()) return;
  std::vector<WsFrame> frames;
  frames.reserve(queue_.size());
  for (Packet& packet : queue_) frames.push_back(frame_of(std::move(packet)));
  queue_ = {};
  queued_bytes_ = 0;
  ws_writing_ = true;
  ws_->write(std::move(frames));
}

void EngineSession::answer_poll(std::string body) {
  auto reply = std::move(pending_get_);
  pending_get_.reset();
  reply->send(text_answer(std::move(body)));
}

void EngineSession::close(std::string_view reason) {
  close_with(reason, false);
}

void EngineSession::close_with(std::string_view reason, bool by_client) {
  if (closed_) return;
  closed_ = true;
  auto self = shared_from_this();  // the hooks below may drop the last other reference
  heartbeat_timer_->cancel();
  if (upgrade_timer_) upgrade_timer_->cancel();
  if (noop_timer_) noop_timer_->cancel();
  queue_ = {};
  queued_bytes_ = 0;
  if (pending_get_) {
    // A client that asked to close only needs its poll to end (noop); otherwise
    // the close packet tells it the session is over.
    auto type = by_client ? PacketType::kNoop : PacketType::kClose;
    answer_poll(eio::encode_text(Packet::text(type)));
  }
  // Its packets were taken: the post that waited on backpressure is answered.
  if (held_post_) std::exchange(held_post_, nullptr)->send(text_answer("ok"));
  if (probe_) std::exchange(probe_, nullptr)->close();
  if (ws_) ws_->close();
  if (on_closed_) std::exchange(on_closed_, nullptr)(sid_);
  handler_->on_close(*this, reason);
}

}  // namespace insightd::socketio
