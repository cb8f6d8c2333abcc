// socketio-reference-server: the servers that the "Test suite" sections of the
// Engine.IO v4 and Socket.IO v5 protocol documents expect, on one port:
//   /engine.io/  a plain Engine.IO server that sends every message back;
//   /socket.io/  a Socket.IO server with the namespaces "/" and "/custom", which
//                emit "auth" with the handshake auth on connect, answer "message"
//                with "message-back" (same arguments) and acknowledge
//                "message-with-ack" with its arguments.
// Beyond the documents, "server-disconnect" makes the server leave the namespace
// (our end-to-end tests use it; the published suites never send it).
// Both with pingInterval 300, pingTimeout 200, maxPayload 1000000, connectTimeout
// 1000 and CORS for any origin. It prints "listening on HOST:PORT" once ready and
// runs until SIGINT or SIGTERM.
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <memory>
#include <thread>

#include "net/http_server.h"
#include "net/router.h"
#include "socketio/engineio_endpoint.h"
#include "socketio/socketio_server.h"

namespace {

using namespace insightd;
using namespace insightd::socketio;

class EchoHandler final : public EngineHandler {
 public:
  void on_message(EngineSession& session, eio::Packet message) override {
    session.send(std::move(message));
  }
  void on_close(EngineSession&, std::string_view) override {}
};

EngineOptions reference_engine_options() {
  EngineOptions engine;
  engine.ping_interval = Millis(300);
  engine.ping_timeout = Millis(200);
  engine.max_payload = 1'000'000;
  return engine;
}

// "auth" goes out 5 ms after the CONNECT reply, from `later`, a thread of its
// own, rather than in the same write. The published v5 suite needs that: its
// waitFor() attaches a one-shot listener only after the previous await resumes,
// and ws (8.17 and later) delivers every frame of one read synchronously, so an
// "auth" frame that arrives in the same read as the CONNECT reply fires while no
// listener is attached and is lost. Separate writes alone were not enough (4 of
// 32 still failed on this machine: the client read both segments at once). The
// protocol allows either; insightd itself keeps sending what is queued together.
void serve_reference_namespace(const Socket& socket, boost::asio::io_context& later) {
  auto timer = std::make_shared<boost::asio::steady_timer>(later, std::chrono::milliseconds(5));
  timer->async_wait([socket, timer](const boost::system::error_code& ec) {
    if (!ec) socket.emit("auth", Payload(boost::json::array{socket.auth()}));
  });
  socket.on("message",
            [socket](const Payload& args, const Ack&) { socket.emit("message-back", args); });
  socket.on("message-with-ack", [](const Payload& args, const Ack& ack) {
    if (ack) ack(args);
  });
  socket.on("server-disconnect", [socket](const Payload&, const Ack&) { socket.disconnect(); });
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Reference Engine.IO v4 / Socket.IO v5 server for the protocol test suites"};
  std::string host = "127.0.0.1";
  uint16_t port = 3000;
  app.add_option("--host", host, "address to listen on");
  app.add_option("--port", port, "port to listen on (0: any free port)");
  CLI11_PARSE(app, argc, argv);
  spdlog::set_level(spdlog::level::warn);

  // Signals are taken with sigwait, so every thread started below must block them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  net::Router router;
  // The published suites open sessions far faster than any one real client: no caps.
  EngineEndpoint echo(EndpointOptions{"/engine.io", "*", 1, net::ConnectionCaps{}},
                      reference_engine_options(), [] { return std::make_unique<EchoHandler>(); });
  ServerOptions options;
  options.path = "/socket.io";
  options.engine = reference_engine_options();
  options.connect_timeout = Millis(1000);
  options.cors_origin = "*";
  options.session_caps = {};
  SocketIoServer io(options);
  // The documents' "/custom" only greets; answering messages there too changes no
  // test of theirs and lets ours exercise a second namespace.
  boost::asio::io_context later;
  auto later_work = boost::asio::make_work_guard(later);
  std::thread later_thread([&later] { later.run(); });
  io.on_connection("/",
                   [&later](const Socket& socket) { serve_reference_namespace(socket, later); });
  io.on_connection("/custom",
                   [&later](const Socket& socket) { serve_reference_namespace(socket, later); });
  echo.mount(router);
  io.mount(router);

  net::HttpServerOptions http_options;
  http_options.host = host;
  http_options.port = port;
  http_options.io_threads = 1;
  http_options.blocking_threads = 1;
  net::HttpServer http(http_options, std::move(router));
  if (Status s = echo.start(); !s) return std::fprintf(stderr, "%s\n", s.message().c_str()), 1;
  if (Status s = io.start(); !s) return std::fprintf(stderr, "%s\n", s.message().c_str()), 1;
  if (Status s = http.start(); !s) {
    std::fprintf(stderr, "socketio-reference-server: %s\n", s.message().c_str());
    return 1;
  }
  std::printf("listening on %s:%u\n", host.c_str(), static_cast<unsigned>(http.port()));
  std::fflush(stdout);

  int signal = 0;
  sigwait(&signals, &signal);
  http.stop();
  io.stop();
  echo.stop();
  later_work.reset();
  later.stop();
  later_thread.join();
  return 0;
}
