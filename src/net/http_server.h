// The HTTP/1.1 server of insightd: accepts connections, reads requests with
// bounded sizes and timeouts, asks the Router where each goes, and writes the
// answers back in order (keep-alive and pipelining included).
//
// Threads: `io_threads` network threads run every connection; handlers of
// RouteKind::kBlocking run on `blocking_threads` other threads, so a slow database
// never stalls the network. Handlers of RouteKind::kDeferred answer later through a
// Responder (long-polling), from any thread. A WebSocket upgrade under an upgrade
// prefix leaves the server: its socket goes to the upgrade handler (net/upgrade.h).
// Otherwise Beast stays inside http_server.cpp.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "core/result.h"
#include "net/connection_limiter.h"
#include "net/trusted_proxies.h"

namespace insightd::net {

class Router;

struct HttpServerOptions {
  std::string host = "0.0.0.0";  // an IP address or a name that resolves to one
  uint16_t port = 3000;          // 0: the system picks one; HttpServer::port() says which
  int io_threads = 1;
  int blocking_threads = 4;

  size_t max_body_bytes = size_t{1024} * 1024;  // larger bodies get 413
  size_t max_header_bytes = size_t{16} * 1024;  // larger request headers get 431
  // Requests read from one connection but not yet answered; reading pauses at the limit.
  size_t max_pipelined_requests = 16;
  // Blocking requests queued or running on the pool, over all connections; beyond
  // it a blocking route is answered 503 with Retry-After at once.
  size_t max_blocking_backlog = 1024;

  // From the connection's start (or the first byte of a later request) until the
  // request header is complete.
  std::chrono::milliseconds header_timeout{10'000};
  // From the header until the body is complete.
  std::chrono::milliseconds body_timeout{30'000};
  // How long a keep-alive connection may sit between requests, and how long one
  // response write may take.
  std::chrono::milliseconds idle_timeout{60'000};

  // Connections open at once, in total and per client address, and new ones per
  // second per address (net/connection_limiter.h). Over a cap a new connection is
  // answered 503 with Retry-After and closed at once. A WebSocket keeps counting
  // after it leaves HTTP.
  ConnectionCaps connection_caps{.max_total = 20'000, .max_per_address = 2'000};
  // When set, the limiter used instead of one made from connection_caps (its
  // owner may share it with the other nodes).
  std::shared_ptr<ConnectionLimiter> connection_limiter;

  // Proxies whose X-Forwarded-For names the client (TRUSTED_PROXIES): for a
  // request from one of them, kPeerAddressHeader holds that client, so the
  // per-address limits above the socket (Socket.IO sessions and handshakes,
  // failed logins) count real clients. The connection caps above count
  // sockets, so a proxy's connections all count as its own.
  TrustedProxies trusted_proxies;

  std::string server_name = "insightd";  // the Server header

  // Told of every answer as it is queued for sending: the route that took the
  // request (an id of Router::routes(); Router::kNoRoute for a 404, a 405 or a
  // request that could not be read) and the status code. Runs on a network
  // thread for each request, so it must be cheap, thread-safe and never block
  // (metrics count requests with it). A WebSocket hand-over is no answer.
  std::function<void(size_t route_id, unsigned status)> on_answer;
};

class HttpServer {
 public:
  // Takes the routes; they are fixed from here on.
  HttpServer(HttpServerOptions options, Router router);
  // Calls stop(). Must not run on one of the server's own threads.
  ~HttpServer();

  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds, listens and starts the threads. Fails with a message fit for the
  // operator ("port 3000 is already in use"); a server starts at most once.
  Status start();

  // The bound port once start() succeeded (the real one when options.port was 0);
  // 0 before.
  uint16_t port() const;

  // Stops accepting, closes every connection (a response being written is cut
  // off; blocking handlers already running finish, queued ones are dropped) and
  // joins the threads. Idempotent and thread-safe: meant to be called from a
  // signal_set handler or any other thread. Called on one of the server's own
  // threads it only begins the shutdown; the destructor or a later stop() joins.
  // Not async-signal-safe: do not call it from a raw signal handler.
  void stop();
  // Stops accepting new connections; those open go on (the first step of a
  // graceful drain: answer what is in flight, then stop()). Thread-safe.
  void stop_accepting();
  // A graceful end before stop(): stop_accepting(), then each connection reads
  // no further request, answers those it has (blocking handlers still running
  // included) and closes; an idle one closes at once. Waits until every
  // connection is gone or `within` has passed. Thread-safe; not on the
  // server's own threads.
  void drain(std::chrono::milliseconds within);

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace insightd::net
