// The Beast binding of an EngineServer: serves one path through the net Router —
// polling as deferred routes, WebSocket by taking over the upgraded connection —
// and runs the sessions on its own threads, one strand per session, with Asio
// timers. SocketIoServer is built on it; the conformance server also mounts a
// plain Engine.IO endpoint with it.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "core/result.h"
#include "net/connection_limiter.h"
#include "socketio/engineio_server.h"

namespace insightd::net {
class Router;
}

namespace insightd::socketio {

struct EndpointOptions {
  std::string path = "/engine.io";  // served with and without the trailing slash
  std::string cors_origin;          // "", "*" or one origin: see ServerOptions
  int threads = 1;
  // New Engine.IO sessions per client address: open at once, and handshakes per
  // second with bursts (the total is EngineOptions::max_sessions). Over a cap a
  // handshake is refused at once with 503 and Retry-After.
  net::ConnectionCaps session_caps{
      .max_per_address = 2'000, .rate_per_address = 100, .burst_per_address = 200};
  // When set, the limiter used instead of one made from session_caps (shared
  // with the other nodes through Redis by its owner).
  std::shared_ptr<net::ConnectionLimiter> session_limiter;
  // While the WebSockets deliver `from_rate` messages a second or more, the
  // threads read every `every` instead of waking for each readable socket:
  // fewer, fuller reads and wake-ups, for at most `every` more latency. A
  // from_rate of 0 never gathers.
  struct ReadGathering {
    double from_rate = 20'000;
    std::chrono::microseconds every{1'000};
  };
  ReadGathering read_gathering;
};

class EngineEndpoint {
 public:
  EngineEndpoint(EndpointOptions options, EngineOptions engine,
                 EngineServer::HandlerFactory new_handler);
  // Calls stop().
  ~EngineEndpoint();

  EngineEndpoint(const EngineEndpoint&) = delete;
  EngineEndpoint& operator=(const EngineEndpoint&) = delete;

  // Registers every method under the path (answers 400 to those the protocol has
  // no use for, as the reference server does) and the WebSocket upgrade.
  void mount(net::Router& router);

  // Starts the threads. Requests that arrive before it wait for it.
  Status start();
  // Closes every session (a waiting poll gets the close packet, WebSockets get a
  // close frame when they can take one in time) and joins the threads. Idempotent.
  void stop();
  // Refuses new sessions and lets every session end once the client has what
  // was queued for it (EngineServer::drain_all); waits until none is left or
  // `within` has passed (stop() then closes the rest). Idempotent.
  void drain(std::chrono::milliseconds within);

  EngineServer& engine();

  // Since start: socket reads on WebSocket connections that returned bytes,
  // and the complete messages in them.
  struct ReadCounts {
    uint64_t reads = 0;
    uint64_t messages = 0;
  };
  ReadCounts read_counts() const;

 private:
  class Impl;
  std::shared_ptr<Impl> impl_;  // routes hold it: the router may outlive this object
};

}  // namespace insightd::socketio
