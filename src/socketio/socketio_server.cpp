#include "socketio/socketio_server.h"

#include "socketio/engineio_endpoint.h"
#include "socketio/socketio_connection.h"

namespace insightd::socketio {
namespace {

// Runs `fn(session, connection)` on the socket's strand if it is still connected:
// at once when called there (answers sent while a batch of them is delivered:
// no task, no copy of the socket), else posted.
template <typename Fn>
void on_strand(const std::shared_ptr<detail::SocketState>& socket, Fn fn) {
  auto run = [](detail::SocketState& s, Fn& f) {
    if (!s.connected) return;
    auto session = s.session.lock();
    if (!session || session->closed()) return;
    f(*session, static_cast<detail::SioConnection&>(session->handler()));
  };
  if (socket->context->running_here()) return run(*socket, fn);
  socket->context->dispatch([socket, fn = std::move(fn), run]() mutable { run(*socket, fn); });
}

}  // namespace

void Ack::operator()(const Payload& payload) const {
  if (!state_ || state_->used.exchange(true)) return;
  auto socket = state_->socket.lock();
  if (!socket) return;
  auto packets = sio::encode_ack(socket->nsp, state_->id, payload);
  on_strand(socket,
            [packets = std::move(packets)](EngineSession& session, detail::SioConnection&) mutable {
              session.send(std::move(packets));
            });
}

const std::string& Socket::id() const {
  return state_->id;
}

const std::string& Socket::nsp() const {
  return state_->nsp;
}

const boost::json::object& Socket::auth() const {
  return state_->auth;
}

void Socket::on(std::string event, EventHandler handler) const {
  if (!state_->connected) return;
  state_->handlers[std::move(event)] = std::move(handler);
}

void Socket::on_text(std::string event, TextEventHandler handler) const {
  if (!state_->connected) return;
  state_->text_handlers[std::move(event)] =
      std::make_shared<const TextEventHandler>(std::move(handler));
}

void Socket::on_disconnect(DisconnectHandler handler) const {
  if (!state_->connected) return;
  state_->on_disconnect.push_back(std::move(handler));
}

void Socket::emit(std::string_view event, const Payload& args) const {
  // Encoded on the caller's thread: the network thread only queues the bytes.
  auto packets = sio::encode_event(state_->nsp, event, args);
  on_strand(state_,
            [packets = std::move(packets)](EngineSession& session, detail::SioConnection&) mutable {
              session.send(std::move(packets));
            });
}

void Socket::disconnect() const {
  on_strand(state_, [state = state_](EngineSession& session, detail::SioConnection& connection) {
    connection.disconnect_from_server(session, state);
  });
}

void Socket::pause_reading(bool paused) const {
  on_strand(state_, [state = state_, paused](EngineSession& session, detail::SioConnection&) {
    detail::SioConnection::set_reading_paused(session, *state, paused);
  });
}

void Socket::dispatch(std::function<void()> fn) const {
  on_strand(state_, [fn = std::move(fn)](EngineSession&, detail::SioConnection&) { fn(); });
}

void Socket::batch(std::function<void()> fn) const {
  on_strand(state_, [fn = std::move(fn)](EngineSession& session, detail::SioConnection&) {
    session.cork();
    struct Uncork {
      EngineSession& session;
      ~Uncork() {
        try {
          session.uncork();  // flushes
        } catch (...) {
          // A flush that failed to allocate closes nothing here; the next
          // send or written frame flushes again.
        }
      }
    } uncork{session};
    fn();
  });
}

void Socket::defer(std::function<void()> fn) const {
  state_->context->post(std::move(fn));
}

bool Socket::connected() const {
  return state_->connected;
}

SocketIoServer::SocketIoServer(ServerOptions options)
    : namespaces_(std::make_shared<detail::NamespaceTable>()), options_(std::move(options)) {
  std::shared_ptr<const detail::NamespaceTable> namespaces = namespaces_;
  auto new_connection = [namespaces, timeout = options_.connect_timeout,
                         limits = options_.limits]() -> std::unique_ptr<EngineHandler> {
    return std::make_unique<detail::SioConnection>(namespaces, timeout, limits);
  };
  EndpointOptions endpoint{
      options_.path,         options_.cors_origin,     options_.threads,
      options_.session_caps, options_.session_limiter, options_.read_gathering};
  endpoint_ = std::make_unique<EngineEndpoint>(std::move(endpoint), options_.engine,
                                               std::move(new_connection));
}

SocketIoServer::~SocketIoServer() {
  stop();
}

void SocketIoServer::on_connection(std::string nsp, ConnectionHandler handler,
                                   Authorizer authorize) {
  namespaces_->by_name[std::move(nsp)] =
      detail::Namespace{std::move(handler), std::move(authorize)};
}

void SocketIoServer::mount(net::Router& router) {
  endpoint_->mount(router);
}

Status SocketIoServer::start() {
  return endpoint_->start();
}

void SocketIoServer::stop() {
  endpoint_->stop();
}

void SocketIoServer::drain(std::chrono::milliseconds within) {
  endpoint_->drain(within);
}

size_t SocketIoServer::session_count() const {
  return endpoint_->engine().session_count();
}

EngineEndpoint::ReadCounts SocketIoServer::read_counts() const {
  return endpoint_->read_counts();
}

}  // namespace insightd::socketio
