#include "socketio/socketio_connection.h"

#include <spdlog/spdlog.h>

#include <charconv>

#include "socketio/session_id.h"

namespace insightd::socketio::detail {
namespace {

namespace json = boost::json;
using sio::PacketType;

std::vector<eio::Packet> as_message(const sio::Packet& packet) {
  std::vector<eio::Packet> out;
  out.push_back(eio::Packet::message(sio::encode(packet)));
  return out;
}

void refuse(EngineSession& session, std::string_view nsp, std::string_view message) {
  sio::Packet error{PacketType::kConnectError, std::string(nsp), std::nullopt,
                    json::value(json::object{{"message", message}}), 0};
  session.send(as_message(error));
}

// Handlers are the application's code: an exception is its bug, logged and
// contained so that one bad handler does not take the server thread down.
template <typename Fn>
void guarded(std::string_view what, Fn&& fn) {
  try {
    fn();
  } catch (const std::exception& e) {
    spdlog::error("[Socket.IO] {} handler threw: {}", what, e.what());
  } catch (...) {
    spdlog::error("[Socket.IO] {} handler threw a non-exception", what);
  }
}

}  // namespace

SioConnection::SioConnection(std::shared_ptr<const NamespaceTable> namespaces,
                             Millis connect_timeout, sio::DecodeLimits limits)
    : namespaces_(std::move(namespaces)), connect_timeout_(connect_timeout), assembler_(limits) {}

SioConnection::~SioConnection() {
  for (auto& [nsp, socket] : sockets_) {
    socket->connected = false;
    socket->handlers.clear();
    socket->text_handlers.clear();
    socket->on_disconnect.clear();
  }
}

void SioConnection::on_open(EngineSession& session) {
  connect_timer_ = session.context()->make_timer();
  connect_timer_->start(connect_timeout_, [weak = session.weak_from_this(), this] {
    auto self = weak.lock();
    if (self && !self->closed() && sockets_.empty()) self->close("connect timeout");
  });
}

void SioConnection::on_message(EngineSession& session, eio::Packet message) {
  if (!message.binary && !assembler_.awaiting_attachments() && offer_text(message.data)) return;
  auto result = message.binary ? assembler_.on_binary(std::move(message.data))
                               : assembler_.on_text(message.data);
  if (!result) return session.close("parse error");
  if (!*result) return;  // attachments still to come
  dispatch(session, std::move(**result));
}

void SioConnection::dispatch(EngineSession& session, sio::Message message) {
  sio::Packet& packet = message.packet;
  if (packet.type == PacketType::kConnect) return on_connect(session, packet);
  if (packet.type == PacketType::kConnectError) return session.close("parse error");

  auto it = sockets_.find(packet.nsp);
  // A packet for a namespace the client never joined is a broken client.
  if (it == sockets_.end()) return session.close("parse error");
  std::shared_ptr<SocketState> socket = it->second;
  switch (packet.type) {
    case PacketType::kDisconnect:
      sockets_.erase(it);
      return leave(session, socket, "client namespace disconnect");
    case PacketType::kEvent:
    case PacketType::kBinaryEvent:
      return on_event(session, *socket, message);
    default:
      // ACKs answer server-side emits with a callback, which this server never
      // asks for: nothing waits for them.
      return;
  }
}

void SioConnection::on_connect(EngineSession& session, sio::Packet& packet) {
  auto ns = namespaces_->by_name.find(packet.nsp);
  if (ns == namespaces_->by_name.end()) return refuse(session, packet.nsp, "Invalid namespace");
  json::object auth;
  if (packet.data && packet.data->is_object()) auth = std::move(packet.data->get_object());

  std::shared_ptr<SocketState> socket;
  bool fresh = false;
  if (auto joined = sockets_.find(packet.nsp); joined != sockets_.end()) {
    // A repeated CONNECT gets the same answer; the application saw it once.
    socket = joined->second;
  } else {
    if (ns->second.authorize) {
      std::optional<std::string> refusal;
      guarded("authorize", [&] { refusal = ns->second.authorize(auth); });
      if (refusal) return refuse(session, packet.nsp, *refusal);
    }
    socket = std::make_shared<SocketState>();
    socket->id = random_session_id();
    socket->nsp = packet.nsp;
    socket->auth = std::move(auth);
    socket->context = session.context();
    socket->session = session.weak_from_this();
    sockets_.emplace(packet.nsp, socket);
    fresh = true;
    connect_timer_.reset();  // cancels it; an idle session keeps no timer it will not use
  }
  sio::Packet reply{PacketType::kConnect, packet.nsp, std::nullopt,
                    json::value(json::object{{"sid", socket->id}}), 0};
  session.send(as_message(reply));
  if (fresh) {
    guarded("connection", [&] { ns->second.on_connection(Socket(socket)); });
  }
}

Ack SioConnection::ack_for(SocketState& socket, std::optional<uint64_t> id) {
  if (!id) return {};
  auto state = std::make_shared<AckState>();
  state->id = *id;
  // The connection's table owns the socket; the ack only refers to it.
  auto owner = sockets_.find(socket.nsp);
  if (owner != sockets_.end()) state->socket = owner->second;
  return Ack(std::move(state));
}

bool SioConnection::offer_text(std::string_view text) {
  // 2[/nsp,][id]["event",args]: anything else is left to the parser, which
  // also refuses what is broken.
  if (text.size() < 5 || text[0] != '2') return false;
  size_t i = 1;
  std::string nsp = "/";
  if (text[i] == '/') {
    const size_t comma = text.find(',', i);
    if (comma == std::string_view::npos) return false;
    nsp.assign(text.substr(i, comma - i));
    i = comma + 1;
  }
  std::optional<uint64_t> id;
  const size_t digits = i;
  while (i < text.size() && text[i] >= '0' && text[i] <= '9') ++i;
  if (i > digits) {
    uint64_t n = 0;
    const auto [end, ec] = std::from_chars(text.data() + digits, text.data() + i, n);
    if (ec != std::errc() || end != text.data() + i || n > sio::kMaxAckId) return false;
    id = n;
  }
  if (text.substr(i, 2) != "[\"") return false;
  i += 2;
  const size_t quote = text.find('"', i);
  if (quote == std::string_view::npos || quote + 1 >= text.size() || text[quote + 1] != ',' ||
      text.back() != ']') {
    return false;
  }
  const std::string_view event = text.substr(i, quote - i);
  if (event.find('\\') != std::string_view::npos) return false;  // escaped: the parser reads it
  auto socket = sockets_.find(nsp);
  if (socket == sockets_.end()) return false;
  auto handler = socket->second->text_handlers.find(std::string(event));
  if (handler == socket->second->text_handlers.end()) return false;
  const std::shared_ptr<const TextEventHandler> fn = handler->second;
  const std::string_view args = text.substr(quote + 2, text.size() - quote - 3);
  const Ack ack = ack_for(*socket->second, id);
  // A handler that threw has had the event, as one given to `on` has.
  bool taken = true;
  guarded(event, [&] { taken = (*fn)(args, ack); });
  return taken;
}

void SioConnection::on_event(EngineSession& /*session*/, SocketState& socket,
                             sio::Message& message) {
  json::array& values = message.packet.data->get_array();
  std::string event(values.front().get_string());
  auto handler = socket.handlers.find(event);
  if (handler == socket.handlers.end()) return;
  values.erase(values.begin());
  Payload args(std::move(values));
  args.buffers = std::move(message.buffers);
  Ack ack = ack_for(socket, message.packet.id);
  EventHandler fn = handler->second;  // the handler may register others meanwhile
  guarded(event, [&] { fn(std::move(args), std::move(ack)); });
}

void SioConnection::leave(EngineSession& session, const std::shared_ptr<SocketState>& socket,
                          std::string_view reason) {
  socket->connected = false;
  set_reading_paused(session, *socket, false);
  auto handlers = std::move(socket->on_disconnect);
  // Handlers may hold the Socket: dropping them breaks that cycle.
  socket->on_disconnect.clear();
  socket->handlers.clear();
  socket->text_handlers.clear();
  for (auto& handler : handlers) guarded("disconnect", [&] { handler(reason); });
}

void SioConnection::set_reading_paused(EngineSession& session, SocketState& socket, bool paused) {
  if (socket.reading_paused == paused) return;
  socket.reading_paused = paused;
  if (paused) {
    session.hold_reading();
  } else {
    session.release_reading();
  }
}

void SioConnection::disconnect_from_server(EngineSession& session,
                                           const std::shared_ptr<SocketState>& socket) {
  auto it = sockets_.find(socket->nsp);
  if (it == sockets_.end() || it->second != socket) return;
  sockets_.erase(it);
  session.send(as_message(sio::Packet{PacketType::kDisconnect, socket->nsp, {}, {}, 0}));
  leave(session, socket, "server namespace disconnect");
}

void SioConnection::on_close(EngineSession& session, std::string_view reason) {
  if (connect_timer_) connect_timer_->cancel();
  auto sockets = std::move(sockets_);
  sockets_.clear();
  for (auto& [nsp, socket] : sockets) leave(session, socket, reason);
}

}  // namespace insightd::socketio::detail
