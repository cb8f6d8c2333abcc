// HttpServer over loopback on port 0, driven by a Beast client whose every
// operation has a deadline, so a broken server fails a test instead of hanging it.
#include "net/http_server.h"

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/json/parse.hpp>
#include <chrono>
#include <future>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>

#include "net/router.h"
#include "net/upgrade.h"

namespace insightd::net {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

constexpr auto kClientTimeout = 5s;

Request make_request(http::verb method, std::string target, std::string body = {}) {
  Request req{method, target, 11};
  req.set(http::field::host, "127.0.0.1");
  req.body() = std::move(body);
  req.prepare_payload();
  return req;
}

bool closed_by_peer(const beast::error_code& ec) {
  return ec == asio::error::eof || ec == asio::error::connection_reset ||
         ec == beast::http::error::end_of_stream;
}

// A blocking-style client over async operations, each bounded by kClientTimeout.
class TestClient {
 public:
  explicit TestClient(uint16_t port) : stream_(ioc_) {
    beast::error_code ec = run([&](auto handler) {
      stream_.async_connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port), handler);
    });
    EXPECT_FALSE(ec) << "connect: " << ec.message();
  }

  beast::error_code write(const Request& req) {
    return run([&](auto handler) { http::async_write(stream_, req, handler); });
  }

  beast::error_code write_raw(const std::string& bytes) {
    return run([&](auto handler) { asio::async_write(stream_, asio::buffer(bytes), handler); });
  }

  beast::error_code read(Response& res, bool head = false) {
    http::response_parser<http::string_body> parser;
    parser.skip(head);  // a HEAD answer has Content-Length but no body
    beast::error_code ec =
        run([&](auto handler) { http::async_read(stream_, buffer_, parser, handler); });
    if (!ec) res = parser.release();
    return ec;
  }

  // Reads raw bytes up to and including the first blank line.
  beast::error_code read_head_raw(std::string& out) {
    std::string data;
    beast::error_code ec = run([&](auto handler) {
      asio::async_read_until(stream_, asio::dynamic_buffer(data), "\r\n\r\n", handler);
    });
    out = data;
    return ec;
  }

  Response round_trip(const Request& req) {
    Response res;
    beast::error_code ec = write(req);
    EXPECT_FALSE(ec) << "write: " << ec.message();
    if (!ec) ec = read(res, req.method() == http::verb::head);
    EXPECT_FALSE(ec) << "read: " << ec.message();
    return res;
  }

  // Reads until the server closes; returns how the read ended.
  beast::error_code wait_for_close() {
    char scratch[4096];
    for (;;) {
      beast::error_code ec =
          run([&](auto handler) { stream_.async_read_some(asio::buffer(scratch), handler); });
      if (ec) return ec;
    }
  }

 private:
  template <typename Start>
  beast::error_code run(Start start) {
    beast::error_code result = asio::error::would_block;
    stream_.expires_after(kClientTimeout);
    start([&result](beast::error_code ec, auto&&...) { result = ec; });
    ioc_.restart();
    ioc_.run();
    return result;
  }

  asio::io_context ioc_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
};

Handler text(std::string value) {
  return [value = std::move(value)](const Request&, const PathParams&) {
    return json_response(http::status::ok, {{"value", value}});
  };
}

std::string value_of(const Response& res) {
  return std::string(boost::json::parse(res.body()).at("value").as_string());
}

std::string error_code_of(const Response& res) {
  return std::string(boost::json::parse(res.body()).at("error").at("code").as_string());
}

class HttpServerTest : public ::testing::Test {
 protected:
  HttpServerTest() {
    options_.host = "127.0.0.1";
    options_.port = 0;
    options_.io_threads = 2;
    options_.blocking_threads = 2;
    router_.add(http::verb::get, "/healthz", RouteKind::kInline, text("ok"));
    router_.add(http::verb::post, "/echo", RouteKind::kInline,
                [](const Request& req, const PathParams&) {
                  return json_response(http::status::ok, {{"value", req.body()}});
                });
  }

  void start() {
    server_ = std::make_unique<HttpServer>(options_, std::move(router_));
    Status status = server_->start();
    ASSERT_TRUE(status) << status.message();
    ASSERT_NE(server_->port(), 0);
  }

  void TearDown() override {
    if (server_) server_->stop();
  }

  HttpServerOptions options_;
  Router router_;
  std::unique_ptr<HttpServer> server_;
};

TEST_F(HttpServerTest, GetAnswersJsonWithServerDateAndLength) {
  start();
  TestClient client(server_->port());
  Response res = client.round_trip(make_request(http::verb::get, "/healthz"));
  EXPECT_EQ(res.result(), http::status::ok);
  EXPECT_EQ(value_of(res), "ok");
  EXPECT_EQ(res[http::field::content_type], "application/json");
  EXPECT_EQ(res[http::field::server], "insightd");
  std::string date(res[http::field::date]);
  EXPECT_EQ(date.size(), 29u) << date;  // "Sun, 06 Nov 1994 08:49:37 GMT"
  EXPECT_TRUE(date.ends_with(" GMT")) << date;
  EXPECT_EQ(res[http::field::content_length], std::to_string(res.body().size()));
  EXPECT_TRUE(res.keep_alive());
}

TEST_F(HttpServerTest, UnknownPathIs404OverTheWire) {
  start();
  TestClient client(server_->port());
  Response res = client.round_trip(make_request(http::verb::get, "/nope"));
  EXPECT_EQ(res.result(), http::status::not_found);
  EXPECT_EQ(error_code_of(res), "not_found");
  EXPECT_TRUE(res.keep_alive());
}

TEST_F(HttpServerTest, KeepAliveServesSeveralRequestsOnOneConnection) {
  start();
  TestClient client(server_->port());
  Response first = client.round_trip(make_request(http::verb::get, "/healthz"));
  Response second = client.round_trip(make_request(http::verb::post, "/echo", "hello"));
  EXPECT_EQ(first.result(), http::status::ok);
  EXPECT_EQ(second.result(), http::status::ok);
  EXPECT_EQ(value_of(second), "hello");
}

TEST_F(HttpServerTest, HeadAnswersWithTheLengthButNoBody) {
  start();
  TestClient client(server_->port());
  Response get = client.round_trip(make_request(http::verb::get, "/healthz"));
  Response head = client.round_trip(make_request(http::verb::head, "/healthz"));
  EXPECT_EQ(head.result(), http::status::ok);
  EXPECT_EQ(head[http::field::content_length], std::to_string(get.body().size()));
  EXPECT_TRUE(head.body().empty());
  // The connection is still in step: no stray body bytes were sent.
  EXPECT_EQ(client.round_trip(make_request(http::verb::get, "/healthz")).result(),
            http::status::ok);
}

TEST_F(HttpServerTest, PipelinedAnswersKeepRequestOrder) {
  // The slow blocking answer is only produced after the fast inline one, yet it
  // must be sent first.
  auto fast_done = std::make_shared<std::promise<void>>();
  std::shared_future<void> fast_done_future = fast_done->get_future().share();
  router_.add(http::verb::get, "/slow", RouteKind::kBlocking,
              [fast_done_future](const Request&, const PathParams&) {
                fast_done_future.wait_for(kClientTimeout);
                return json_response(http::status::ok, {{"value", "slow"}});
              });
  router_.add(http::verb::get, "/fast", RouteKind::kInline,
              [fast_done](const Request&, const PathParams&) {
                fast_done->set_value();
                return json_response(http::status::ok, {{"value", "fast"}});
              });
  start();
  TestClient client(server_->port());
  std::string both;
  for (const char* target : {"/slow", "/fast"}) {
    std::ostringstream out;
    out << make_request(http::verb::get, target);
    both += out.str();
  }
  ASSERT_FALSE(client.write_raw(both));
  Response first, second;
  ASSERT_FALSE(client.read(first));
  ASSERT_FALSE(client.read(second));
  EXPECT_EQ(value_of(first), "slow");
  EXPECT_EQ(value_of(second), "fast");
}

TEST_F(HttpServerTest, ADrainAnswersWhatWasReadThenClosesAndAcceptsNoOne) {
  // A blocking request still running when the drain starts gets its answer;
  // an idle keep-alive connection closes at once; no new connection is taken.
  auto release = std::make_shared<std::promise<void>>();
  std::shared_future<void> released = release->get_future().share();
  std::atomic<bool> entered{false};
  router_.add(http::verb::post, "/commit", RouteKind::kBlocking,
              [released, &entered](const Request&, const PathParams&) {
                entered = true;
                released.wait_for(kClientTimeout);
                return json_response(http::status::ok, {{"value", "committed"}});
              });
  start();
  TestClient busy(server_->port());
  TestClient idle(server_->port());
  EXPECT_EQ(idle.round_trip(make_request(http::verb::get, "/healthz")).result(), http::status::ok);
  ASSERT_FALSE(busy.write(make_request(http::verb::post, "/commit", "{}")));
  while (!entered) std::this_thread::sleep_for(std::chrono::milliseconds(1));

  std::thread drainer([&] { server_->drain(std::chrono::seconds(10)); });
  EXPECT_TRUE(closed_by_peer(idle.wait_for_close()));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  release->set_value();
  Response res;
  ASSERT_FALSE(busy.read(res));
  EXPECT_EQ(value_of(res), "committed");
  EXPECT_TRUE(closed_by_peer(busy.wait_for_close()));
  drainer.join();
  // The listener is closed: a new connection is refused.
  asio::io_context ioc;
  tcp::socket socket(ioc);
  beast::error_code ec;
  socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), server_->port()), ec);
  EXPECT_TRUE(ec) << "connected after the drain";
}

TEST_F(HttpServerTest, EveryAnswerIsReportedWithItsRouteAndStatus) {
  router_.add(http::verb::get, "/slow/{id}", RouteKind::kBlocking,
              [](const Request&, const PathParams&) {
                return error_response(http::status::conflict, "conflict", "busy");
              });
  std::mutex mu;
  std::vector<std::pair<size_t, unsigned>> seen;
  options_.on_answer = [&](size_t route, unsigned status) {
    std::lock_guard lock(mu);
    seen.emplace_back(route, status);
  };
  const auto routes = router_.routes();  // ids: /healthz 0, /echo 1, /slow/{id} 2
  ASSERT_EQ(routes.size(), 3u);
  ASSERT_EQ(routes[2].pattern, "/slow/{id}");
  start();
  TestClient client(server_->port());
  EXPECT_EQ(client.round_trip(make_request(http::verb::get, "/healthz")).result(),
            http::status::ok);
  EXPECT_EQ(client.round_trip(make_request(http::verb::get, "/slow/7")).result(),
            http::status::conflict);
  EXPECT_EQ(client.round_trip(make_request(http::verb::get, "/nope")).result(),
            http::status::not_found);
  EXPECT_EQ(client.round_trip(make_request(http::verb::get, "/echo")).result(),
            http::status::method_not_allowed);
  std::lock_guard lock(mu);
  EXPECT_EQ(seen, (std::vector<std::pair<size_t, unsigned>>{
                      {0, 200}, {2, 409}, {Router::kNoRoute, 404}, {Router::kNoRoute, 405}}));
}

TEST_F(HttpServerTest, HandlersSeeThePeerAddressAndClientsCannotForgeIt) {
  router_.add(http::verb::get, "/peer", RouteKind::kInline,
              [](const Request& req, const PathParams&) {
                return json_response(http::status::ok, {{"value", peer_address(req)}});
              });
  start();
  TestClient client(server_->port());
  EXPECT_EQ(value_of(client.round_trip(make_request(http::verb::get, "/peer"))), "127.0.0.1");
  Request forged = make_request(http::verb::get, "/peer");
  forged.set(kPeerAddressHeader, "203.0.113.9");
  forged.insert(kPeerAddressHeader, "203.0.113.10");
  EXPECT_EQ(value_of(client.round_trip(forged)), "127.0.0.1");
  EXPECT_EQ(peer_address(make_request(http::verb::get, "/")), "");
}

TEST_F(HttpServerTest, ATrustedProxyNamesTheClientInXForwardedForAndOnlyIt) {
  router_.add(http::verb::get, "/peer", RouteKind::kInline,
              [](const Request& req, const PathParams&) {
                return json_response(http::status::ok, {{"value", peer_address(req)}});
              });
  options_.trusted_proxies = *TrustedProxies::parse("127.0.0.1");
  options_.connection_caps = ConnectionCaps{.max_total = 100, .max_per_address = 1};
  start();
  TestClient client(server_->port());
  Request proxied = make_request(http::verb::get, "/peer");
  proxied.set("X-Forwarded-For", "1.2.3.4, 198.51.100.7");
  EXPECT_EQ(value_of(client.round_trip(proxied)), "198.51.100.7");
  EXPECT_EQ(value_of(client.round_trip(make_request(http::verb::get, "/peer"))), "127.0.0.1");
  // The proxy's connections are not held to the per-address cap of one.
  TestClient second(server_->port());
  EXPECT_EQ(value_of(second.round_trip(proxied)), "198.51.100.7");
}

TEST_F(HttpServerTest, WithoutTrustedProxiesXForwardedForIsIgnored) {
  router_.add(http::verb::get, "/peer", RouteKind::kInline,
              [](const Request& req, const PathParams&) {
                return json_response(http::status::ok, {{"value", peer_address(req)}});
              });
  options_.trusted_proxies = *TrustedProxies::parse("10.0.0.0/8");  // not this peer
  start();
  TestClient client(server_->port());
  Request forged = make_request(http::verb::get, "/peer");
  forged.set("X-Forwarded-For", "198.51.100.7");
  EXPECT_EQ(value_of(client.round_trip(forged)), "127.0.0.1");
}

TEST_F(HttpServerTest, BlockingRouteRunsOffTheNetworkThread) {
  std::mutex mu;
  std::thread::id inline_thread, blocking_thread;
  router_.add(http::verb::get, "/inline", RouteKind::kInline,
              [&](const Request&, const PathParams&) {
                std::lock_guard lock(mu);
                inline_thread = std::this_thread::get_id();
                return json_response(http::status::ok, nullptr);
              });
  router_.add(http::verb::get, "/blocking", RouteKind::kBlocking,
              [&](const Request&, const PathParams&) {
                std::lock_guard lock(mu);
                blocking_thread = std::this_thread::get_id();
                return json_response(http::status::ok, nullptr);
              });
  options_.io_threads = 1;  // so "the network thread" is one thread
  start();
  TestClient client(server_->port());
  EXPECT_EQ(client.round_trip(make_request(http::verb::get, "/inline")).result(), http::status::ok);
  EXPECT_EQ(client.round_trip(make_request(http::verb::get, "/blocking")).result(),
            http::status::ok);
  std::lock_guard lock(mu);
  EXPECT_NE(inline_thread, std::thread::id());
  EXPECT_NE(blocking_thread, std::thread::id());
  EXPECT_NE(inline_thread, blocking_thread);
  EXPECT_NE(blocking_thread, std::this_thread::get_id());
}

TEST_F(HttpServerTest, DeferredRouteAnswersLaterFromAnotherThread) {
  std::promise<Responder> parked;
  router_.add_prefix(http::verb::get, "/poll", [&parked](Request, const PathParams&, Responder r) {
    parked.set_value(std::move(r));
  });
  start();
  TestClient client(server_->port());
  ASSERT_FALSE(client.write(make_request(http::verb::get, "/poll/?sid=1")));
  auto future = parked.get_future();
  ASSERT_EQ(future.wait_for(kClientTimeout), std::future_status::ready);
  Responder responder = future.get();
  std::thread([responder] {
    responder.send(json_response(http::status::ok, {{"value", "late"}}));
    responder.send(json_response(http::status::ok, {{"value", "ignored"}}));
  }).join();
  Response res;
  ASSERT_FALSE(client.read(res));
  EXPECT_EQ(value_of(res), "late");
  // Later requests on the connection still work, and in order.
  EXPECT_EQ(client.round_trip(make_request(http::verb::get, "/healthz")).result(),
            http::status::ok);
}

TEST_F(HttpServerTest, DeferredRouteIsAbandonedWhenTheClientLeaves) {
  std::promise<void> abandoned;
  router_.add_prefix(http::verb::get, "/poll",
                     [&abandoned](Request, const PathParams&, Responder r) {
                       r.on_abandoned([&abandoned] { abandoned.set_value(); });
                     });
  start();
  {
    TestClient client(server_->port());
    ASSERT_FALSE(client.write(make_request(http::verb::get, "/poll")));
    std::this_thread::sleep_for(50ms);  // the request reaches the handler first
  }
  EXPECT_EQ(abandoned.get_future().wait_for(kClientTimeout), std::future_status::ready);
}

TEST_F(HttpServerTest, DeferredAnswerReachesAClientThatSaidConnectionClose) {
  // Regression: nothing else is pending on such a connection while the answer
  // waits, and the connection was dropped before the answer came.
  std::promise<Responder> parked;
  std::promise<void> abandoned;
  int calls = 0;
  router_.add_prefix(http::verb::get, "/poll", [&](Request, const PathParams&, Responder r) {
    if (calls++ == 0) return parked.set_value(std::move(r));
    r.on_abandoned([&abandoned] { abandoned.set_value(); });
  });
  start();
  {
    TestClient client(server_->port());
    Request req = make_request(http::verb::get, "/poll");
    req.keep_alive(false);
    ASSERT_FALSE(client.write(req));
    auto future = parked.get_future();
    ASSERT_EQ(future.wait_for(kClientTimeout), std::future_status::ready);
    std::this_thread::sleep_for(20ms);
    future.get().send(json_response(http::status::ok, {{"value", "late"}}));
    Response res;
    ASSERT_FALSE(client.read(res));
    EXPECT_EQ(value_of(res), "late");
    EXPECT_FALSE(res.keep_alive());
  }
  {
    TestClient client(server_->port());
    Request req = make_request(http::verb::get, "/poll");
    req.keep_alive(false);
    ASSERT_FALSE(client.write(req));
    std::this_thread::sleep_for(50ms);
  }  // the client hangs up
  EXPECT_EQ(abandoned.get_future().wait_for(kClientTimeout), std::future_status::ready);
}

TEST_F(HttpServerTest, UpgradeRequestHandsTheSocketOver) {
  router_.add_upgrade_prefix("/ws", [](UpgradeRequest& up) {
    // The new owner speaks its own protocol on the raw socket.
    std::string line = "switched " + std::string(up.request().target()) + "\n";
    boost::system::error_code ec;
    asio::write(up.socket(), asio::buffer(line), ec);
  });
  start();
  TestClient client(server_->port());
  // An earlier request on the same connection is answered first.
  EXPECT_EQ(client.round_trip(make_request(http::verb::get, "/healthz")).result(),
            http::status::ok);
  Request req = make_request(http::verb::get, "/ws/?x=1");
  req.set(http::field::connection, "Upgrade");
  req.set(http::field::upgrade, "websocket");
  req.set(http::field::sec_websocket_key, "dGhlIHNhbXBsZSBub25jZQ==");
  req.set(http::field::sec_websocket_version, "13");
  ASSERT_FALSE(client.write(req));
  std::string data;
  client.read_head_raw(data);  // reads until the socket closes; no blank line follows
  EXPECT_EQ(data, "switched /ws/?x=1\n");
}

TEST_F(HttpServerTest, AnUpgradeCarriesThePeerAddressNeverTheClientsOwn) {
  router_.add_upgrade_prefix("/ws", [](UpgradeRequest& up) {
    std::string line = "peer " + std::string(peer_address(up.request())) + "\n";
    boost::system::error_code ec;
    asio::write(up.socket(), asio::buffer(line), ec);
  });
  options_.trusted_proxies = *TrustedProxies::parse("127.0.0.1");
  start();
  auto upgrade = [](std::string_view forwarded) {
    Request req = make_request(http::verb::get, "/ws/");
    req.set(http::field::connection, "Upgrade");
    req.set(http::field::upgrade, "websocket");
    req.set(http::field::sec_websocket_key, "dGhlIHNhbXBsZSBub25jZQ==");
    req.set(http::field::sec_websocket_version, "13");
    req.set(kPeerAddressHeader, "203.0.113.66");  // forged: always replaced
    if (!forwarded.empty()) req.set("X-Forwarded-For", forwarded);
    return req;
  };
  for (const auto& [forwarded, expected] :
       {std::pair{std::string_view(""), "peer 127.0.0.1\n"},
        std::pair{std::string_view("198.51.100.7"), "peer 198.51.100.7\n"}}) {
    TestClient client(server_->port());
    ASSERT_FALSE(client.write(upgrade(forwarded)));
    std::string data;
    client.read_head_raw(data);
    EXPECT_EQ(data, expected);
  }
}

TEST_F(HttpServerTest, OversizedBodyIs413AndTheConnectionCloses) {
  options_.max_body_bytes = 1024;
  start();
  TestClient client(server_->port());
  // Far more than the socket buffers hold: the answer must survive the unread rest.
  Response res =
      client.round_trip(make_request(http::verb::post, "/echo", std::string(2 << 20, 'x')));
  EXPECT_EQ(res.result(), http::status::payload_too_large);
  EXPECT_EQ(error_code_of(res), "payload_too_large");
  EXPECT_EQ(res[http::field::content_type], "application/json");
  EXPECT_FALSE(res.keep_alive());
  EXPECT_TRUE(closed_by_peer(client.wait_for_close()));
}

TEST_F(HttpServerTest, OversizedChunkedBodyIs413) {
  options_.max_body_bytes = 1024;
  start();
  TestClient client(server_->port());
  std::string chunk(800, 'x');
  std::string raw =
      "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
      "320\r\n" +
      chunk + "\r\n320\r\n" + chunk + "\r\n0\r\n\r\n";
  ASSERT_FALSE(client.write_raw(raw));
  Response res;
  ASSERT_FALSE(client.read(res));
  EXPECT_EQ(res.result(), http::status::payload_too_large);
  EXPECT_TRUE(closed_by_peer(client.wait_for_close()));
}

// Regression: Beast 1.81 keeps a chunk-size line whole in the read buffer and has
// no cap of its own: 256 MiB of one endless line grew the process by 250 MB.
TEST_F(HttpServerTest, EndlessChunkSizeLineOrTrailerIs400AndTheConnectionCloses) {
  start();
  for (const std::string& endless : {std::string(2 << 20, '1'), "1;" + std::string(2 << 20, 'x'),
                                     "2\r\n{}\r\n0\r\nX-Trailer: " + std::string(2 << 20, 't')}) {
    TestClient client(server_->port());
    // The server answers and stops reading long before this is all written.
    (void)client.write_raw("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" +
                           endless);
    Response res;
    ASSERT_FALSE(client.read(res));
    EXPECT_EQ(res.result(), http::status::bad_request);
    EXPECT_EQ(error_code_of(res), "framing_too_large");
    EXPECT_TRUE(closed_by_peer(client.wait_for_close()));
  }
}

// Regression: "chunked, gzip" was taken as a request without a body, and the body
// was then read as a second request (request smuggling).
TEST_F(HttpServerTest, TransferEncodingNotEndingInChunkedIs400AndNothingMoreIsRead) {
  start();
  TestClient client(server_->port());
  ASSERT_FALSE(
      client.write_raw("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n"
                       "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"));
  Response res;
  ASSERT_FALSE(client.read(res));
  EXPECT_EQ(res.result(), http::status::bad_request);
  EXPECT_EQ(error_code_of(res), "bad_transfer_encoding");
  EXPECT_FALSE(res.keep_alive());
  EXPECT_TRUE(closed_by_peer(client.wait_for_close())) << "no second answer";
}

TEST_F(HttpServerTest, ConnectionsOverAPerAddressCapAre503AtOnce) {
  options_.connection_caps = ConnectionCaps{.max_per_address = 2};
  start();
  TestClient first(server_->port());
  auto second = std::make_unique<TestClient>(server_->port());
  EXPECT_EQ(first.round_trip(make_request(http::verb::get, "/healthz")).result(), http::status::ok);
  {
    TestClient third(server_->port());
    std::string head;
    ASSERT_FALSE(third.read_head_raw(head));
    EXPECT_TRUE(head.starts_with("HTTP/1.1 503")) << head;
    EXPECT_NE(head.find("Retry-After: 5"), std::string::npos) << head;
  }
  // A closed connection gives its place back.
  second.reset();
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  TestClient again(server_->port());
  EXPECT_EQ(again.round_trip(make_request(http::verb::get, "/healthz")).result(), http::status::ok);
}

TEST_F(HttpServerTest, OversizedHeaderIs431) {
  options_.max_header_bytes = 1024;
  start();
  TestClient client(server_->port());
  Request req = make_request(http::verb::get, "/healthz");
  req.set("X-Padding", std::string(2048, 'p'));
  Response res = client.round_trip(req);
  EXPECT_EQ(res.result(), http::status::request_header_fields_too_large);
  EXPECT_TRUE(closed_by_peer(client.wait_for_close()));
}

TEST_F(HttpServerTest, MalformedRequestIs400AndTheConnectionCloses) {
  start();
  TestClient client(server_->port());
  ASSERT_FALSE(client.write_raw("this is not http\r\n\r\n"));
  Response res;
  ASSERT_FALSE(client.read(res));
  EXPECT_EQ(res.result(), http::status::bad_request);
  EXPECT_EQ(error_code_of(res), "bad_request");
  EXPECT_FALSE(res.keep_alive());
  EXPECT_TRUE(closed_by_peer(client.wait_for_close()));
}

TEST_F(HttpServerTest, BadContentLengthIs400) {
  start();
  TestClient client(server_->port());
  ASSERT_FALSE(client.write_raw("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n"));
  Response res;
  ASSERT_FALSE(client.read(res));
  EXPECT_EQ(res.result(), http::status::bad_request);
}

TEST_F(HttpServerTest, ConnectionCloseIsHonoured) {
  start();
  TestClient client(server_->port());
  Request req = make_request(http::verb::get, "/healthz");
  req.keep_alive(false);
  Response res = client.round_trip(req);
  EXPECT_EQ(res.result(), http::status::ok);
  EXPECT_FALSE(res.keep_alive());
  EXPECT_TRUE(closed_by_peer(client.wait_for_close()));
}

TEST_F(HttpServerTest, ExpectContinueGetsAnInterimAnswer) {
  start();
  TestClient client(server_->port());
  ASSERT_FALSE(client.write_raw(
      "POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n"));
  std::string interim;
  ASSERT_FALSE(client.read_head_raw(interim));
  EXPECT_EQ(interim, "HTTP/1.1 100 Continue\r\n\r\n");
  ASSERT_FALSE(client.write_raw("hello"));
  Response res;
  ASSERT_FALSE(client.read(res));
  EXPECT_EQ(value_of(res), "hello");
}

TEST_F(HttpServerTest, HandlerExceptionIs500AndTheConnectionStaysUsable) {
  router_.add(
      http::verb::get, "/throws", RouteKind::kBlocking,
      [](const Request&, const PathParams&) -> Response { throw std::runtime_error("bug"); });
  start();
  TestClient client(server_->port());
  Response res = client.round_trip(make_request(http::verb::get, "/throws"));
  EXPECT_EQ(res.result(), http::status::internal_server_error);
  EXPECT_EQ(error_code_of(res), "internal");
  EXPECT_EQ(client.round_trip(make_request(http::verb::get, "/healthz")).result(),
            http::status::ok);
}

TEST_F(HttpServerTest, FullBlockingBacklogAnswers503AtOnce) {
  std::promise<void> entered, release;
  std::shared_future<void> release_future = release.get_future().share();
  router_.add(http::verb::get, "/hold", RouteKind::kBlocking,
              [&entered, release_future](const Request&, const PathParams&) {
                entered.set_value();
                release_future.wait_for(kClientTimeout);
                return json_response(http::status::ok, nullptr);
              });
  options_.blocking_threads = 1;
  options_.max_blocking_backlog = 1;
  start();
  TestClient holder(server_->port());
  ASSERT_FALSE(holder.write(make_request(http::verb::get, "/hold")));
  ASSERT_EQ(entered.get_future().wait_for(kClientTimeout), std::future_status::ready);

  TestClient other(server_->port());
  Response busy = other.round_trip(make_request(http::verb::get, "/hold"));
  EXPECT_EQ(busy.result(), http::status::service_unavailable);
  EXPECT_EQ(busy[http::field::retry_after], "1");
  EXPECT_EQ(error_code_of(busy), "unavailable");

  release.set_value();
  Response held;
  ASSERT_FALSE(holder.read(held));
  EXPECT_EQ(held.result(), http::status::ok);
}

TEST_F(HttpServerTest, HeaderTimeoutClosesASilentConnection) {
  options_.header_timeout = 200ms;
  start();
  TestClient client(server_->port());
  ASSERT_FALSE(client.write_raw("GET /healthz HTTP/1.1\r\n"));  // and then nothing
  auto begin = std::chrono::steady_clock::now();
  EXPECT_TRUE(closed_by_peer(client.wait_for_close()));
  auto elapsed = std::chrono::steady_clock::now() - begin;
  EXPECT_LT(elapsed, 3s);
}

TEST_F(HttpServerTest, IdleTimeoutClosesAKeepAliveConnection) {
  options_.idle_timeout = 200ms;
  start();
  TestClient client(server_->port());
  EXPECT_EQ(client.round_trip(make_request(http::verb::get, "/healthz")).result(),
            http::status::ok);
  auto begin = std::chrono::steady_clock::now();
  EXPECT_TRUE(closed_by_peer(client.wait_for_close()));
  EXPECT_LT(std::chrono::steady_clock::now() - begin, 3s);
}

TEST_F(HttpServerTest, StartReportsAPortInUse) {
  start();
  HttpServerOptions second = options_;
  second.port = server_->port();
  HttpServer other(second, Router{});
  Status status = other.start();
  ASSERT_FALSE(status);
  EXPECT_EQ(status.code(), ErrorCode::kUnavailable);
  EXPECT_NE(status.message().find("port " + std::to_string(server_->port()) + " is already in use"),
            std::string::npos)
      << status.message();
}

TEST_F(HttpServerTest, StartReportsAnUnresolvableHost) {
  options_.host = "no such host name";
  HttpServer server(options_, Router{});
  Status status = server.start();
  ASSERT_FALSE(status);
  EXPECT_EQ(status.code(), ErrorCode::kInvalidArgument);
}

TEST_F(HttpServerTest, StopClosesConnectedClientsAndIsIdempotent) {
  start();
  TestClient client(server_->port());
  EXPECT_EQ(client.round_trip(make_request(http::verb::get, "/healthz")).result(),
            http::status::ok);
  auto begin = std::chrono::steady_clock::now();
  server_->stop();
  EXPECT_LT(std::chrono::steady_clock::now() - begin, 2s);
  EXPECT_TRUE(closed_by_peer(client.wait_for_close()));
  server_->stop();
  // Nothing listens any more.
  asio::io_context ioc;
  tcp::socket probe(ioc);
  beast::error_code ec;
  probe.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), server_->port()), ec);
  EXPECT_TRUE(ec);
}

TEST_F(HttpServerTest, StopFromAHandlerDoesNotDeadlock) {
  HttpServer* server = nullptr;
  router_.add(http::verb::post, "/shutdown", RouteKind::kInline,
              [&server](const Request&, const PathParams&) {
                server->stop();  // on a network thread: begins the shutdown only
                return json_response(http::status::accepted, nullptr);
              });
  start();
  server = server_.get();
  TestClient client(server_->port());
  ASSERT_FALSE(client.write(make_request(http::verb::post, "/shutdown")));
  // Whether or not the answer made it out, the connection ends without the client's timeout.
  EXPECT_NE(client.wait_for_close(), beast::error::timeout);
  server_->stop();  // joins
  server_.reset();
}

TEST_F(HttpServerTest, StopBeforeStartMakesStartFail) {
  HttpServer server(options_, Router{});
  server.stop();
  EXPECT_FALSE(server.start());
}

}  // namespace
}  // namespace insightd::net
