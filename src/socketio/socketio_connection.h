// The Socket.IO side of one Engine.IO session: the namespaces the client joined,
// binary packets put back together, events dispatched to the sockets' handlers,
// and the connect timeout. Internal to the module; runs on the session's context.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "socketio/engineio_session.h"
#include "socketio/socketio_packet.h"
#include "socketio/socketio_server.h"

namespace insightd::socketio::detail {

struct Namespace {
  ConnectionHandler on_connection;
  Authorizer authorize;
};

struct NamespaceTable {
  std::unordered_map<std::string, Namespace> by_name;
};

struct SocketState {
  std::string id;
  std::string nsp;
  boost::json::object auth;
  std::shared_ptr<SessionContext> context;
  std::weak_ptr<EngineSession> session;
  std::atomic<bool> connected{true};
  // On the context only:
  std::unordered_map<std::string, EventHandler> handlers;
  // Shared, so that one can run while it registers others without a copy.
  std::unordered_map<std::string, std::shared_ptr<const TextEventHandler>> text_handlers;
  std::vector<DisconnectHandler> on_disconnect;
  bool reading_paused = false;
};

struct AckState {
  std::weak_ptr<SocketState> socket;
  uint64_t id = 0;
  std::atomic<bool> used{false};
};

class SioConnection final : public EngineHandler {
 public:
  SioConnection(std::shared_ptr<const NamespaceTable> namespaces, Millis connect_timeout,
                sio::DecodeLimits limits);
  // Drops the handlers of sockets still joined (a session destroyed without
  // closing, at shutdown): they may hold their Socket, a reference cycle.
  ~SioConnection() override;

  void on_open(EngineSession& session) override;
  void on_message(EngineSession& session, eio::Packet message) override;
  void on_close(EngineSession& session, std::string_view reason) override;

  // Socket::disconnect(), on the context.
  void disconnect_from_server(EngineSession& session, const std::shared_ptr<SocketState>& socket);
  // Socket::pause_reading(), on the context: each paused socket holds the session's
  // reading once.
  static void set_reading_paused(EngineSession& session, SocketState& socket, bool paused);

 private:
  void dispatch(EngineSession& session, sio::Message message);
  void on_connect(EngineSession& session, sio::Packet& packet);
  void on_event(EngineSession& session, SocketState& socket, sio::Message& message);
  // Offers a plain EVENT packet's arguments, unparsed, to the text handler of
  // its event; false when there is none or it declined: the packet is parsed.
  bool offer_text(std::string_view text);
  Ack ack_for(SocketState& socket, std::optional<uint64_t> id);
  void leave(EngineSession& session, const std::shared_ptr<SocketState>& socket,
             std::string_view reason);

  std::shared_ptr<const NamespaceTable> namespaces_;
  Millis connect_timeout_;
  sio::PacketAssembler assembler_;
  std::unique_ptr<Timer> connect_timer_;
  std::unordered_map<std::string, std::shared_ptr<SocketState>> sockets_;  // by namespace
};

}  // namespace insightd::socketio::detail
