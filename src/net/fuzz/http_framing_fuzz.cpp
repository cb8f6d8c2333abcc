// libFuzzer target: any bytes sent on one connection to a real HttpServer (in
// this process, on loopback), then the client's end of stream. HTTP framing is
// the server's: Beast's parser under the server's limits, its read-buffer cap,
// the Transfer-Encoding check, pipelining, 100-continue. Checked:
//  - the server never crashes and every byte it sends parses as HTTP responses;
//  - after an answer that closes (an error: 400, 413, 431) nothing else follows;
//  - the connection ends on its own within the deadline (no hang);
//  - the server still answers a fresh request afterwards.
#include <sys/socket.h>
#include <sys/time.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "net/http_server.h"
#include "net/router.h"

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;
using namespace insightd::net;

HttpServer& server() {
  static HttpServer* s = [] {
    HttpServerOptions options;
    options.host = "127.0.0.1";
    options.port = 0;
    options.max_body_bytes = 4096;
    options.max_header_bytes = 2048;
    options.header_timeout = std::chrono::milliseconds(500);
    options.body_timeout = std::chrono::milliseconds(500);
    options.idle_timeout = std::chrono::milliseconds(500);
    Router router;
    router.add(http::verb::get, "/healthz", RouteKind::kInline,
               [](const Request&, const PathParams&) {
                 return json_response(http::status::ok, {{"status", "ok"}});
               });
    router.add(http::verb::post, "/echo", RouteKind::kBlocking,
               [](const Request& req, const PathParams&) {
                 return json_response(http::status::ok, {{"bytes", req.body().size()}});
               });
    auto* made = new HttpServer(options, std::move(router));  // lives for the run
    if (!made->start()) std::abort();
    return made;
  }();
  return *s;
}

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "http_framing_fuzz: %s\n", what);
  std::abort();
}

// Sends `bytes`, ends the stream, and returns everything the server sent back.
std::string exchange(std::string_view bytes) {
  asio::io_context io;
  tcp::socket socket(io);
  socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), server().port()));
  timeval deadline{3, 0};  // far above the server's 500 ms timeouts
  setsockopt(socket.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &deadline, sizeof deadline);
  setsockopt(socket.native_handle(), SOL_SOCKET, SO_SNDTIMEO, &deadline, sizeof deadline);
  boost::system::error_code ec;
  asio::write(socket, asio::buffer(bytes.data(), bytes.size()), ec);  // may be cut off: fine
  socket.shutdown(tcp::socket::shutdown_send, ec);
  std::string out;
  char chunk[4096];
  for (;;) {
    const size_t n = socket.read_some(asio::buffer(chunk), ec);
    out.append(chunk, n);
    if (ec == asio::error::would_block || ec == asio::error::try_again) fail("connection hung");
    if (ec) break;
    if (out.size() > (size_t{1} << 22)) fail("answers far larger than any request");
  }
  return out;
}

void check_answers(const std::string& text) {
  beast::flat_buffer buffer;
  buffer.commit(asio::buffer_copy(buffer.prepare(text.size()), asio::buffer(text)));
  bool closed = false;
  while (buffer.size() > 0) {
    if (closed) fail("bytes after an answer that said Connection: close");
    http::response_parser<http::string_body> parser;
    parser.eager(true);
    boost::system::error_code ec;
    const size_t used = parser.put(buffer.data(), ec);
    if (ec || !parser.is_done()) fail("an answer that is not a whole HTTP response");
    buffer.consume(used);
    closed = !parser.get().keep_alive();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static uint64_t runs = 0;
  check_answers(exchange(std::string_view(reinterpret_cast<const char*>(data), size)));
  if (++runs % 256 == 0) {
    const std::string answer =
        exchange("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    if (!answer.starts_with("HTTP/1.1 200")) fail("the server stopped answering");
  }
  return 0;
}
