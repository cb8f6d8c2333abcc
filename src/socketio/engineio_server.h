// The Engine.IO server of one path: checks each request's query (EIO=4, the
// transport, the sid), makes sessions and finds them again, and hands every
// request to its session's context. Transport-generic like EngineSession: the
// Beast binding (engineio_endpoint.h) feeds it requests and WebSockets.
//
// Threads: every public method is thread-safe.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/result.h"
#include "socketio/engineio_session.h"

namespace insightd::socketio {

class EngineServer {
 public:
  using HandlerFactory = std::function<std::unique_ptr<EngineHandler>()>;
  using ContextFactory = std::function<std::shared_ptr<SessionContext>()>;

  EngineServer(EngineOptions options, ContextFactory new_context, HandlerFactory new_handler);
  ~EngineServer();

  EngineServer(const EngineServer&) = delete;
  EngineServer& operator=(const EngineServer&) = delete;

  const EngineOptions& options() const { return *options_; }

  // Held by a session for its whole life: its place under the caller's
  // per-address session caps (net::ConnectionLimiter's tickets), or null.
  using Admission = std::shared_ptr<const void>;

  // An HTTP request of the polling transport; `query` is the raw query string.
  // The answer goes to `reply`, maybe much later (a poll waits for packets). A
  // handshake's session keeps `admission`.
  void handle_http(std::string_view method, std::string_view query, std::string_view content_type,
                   std::string body, std::shared_ptr<HttpReply> reply,
                   Admission admission = nullptr);

  // What a WebSocket request is for, checked before its handshake is accepted:
  // a new session (null session, with the context to run it on) or the upgrade
  // of an existing one (its session and context). An error is answered 400 (or
  // 503 when kUnavailable) instead of accepting the WebSocket.
  struct WsTarget {
    std::shared_ptr<EngineSession> session;
    std::shared_ptr<SessionContext> context;
    Admission admission;  // a new session keeps it (set by the caller)
  };
  Result<WsTarget> resolve_websocket(std::string_view query);

  // After the WebSocket handshake, on the target's context: starts a new session
  // over `ws`, or hands `ws` to the session as an upgrade probe. Returns the
  // session that now owns the channel (for its frames), or null when the server
  // has stopped (the channel is closed then).
  std::shared_ptr<EngineSession> attach_websocket(const WsTarget& target,
                                                  std::shared_ptr<WsChannel> ws);

  // Refuses new sessions and closes every session (on its context). Idempotent.
  void close_all(std::string_view reason);
  // Refuses new sessions and drains every session (EngineSession::drain, on its
  // context): each closes once its queued packets have reached the client.
  void drain_all(std::string_view reason);

  size_t session_count() const;

 private:
  // Refuses new sessions, then posts `fn` to every session's context.
  void stop_and_post_to_each(const std::function<void(EngineSession&)>& fn);

  struct Registry {
    std::mutex mu;
    bool stopped = false;
    std::unordered_map<std::string, std::shared_ptr<EngineSession>> sessions;
    std::unordered_map<std::string, Admission> admissions;  // by sid, while the session lives
  };

  // A registered session with a fresh sid, or an error (full, stopped).
  Result<std::shared_ptr<EngineSession>> create_session(std::shared_ptr<SessionContext> context,
                                                        Admission admission);
  std::shared_ptr<EngineSession> find(std::string_view sid) const;

  const std::shared_ptr<const EngineOptions> options_;
  ContextFactory new_context_;
  HandlerFactory new_handler_;
  std::shared_ptr<Registry> registry_;  // sessions hold it weakly to unregister
};

}  // namespace insightd::socketio
