// SocketIoServer mounted on a real HttpServer over loopback, driven by a Beast
// WebSocket client: the binding (upgrade takeover, strands, timers) and emits and
// acks made from a thread that is not the server's, as the ingestion writer does.
#include "socketio/socketio_server.h"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/websocket.hpp>
#include <chrono>
#include <condition_variable>
#include <future>
#include <mutex>
#include <thread>

#include "net/http_server.h"
#include "net/router.h"

namespace insightd::socketio {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

class SocketIoServerTest : public ::testing::Test {
 protected:
  void start(ServerOptions options = {}) {
    options.path = "/api/socket";
    io_ = std::make_unique<SocketIoServer>(options);
    io_->on_connection("/", [this](Socket socket) {
      socket.on("later", [this](Payload args, Ack ack) {
        std::lock_guard lock(mu_);
        acks_.push_back(ack);
        (void)args;
      });
      std::lock_guard lock(mu_);
      sockets_.push_back(socket);
      connected_.notify_all();
    });
    net::Router router;
    io_->mount(router);
    net::HttpServerOptions http_options;
    http_options.host = "127.0.0.1";
    http_options.port = 0;
    http_ = std::make_unique<net::HttpServer>(http_options, std::move(router));
    ASSERT_TRUE(io_->start());
    ASSERT_TRUE(http_->start());
  }

  void TearDown() override {
    if (http_) http_->stop();
    if (io_) io_->stop();
    sockets_.clear();
    acks_.clear();
  }

  Socket wait_for_socket() {
    std::unique_lock lock(mu_);
    connected_.wait_for(lock, 5s, [this] { return !sockets_.empty(); });
    EXPECT_FALSE(sockets_.empty());
    return sockets_.front();
  }

  std::unique_ptr<SocketIoServer> io_;
  std::unique_ptr<net::HttpServer> http_;
  std::mutex mu_;
  std::condition_variable connected_;
  std::vector<Socket> sockets_;
  std::vector<Ack> acks_;
};

// A blocking WebSocket client; every read is bounded by a timeout.
class Client {
 public:
  explicit Client(uint16_t port, std::string target) : ws_(ioc_) {
    beast::get_lowest_layer(ws_).connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
    beast::get_lowest_layer(ws_).expires_after(5s);
    ws_.handshake("127.0.0.1", target);
  }

  std::string read() {
    beast::flat_buffer buffer;
    beast::get_lowest_layer(ws_).expires_after(5s);
    ws_.read(buffer);
    return beast::buffers_to_string(buffer.data());
  }

  // The next frame that is not a ping, answering pings on the way.
  std::string read_packet() {
    for (;;) {
      std::string frame = read();
      if (frame != "2") return frame;
      write("3");
    }
  }

  void write(const std::string& text) {
    ws_.text(true);
    ws_.write(asio::buffer(text));
  }

 private:
  asio::io_context ioc_;
  websocket::stream<beast::tcp_stream> ws_;
};

TEST_F(SocketIoServerTest, WebSocketClientJoinsAndGetsEmitsFromAnotherThread) {
  start();
  Client client(http_->port(), "/api/socket/?EIO=4&transport=websocket");
  EXPECT_EQ(client.read().substr(0, 8), "0{\"sid\":");
  client.write("40{\"writeKey\":\"k\"}");
  EXPECT_EQ(client.read_packet().substr(0, 8), "40{\"sid\"");
  Socket socket = wait_for_socket();
  EXPECT_EQ(socket.auth().at("writeKey"), "k");

  constexpr int kEmits = 200;
  std::thread writer([socket] {
    for (int i = 0; i < kEmits; ++i) {
      socket.emit("event:ack", Payload(boost::json::array{i}));
    }
  });
  for (int i = 0; i < kEmits; ++i) {
    EXPECT_EQ(client.read_packet(), "42[\"event:ack\"," + std::to_string(i) + "]");
  }
  writer.join();
}

TEST_F(SocketIoServerTest, AckFromAnotherThreadAfterTheHandlerReturned) {
  start();
  Client client(http_->port(), "/api/socket?EIO=4&transport=websocket");
  client.read();
  client.write("40");
  client.read_packet();
  wait_for_socket();
  client.write("420[\"later\"]");
  client.write("421[\"later\"]");
  std::vector<Ack> acks;
  for (int tries = 0; tries < 500 && acks.size() < 2; ++tries) {
    std::this_thread::sleep_for(2ms);
    std::lock_guard lock(mu_);
    acks = acks_;
  }
  ASSERT_EQ(acks.size(), 2u);
  std::thread([acks] {
    acks[1](Payload(boost::json::array{"second"}));
    acks[0](Payload(boost::json::array{"first"}));
    acks[0](Payload(boost::json::array{"twice"}));
  }).join();
  EXPECT_EQ(client.read_packet(), "431[\"second\"]");
  EXPECT_EQ(client.read_packet(), "430[\"first\"]");
}

TEST_F(SocketIoServerTest, StopClosesConnectedClients) {
  start();
  Client client(http_->port(), "/api/socket/?EIO=4&transport=websocket");
  client.read();
  client.write("40");
  client.read_packet();
  Socket socket = wait_for_socket();
  http_->stop();
  io_->stop();
  EXPECT_FALSE(socket.connected());
  EXPECT_THROW(client.read_packet(), boost::system::system_error);
  socket.emit("after-stop");  // dropped, harmlessly
}

// Many small messages, each in its own write and a millisecond apart: a quiet
// server reads each on its own, a busy one (here, from the first message on)
// reads every 25 ms whatever has arrived, and still answers every one.
TEST_F(SocketIoServerTest, ABusyServerReadsInTicksAndAnswersEveryMessage) {
  auto reads_for = [this](double from_rate) {
    ServerOptions options;
    options.read_gathering = {.from_rate = from_rate, .every = 25ms};
    start(options);
    Client client(http_->port(), "/api/socket/?EIO=4&transport=websocket");
    client.read();
    client.write("40");
    client.read_packet();
    wait_for_socket();
    const EngineEndpoint::ReadCounts before = io_->read_counts();
    constexpr int kMessages = 200;
    for (int i = 0; i < kMessages; ++i) {
      client.write("42" + std::to_string(i) + "[\"later\"]");
      std::this_thread::sleep_for(1ms);
    }
    for (int tries = 0; tries < 1000; ++tries) {
      {
        std::lock_guard lock(mu_);
        if (acks_.size() == kMessages) break;
      }
      std::this_thread::sleep_for(2ms);
    }
    {
      std::lock_guard lock(mu_);
      EXPECT_EQ(acks_.size(), size_t{kMessages});
    }
    const EngineEndpoint::ReadCounts after = io_->read_counts();
    EXPECT_EQ(after.messages - before.messages, uint64_t{kMessages});
    TearDown();
    return after.reads - before.reads;
  };
  const uint64_t quiet = reads_for(0);  // never gathers
  const uint64_t busy = reads_for(1);   // gathers once one message a second arrives
  EXPECT_GT(quiet, 100u);
  EXPECT_LT(busy, 40u);  // ~200 ms of writes in 25 ms ticks, with room for a slow machine
}

}  // namespace
}  // namespace insightd::socketio
