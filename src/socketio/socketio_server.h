// The Socket.IO v5 server of insightd: namespaces, events with acknowledgements,
// binary attachments, on Engine.IO v4 over HTTP long-polling and WebSocket.
//
//   SocketIoServer io(options);
//   io.on_connection("/", [](Socket socket) {
//     // socket.auth() is the client's handshake auth, e.g. {"writeKey": "..."}
//     socket.on("user:event", [socket](Payload args, Ack ack) {
//       if (ack) ack(Payload(boost::json::array{"ok"}));   // any thread, once
//     });
//   });
//   io.mount(router);           // before the router goes to the HttpServer
//   io.start(); http.start();   // ... http.stop(); io.stop();
//
// Threads: the server runs its sessions on its own threads (options.threads).
// Handlers run there and must not block. Socket::emit, Socket::disconnect and
// Ack are thread-safe: the ingestion writer calls them after a commit; the work
// is posted to the session's strand. They do nothing once the socket is gone or
// the server stopped.
#pragma once

#include <boost/json/object.hpp>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/result.h"
#include "core/time.h"
#include "socketio/engineio_endpoint.h"
#include "socketio/engineio_session.h"
#include "socketio/socketio_packet.h"

namespace insightd::net {
class Router;
}

namespace insightd::socketio {

struct ServerOptions {
  std::string path = "/socket.io";  // served with and without the trailing slash
  EngineOptions engine;             // heartbeat, maxPayload, queue and session bounds
  // A client that has not joined a namespace by then is disconnected.
  Millis connect_timeout{45'000};
  // Access-Control-Allow-Origin for polling: "" sends none, "*" any origin, else
  // that origin (with credentials allowed).
  std::string cors_origin;
  int threads = 1;
  sio::DecodeLimits limits;
  // Sessions and handshakes per client address: see EndpointOptions::session_caps.
  net::ConnectionCaps session_caps = EndpointOptions{}.session_caps;
  // When set, used instead of a limiter made from session_caps.
  std::shared_ptr<net::ConnectionLimiter> session_limiter;
  // Reading in ticks while busy: see EndpointOptions::read_gathering.
  EndpointOptions::ReadGathering read_gathering;
};

namespace detail {
struct SocketState;
struct AckState;
struct NamespaceTable;
}  // namespace detail

// The answer a client asked for with its event. Empty (false) when the event had
// no ack id. Calling it sends the ACK once; later calls do nothing. Thread-safe.
class Ack {
 public:
  Ack() = default;
  explicit Ack(std::shared_ptr<detail::AckState> state) : state_(std::move(state)) {}

  explicit operator bool() const { return state_ != nullptr; }
  void operator()(const Payload& payload = {}) const;

 private:
  std::shared_ptr<detail::AckState> state_;
};

// Called with the event's arguments (the event name taken off).
using EventHandler = std::function<void(Payload args, Ack ack)>;
using DisconnectHandler = std::function<void(std::string_view reason)>;
// Offered an event's arguments as JSON text before they are parsed: what
// follows the event name inside the packet's array (for ["ev",{"a":1},2] that
// is {"a":1},2), never a binary event's. It returns true when it took the
// event, which it may only do for arguments that are valid JSON; false leaves
// the event to be parsed and given to the `on` handler as usual (so it must
// not have answered or acked an event it declines).
using TextEventHandler = std::function<bool(std::string_view args, const Ack& ack)>;

// One client in one namespace. A cheap handle; copies refer to the same socket.
class Socket {
 public:
  explicit Socket(std::shared_ptr<detail::SocketState> state) : state_(std::move(state)) {}

  // The Socket.IO id, distinct from the Engine.IO session id.
  const std::string& id() const;
  const std::string& nsp() const;
  // The auth object of the client's CONNECT ({} when it sent none).
  const boost::json::object& auth() const;

  // Registers handlers. Only on the socket's strand: inside the connection
  // handler or another handler of this socket. A handler that captures the
  // Socket is released when the socket disconnects.
  void on(std::string event, EventHandler handler) const;
  // For an event whose arguments the handler reads faster than a tree of them
  // is built, the common case first; `on` handles the rest.
  void on_text(std::string event, TextEventHandler handler) const;
  void on_disconnect(DisconnectHandler handler) const;

  // Thread-safe.
  void emit(std::string_view event, const Payload& args = {}) const;
  // Backpressure: while paused, nothing more is read from the client's connection
  // (every namespace on it: they share one transport). Use it when what the client
  // sent cannot be taken as fast as it comes; resume once it can, well within the
  // ping timeout, as heartbeats wait too. Leaving the namespace resumes. Thread-safe.
  void pause_reading(bool paused) const;
  // Runs `fn` on the socket's strand (at once when called there) while the socket
  // is connected: where state shared with its handlers can be touched without
  // locks. Thread-safe.
  void dispatch(std::function<void()> fn) const;
  // Like dispatch, and what `fn` emits and acks (on any socket of the
  // connection) is written together once it returns: one write for many
  // answers rather than one each. Thread-safe.
  void batch(std::function<void()> fn) const;
  // Runs `fn` on the socket's strand after the handler running there now (and
  // whatever was queued before it), whether or not the socket is still
  // connected: work gathered while one read's messages are handled can go out
  // once, after the last of them. Thread-safe.
  void defer(std::function<void()> fn) const;
  // Leaves the namespace from the server side (the client sees "io server
  // disconnect" and does not reconnect). Thread-safe.
  void disconnect() const;
  bool connected() const;

 private:
  std::shared_ptr<detail::SocketState> state_;
};

using ConnectionHandler = std::function<void(Socket socket)>;
// Decides whether a client may join: nullopt lets it in, a message refuses it
// with CONNECT_ERROR {"message": message}. Runs on the session's strand.
using Authorizer = std::function<std::optional<std::string>(const boost::json::object& auth)>;

class EngineEndpoint;

class SocketIoServer {
 public:
  explicit SocketIoServer(ServerOptions options);
  // Calls stop().
  ~SocketIoServer();

  SocketIoServer(const SocketIoServer&) = delete;
  SocketIoServer& operator=(const SocketIoServer&) = delete;

  // Declares a namespace ("/" or "/name"). Before start(). A client asking for an
  // undeclared namespace gets CONNECT_ERROR {"message":"Invalid namespace"}.
  void on_connection(std::string nsp, ConnectionHandler handler, Authorizer authorize = {});

  // Adds the polling routes and the WebSocket upgrade for options.path.
  void mount(net::Router& router);

  Status start();
  // Closes every session and joins the threads. Call it after HttpServer::stop()
  // and before the HttpServer is destroyed. Idempotent.
  void stop();
  // Lets every session end once its client has every answer queued for it
  // (acks of events committed during the shutdown included), refusing new
  // ones; waits up to `within`. The clients connect again, elsewhere behind a
  // load balancer. Call it before stop(), while the HTTP server still runs.
  void drain(std::chrono::milliseconds within);

  size_t session_count() const;
  // WebSocket reads and the messages in them: see EngineEndpoint::read_counts.
  EngineEndpoint::ReadCounts read_counts() const;

 private:
  std::shared_ptr<detail::NamespaceTable> namespaces_;
  ServerOptions options_;
  std::unique_ptr<EngineEndpoint> endpoint_;
};

}  // namespace insightd::socketio
