// CoalescingStream under a real Beast WebSocket, over a real loopback socket: a
// plain Beast client on the other end checks every byte.
#include "net/coalescing_stream.h"

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/websocket/stream.hpp>
#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "net/ws_frames.h"

namespace insightd::net {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using ServerWs = websocket::stream<CoalescingStream<beast::tcp_stream>>;

std::string payload_of(size_t i) {
  static const size_t kSizes[] = {0, 1, 125, 126, 127, 65535, 65536, 70000};
  const size_t n = i % 10 < 8 ? kSizes[i % 10] : 20 + i % 50;
  std::string s(n, static_cast<char>('a' + i % 26));
  if (!s.empty()) s[0] = static_cast<char>('A' + i % 26);
  return s;
}

// The server half: accepts one WebSocket, keeps reading (so Beast answers pings
// and close frames through the CoalescingStream), and records what it read.
class Server {
 public:
  Server() : acceptor_(io_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {
    acceptor_.async_accept([this](boost::system::error_code ec, tcp::socket socket) {
      ASSERT_FALSE(ec) << ec.message();
      ws_ = std::make_unique<ServerWs>(std::move(socket));
      ws_->async_accept([this](boost::system::error_code aec) {
        ASSERT_FALSE(aec) << aec.message();
        accepted_.set_value();
        read();
      });
    });
    thread_ = std::thread([this] { io_.run(); });
  }
  ~Server() {
    io_.stop();
    thread_.join();
  }

  unsigned short port() const { return acceptor_.local_endpoint().port(); }
  void wait_accepted() { accepted_.get_future().wait(); }

  // Runs fn on the io_context's thread and waits for it.
  template <class Fn>
  void on_thread(Fn fn) {
    std::promise<void> done;
    asio::post(io_, [&] {
      fn(*ws_);
      done.set_value();
    });
    done.get_future().wait();
  }

  // Appends the frames, and waits until CoalescingStream reports them written.
  boost::system::error_code send(const std::vector<std::string>& payloads, bool binary) {
    std::promise<boost::system::error_code> drained;
    on_thread([&](ServerWs& ws) {
      std::string bytes;
      for (const auto& p : payloads) append_server_frame(bytes, binary, p);
      ws.next_layer().append(std::move(bytes));
      ws.next_layer().on_drained(
          [&drained](boost::system::error_code ec) { drained.set_value(ec); });
    });
    return drained.get_future().get();
  }

  std::vector<std::string> received() {
    std::vector<std::string> out;
    on_thread([&](ServerWs&) { out = received_; });
    return out;
  }
  boost::system::error_code read_error() {
    boost::system::error_code out;
    on_thread([&](ServerWs&) { out = read_error_; });
    return out;
  }

 private:
  void read() {
    ws_->async_read(buffer_, [this](boost::system::error_code ec, size_t) {
      if (ec) {
        read_error_ = ec;
        return;
      }
      received_.push_back(beast::buffers_to_string(buffer_.data()));
      buffer_.consume(buffer_.size());
      read();
    });
  }

  asio::io_context io_;
  // Keeps run() going after the read loop ends (a vanished peer).
  asio::executor_work_guard<asio::io_context::executor_type> work_{io_.get_executor()};
  tcp::acceptor acceptor_;
  std::unique_ptr<ServerWs> ws_;
  std::promise<void> accepted_;
  beast::flat_buffer buffer_;
  std::vector<std::string> received_;
  boost::system::error_code read_error_;
  std::thread thread_;
};

struct Client {
  explicit Client(unsigned short port) : ws(io) {
    beast::get_lowest_layer(ws).connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
    ws.handshake("127.0.0.1", "/");
  }
  std::string read(bool* binary = nullptr) {
    beast::flat_buffer b;
    ws.read(b);
    if (binary != nullptr) *binary = ws.got_binary();
    return beast::buffers_to_string(b.data());
  }
  asio::io_context io;
  websocket::stream<beast::tcp_stream> ws;
};

TEST(CoalescingStream, AppendedServerFramesOfEverySizeArriveWholeAndInOrder) {
  Server server;
  Client client(server.port());
  server.wait_accepted();
  std::vector<std::string> text, binary;
  for (size_t i = 0; i < 300; ++i) text.push_back(payload_of(i));
  for (size_t i = 0; i < 40; ++i) binary.push_back(payload_of(i * 7));
  // Megabytes: the client reads while the server writes.
  auto sent = std::async(std::launch::async, [&] {
    auto text_ec = server.send(text, false);
    auto binary_ec = server.send(binary, true);
    return std::make_pair(text_ec, binary_ec);
  });
  for (size_t i = 0; i < text.size(); ++i) {
    bool is_binary = true;
    ASSERT_TRUE(client.read(&is_binary) == text[i]) << i;
    EXPECT_FALSE(is_binary);
  }
  for (size_t i = 0; i < binary.size(); ++i) {
    bool is_binary = false;
    ASSERT_TRUE(client.read(&is_binary) == binary[i]) << i;
    EXPECT_TRUE(is_binary);
  }
  auto [text_ec, binary_ec] = sent.get();
  EXPECT_FALSE(text_ec) << text_ec.message();
  EXPECT_FALSE(binary_ec) << binary_ec.message();
}

TEST(CoalescingStream, ManySmallClientFramesAreReadThroughTheBufferInOrder) {
  Server server;
  Client client(server.port());
  server.wait_accepted();
  // Written in one go: the server reads them 16 KiB at a time, Beast frame by frame.
  std::vector<std::string> sent;
  for (size_t i = 0; i < 2000; ++i) sent.push_back("42" + std::to_string(i) + payload_of(i % 9));
  client.ws.text(true);
  for (const auto& s : sent) client.ws.write(asio::buffer(s));
  // Only against a hang: under ThreadSanitizer reading the 2,000 frames takes
  // seconds (the writes above block on them), with the machine shared.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (server.received().size() < sent.size() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(server.received(), sent);
}

TEST(CoalescingStream, PingsAreAnsweredBetweenBurstsAndTheClosingHandshakeCompletes) {
  Server server;
  Client client(server.port());
  server.wait_accepted();
  std::atomic<int> pongs{0};
  client.ws.control_callback([&](websocket::frame_type kind, beast::string_view body) {
    if (kind == websocket::frame_type::pong && body == "are-you-there") ++pongs;
  });
  client.ws.ping("are-you-there");
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // the server reads the ping
  ASSERT_FALSE(server.send({"after-the-ping"}, false));
  // The pong (Beast's own write) and the appended frame share the stream: both
  // arrive, neither corrupted.
  EXPECT_EQ(client.read(), "after-the-ping");
  EXPECT_EQ(pongs.load(), 1);
  // The client closes; Beast on the server answers through the stream, then tears
  // the connection down once that answer has left.
  client.ws.close(websocket::close_code::normal);
  EXPECT_EQ(client.ws.reason().code, websocket::close_code::normal);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!server.read_error() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(server.read_error(), websocket::error::closed);
}

TEST(CoalescingStream, WritesToAVanishedPeerReportTheErrorAndNothingIsKept) {
  Server server;
  boost::system::error_code ec;
  {
    Client client(server.port());
    server.wait_accepted();
    beast::get_lowest_layer(client.ws).socket().close();
  }
  // The first writes may still be accepted by the kernel; the reset then fails one.
  for (int i = 0; i < 200 && !ec; ++i) {
    ec = server.send({std::string(4096, 'x')}, false);
    if (!ec) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_TRUE(ec);
  size_t buffered = 1;
  server.on_thread([&](ServerWs& ws) { buffered = ws.next_layer().buffered(); });
  EXPECT_EQ(buffered, 0u);
  // Once failed, every later drain reports the same error at once.
  EXPECT_EQ(server.send({"late"}, false), ec);
}

// Regression: a client that sent pings and never read grew the server's outgoing
// buffer without bound (512 MiB of pings: 4.7 GB RSS).
TEST(CoalescingStream, BytesBeyondTheBoundFailTheStreamAndCloseTheSocket) {
  Server server;
  Client client(server.port());  // connected, and never reads
  server.wait_accepted();
  server.on_thread(
      [](ServerWs& ws) { ws.next_layer().set_limits(1 << 20, std::chrono::milliseconds(0)); });
  std::promise<boost::system::error_code> drained;
  server.on_thread([&](ServerWs& ws) {
    // Far more than the kernel's socket buffers take: the rest has to wait here.
    for (int i = 0; i < 128; ++i) ws.next_layer().append(std::string(256 * 1024, 'x'));
    ws.next_layer().on_drained([&](boost::system::error_code ec) { drained.set_value(ec); });
  });
  auto result = drained.get_future();
  ASSERT_EQ(result.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  EXPECT_EQ(result.get(), boost::asio::error::no_buffer_space);
  size_t buffered = 1;
  server.on_thread([&](ServerWs& ws) { buffered = ws.next_layer().buffered(); });
  EXPECT_EQ(buffered, 0u) << "nothing is kept for a connection that was given up";
}

TEST(CoalescingStream, AWriteThatWaitsPastTheDeadlineFailsTheStream) {
  Server server;
  Client client(server.port());  // never reads: the kernel's buffers fill, the write waits
  server.wait_accepted();
  server.on_thread(
      [](ServerWs& ws) { ws.next_layer().set_limits(0, std::chrono::milliseconds(200)); });
  const auto started = std::chrono::steady_clock::now();
  const auto ec = server.send({std::string(32 << 20, 'x')}, true);
  EXPECT_EQ(ec, boost::asio::error::timed_out);
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(10));
}

}  // namespace
}  // namespace insightd::net
