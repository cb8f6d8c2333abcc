// The Socket.IO layer over fake transports: namespaces, auth, acks from id 0,
// binary events and acks, disconnects both ways, and every malformed packet
// closing the connection.
#include "socketio/socketio_connection.h"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "socketio/engineio_server.h"
#include "socketio/testing/test_runtime.h"

namespace insightd::socketio {
namespace {

using namespace std::chrono_literals;
using testing::FakeReply;
using testing::FakeWs;
using testing::ManualLoop;
namespace json = boost::json;

class SocketIoConnectionTest : public ::testing::Test {
 protected:
  SocketIoConnectionTest() : namespaces_(std::make_shared<detail::NamespaceTable>()) {
    options_.ping_interval = 300ms;
    options_.ping_timeout = 200ms;
    // The reference namespaces of the protocol's test suite.
    auto reference = [this](Socket socket) {
      sockets_.push_back(socket);
      socket.emit("auth", Payload(json::array{socket.auth()}));
      socket.on("message", [socket](Payload args, Ack) { socket.emit("message-back", args); });
      socket.on("message-with-ack", [](Payload args, Ack ack) {
        if (ack) ack(args);
      });
      socket.on_disconnect(
          [this](std::string_view reason) { disconnects_.push_back(std::string(reason)); });
    };
    namespaces_->by_name["/"] = {reference, {}};
    namespaces_->by_name["/custom"] = {reference, {}};
    namespaces_->by_name["/private"] = {
        reference, [](const json::object& auth) -> std::optional<std::string> {
          if (auth.contains("writeKey") && auth.at("writeKey") == "k1") return std::nullopt;
          return "Not authorized";
        }};
    server_ = std::make_unique<EngineServer>(
        options_, [this] { return loop_.context(); },
        [this]() -> std::unique_ptr<EngineHandler> {
          return std::make_unique<detail::SioConnection>(namespaces_, 1000ms, sio::DecodeLimits{});
        });
  }

  ~SocketIoConnectionTest() override {
    server_->close_all("test over");
    loop_.run_ready();
    sockets_.clear();
    server_.reset();
  }

  std::shared_ptr<FakeWs> websocket() {
    auto target = server_->resolve_websocket("EIO=4&transport=websocket");
    auto ws = std::make_shared<FakeWs>(&loop_);
    ws->session = server_->attach_websocket(*target, ws);
    loop_.run_ready();
    return ws;
  }

  // A WebSocket joined to the main namespace, with the handshake frames read.
  std::shared_ptr<FakeWs> connected() {
    auto ws = websocket();
    ws->receive("40");
    EXPECT_EQ(ws->written.size(), 3u);  // open, CONNECT reply, auth
    ws->written.clear();
    return ws;
  }

  std::shared_ptr<FakeReply> http(std::string_view method, const std::string& query,
                                  std::string body = {}) {
    auto reply = std::make_shared<FakeReply>();
    server_->handle_http(method, query, "text/plain", std::move(body), reply);
    loop_.run_ready();
    return reply;
  }

  ManualLoop loop_;
  EngineOptions options_;
  std::shared_ptr<detail::NamespaceTable> namespaces_;
  std::vector<Socket> sockets_;
  std::vector<std::string> disconnects_;
  std::unique_ptr<EngineServer> server_;
};

std::string engine_sid_of(const FakeWs& ws) {
  return std::string(json::parse(ws.written[0].data.substr(1)).at("sid").as_string());
}

TEST_F(SocketIoConnectionTest, ConnectsToTheMainNamespaceWithItsOwnSid) {
  auto ws = websocket();
  ws->receive("40");
  auto texts = ws->texts();
  ASSERT_EQ(texts.size(), 3u);
  ASSERT_TRUE(texts[1].starts_with("40{"));
  auto reply = json::parse(texts[1].substr(2)).as_object();
  EXPECT_EQ(reply.size(), 1u);
  EXPECT_NE(reply.at("sid").as_string(), engine_sid_of(*ws));
  EXPECT_EQ(texts[2], R"(42["auth",{}])");
}

TEST_F(SocketIoConnectionTest, ConnectCarriesTheAuthPayload) {
  auto ws = websocket();
  ws->receive(R"(40{"token":"123"})");
  EXPECT_EQ(ws->texts().back(), R"(42["auth",{"token":"123"}])");
  ws->receive(R"(40/custom,{"token":"abc"})");
  auto texts = ws->texts();
  EXPECT_TRUE(texts[3].starts_with("40/custom,{\"sid\":")) << texts[3];
  EXPECT_EQ(texts[4], R"(42/custom,["auth",{"token":"abc"}])");
  ASSERT_EQ(sockets_.size(), 2u);
  EXPECT_EQ(sockets_[1].auth().at("token"), "abc");
  EXPECT_NE(sockets_[0].id(), sockets_[1].id());
}

TEST_F(SocketIoConnectionTest, UnknownNamespaceIsRefusedAndTheConnectionStays) {
  auto ws = websocket();
  ws->receive("40/random");
  EXPECT_EQ(ws->texts().back(), R"(44/random,{"message":"Invalid namespace"})");
  EXPECT_FALSE(ws->closed);
  ws->receive("40");
  EXPECT_EQ(ws->texts().back(), R"(42["auth",{}])");
}

TEST_F(SocketIoConnectionTest, AuthorizerRefusesWithItsMessage) {
  auto ws = websocket();
  ws->receive(R"(40/private,{"writeKey":"wrong"})");
  EXPECT_EQ(ws->texts().back(), R"(44/private,{"message":"Not authorized"})");
  ws->receive(R"(40/private,{"writeKey":"k1"})");
  EXPECT_EQ(ws->texts().back(), R"(42/private,["auth",{"writeKey":"k1"}])");
}

TEST_F(SocketIoConnectionTest, EventsAreDispatchedWithTheirArguments) {
  auto ws = connected();
  ws->receive(R"(42["message",1,"2",{"3":[true]}])");
  EXPECT_EQ(ws->texts(), std::vector<std::string>{R"(42["message-back",1,"2",{"3":[true]}])"});
}

TEST_F(SocketIoConnectionTest, AckIdsStartAtZero) {
  auto ws = connected();
  ws->receive(R"(420["message-with-ack",1])");
  ws->receive(R"(42456["message-with-ack",1,"2",{"3":[false]}])");
  EXPECT_EQ(ws->texts(), (std::vector<std::string>{R"(430[1])", R"(43456[1,"2",{"3":[false]}])"}));
}

TEST_F(SocketIoConnectionTest, AckIsSentOnceFromAnyThreadLater) {
  auto ws = connected();
  Ack kept;
  sockets_[0].on("later", [&kept](Payload, Ack ack) { kept = ack; });
  ws->receive(R"(427["later"])");
  EXPECT_TRUE(ws->written.empty());
  ASSERT_TRUE(kept);
  kept(Payload(json::array{"done"}));  // off the context: posted
  kept(Payload(json::array{"again"}));
  EXPECT_TRUE(ws->written.empty());
  loop_.run_ready();
  EXPECT_EQ(ws->texts(), std::vector<std::string>{R"(437["done"])"});
}

TEST_F(SocketIoConnectionTest, BinaryEventEchoesItsAttachments) {
  auto ws = connected();
  ws->receive(R"(452-["message",{"_placeholder":true,"num":0},{"num":1,"_placeholder":true}])");
  EXPECT_TRUE(ws->written.empty());
  ws->receive_binary(std::string("\x01\x02\x03", 3));
  ws->receive_binary(std::string("\x04\x05\x06", 3));
  EXPECT_EQ(
      ws->texts(),
      (std::vector<std::string>{
          R"(452-["message-back",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}])",
          "<bin:010203>", "<bin:040506>"}));
}

TEST_F(SocketIoConnectionTest, BinaryAckCarriesTheAttachments) {
  auto ws = connected();
  ws->receive(
      R"(452-789["message-with-ack",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}])");
  ws->receive_binary("ab");
  ws->receive_binary("cd");
  EXPECT_EQ(ws->texts(),
            (std::vector<std::string>{
                R"(462-789[{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}])",
                "<bin:6162>", "<bin:6364>"}));
}

TEST_F(SocketIoConnectionTest, HandlerSeesBuffersThroughPlaceholders) {
  auto ws = connected();
  std::string seen;
  sockets_[0].on("upload", [&seen](Payload args, Ack) {
    const std::string* bytes = args.buffer_of(args.values.at(0).at("file"));
    if (bytes) seen = *bytes;
  });
  ws->receive(R"(451-["upload",{"file":{"num":0,"_placeholder":true}}])");
  ws->receive_binary("PNG!");
  EXPECT_EQ(seen, "PNG!");
}

// A text handler for "plain" that takes objects (valid JSON only) and declines
// the rest, beside an `on` handler that echoes what reached it parsed.
class TextHandlerTest : public SocketIoConnectionTest {
 protected:
  std::shared_ptr<FakeWs> with_plain_handlers() {
    auto ws = connected();
    Socket socket = sockets_[0];
    socket.on_text("plain", [this](std::string_view args, const Ack& ack) {
      boost::system::error_code ec;
      const json::value v = json::parse(args, ec);
      if (ec || !v.is_object()) return false;
      offered_.emplace_back(args);
      if (ack) ack(Payload(json::array{"text"}));
      return true;
    });
    socket.on("plain", [socket](Payload args, Ack) { socket.emit("parsed", args); });
    return ws;
  }

  std::vector<std::string> offered_;
};

TEST_F(TextHandlerTest, TakesTheArgumentsUnparsedAndAcks) {
  auto ws = with_plain_handlers();
  ws->receive(R"(42["plain",{"a":[1,2]}])");
  ws->receive(R"(427["plain",{"b":"]"}])");
  EXPECT_EQ(offered_, (std::vector<std::string>{R"({"a":[1,2]})", R"({"b":"]"})"}));
  EXPECT_EQ(ws->texts(), std::vector<std::string>{R"(437["text"])"});  // `on` never ran
}

TEST_F(TextHandlerTest, WhatItDeclinesIsParsedAndGivenToOn) {
  auto ws = with_plain_handlers();
  ws->receive(R"(42["plain",7])");
  ws->receive(R"(42["plain",{"a":1},2])");  // two arguments: not an object
  EXPECT_TRUE(offered_.empty());
  EXPECT_EQ(ws->texts(),
            (std::vector<std::string>{R"(42["parsed",7])", R"(42["parsed",{"a":1},2])"}));
}

TEST_F(TextHandlerTest, BrokenPacketsStillCloseTheConnection) {
  auto ws = with_plain_handlers();
  ws->receive(R"(42["plain",{"a":}])");
  EXPECT_TRUE(offered_.empty());
  EXPECT_TRUE(ws->closed);
}

TEST_F(TextHandlerTest, BinaryEventsAndOtherNamesAreNeverOffered) {
  auto ws = with_plain_handlers();
  ws->receive(R"(451-["plain",{"_placeholder":true,"num":0}])");
  ws->receive_binary("ab");
  ws->receive(R"(42["message",{"a":1}])");
  EXPECT_TRUE(offered_.empty());
  auto texts = ws->texts();  // the binary echo, its attachment, the message's echo
  ASSERT_EQ(texts.size(), 3u);
  EXPECT_TRUE(texts[0].starts_with(R"(451-["parsed",)")) << texts[0];
  EXPECT_EQ(texts[2], R"(42["message-back",{"a":1}])");
}

TEST_F(TextHandlerTest, AnotherNamespaceHasItsOwnHandlers) {
  auto ws = with_plain_handlers();
  ws->receive("40/custom,");
  ws->written.clear();
  ws->receive(R"(42/custom,3["plain",{"a":1}])");  // no text handler joined there
  EXPECT_TRUE(offered_.empty());
  sockets_[1].on_text("plain", [this](std::string_view args, const Ack& ack) {
    offered_.emplace_back(args);
    if (ack) ack(Payload(json::array{"custom"}));
    return true;
  });
  ws->receive(R"(42/custom,4["plain",{"b":2}])");
  EXPECT_EQ(offered_, std::vector<std::string>{R"({"b":2})"});
  EXPECT_EQ(ws->texts().back(), R"(43/custom,4["custom"])");
}

TEST_F(TextHandlerTest, AHandlerThatThrowsHasHadTheEvent) {
  auto ws = with_plain_handlers();
  sockets_[0].on_text("plain", [](std::string_view, const Ack&) -> bool {
    throw std::runtime_error("a bug in the handler");
  });
  ws->receive(R"(42["plain",{"a":1}])");
  EXPECT_TRUE(ws->texts().empty());  // not given to `on` a second time
  EXPECT_FALSE(ws->closed);
}

TEST_F(SocketIoConnectionTest, AttachmentsAcrossSeveralPollingPosts) {
  auto hs = http("GET", "EIO=4&transport=polling");
  std::string sid(json::parse(hs->body().substr(1)).at("sid").as_string());
  std::string q = "EIO=4&transport=polling&sid=" + sid;
  EXPECT_EQ(http("POST", q, "40")->body(), "ok");
  auto poll = http("GET", q);
  ASSERT_TRUE(poll->answered());
  EXPECT_TRUE(poll->body().find("\x1e"
                                R"(42["auth",{}])") != std::string::npos)
      << poll->body();
  EXPECT_EQ(http("POST", q, R"(451-["message",{"_placeholder":true,"num":0}])")->body(), "ok");
  EXPECT_EQ(http("POST", q, "bAQID")->body(), "ok");
  // The echo reaches the next poll as a binary event and its base64 attachment,
  // with a separator between them.
  EXPECT_EQ(http("GET", q)->body(),
            "451-[\"message-back\",{\"_placeholder\":true,\"num\":0}]\x1e"
            "bAQID");
}

TEST_F(SocketIoConnectionTest, EveryMalformedPacketClosesTheConnection) {
  for (std::string_view bad : {
           "4abc",
           "42{}",
           R"(42abc["message-with-ack",1,"2",{"3":[false]}])",
           "45",
           R"(45["x"])",
           R"(42["connect"])",
           R"(42["disconnect"])",
           R"(42[])",
           "42[1]",
           R"(42/custom,["message"])",  // a namespace not joined
           R"(41/custom,)",             // leaving a namespace not joined
           R"(44{"message":"x"})",      // CONNECT_ERROR comes from servers only
           "4",
           "47",
           "41{}",
           "40[]",
       }) {
    auto ws = connected();
    ws->receive(std::string(bad));
    EXPECT_TRUE(ws->closed) << bad;
  }
}

TEST_F(SocketIoConnectionTest, StrayOrMisplacedBinaryClosesTheConnection) {
  auto stray = connected();
  stray->receive_binary("x");
  EXPECT_TRUE(stray->closed);

  auto interrupted = connected();
  interrupted->receive(R"(451-["message",{"_placeholder":true,"num":0}])");
  interrupted->receive(R"(42["message"])");
  EXPECT_TRUE(interrupted->closed);

  auto bad_index = connected();
  bad_index->receive(R"(451-["message",{"_placeholder":true,"num":4}])");
  bad_index->receive_binary("x");
  EXPECT_TRUE(bad_index->closed);
}

TEST_F(SocketIoConnectionTest, ClientDisconnectLeavesOnlyThatNamespace) {
  auto ws = connected();
  ws->receive("40/custom");
  ws->receive("41/custom");
  EXPECT_EQ(disconnects_, std::vector<std::string>{"client namespace disconnect"});
  EXPECT_FALSE(sockets_[1].connected());
  ws->written.clear();
  ws->receive(R"(42["message","message to main namespace"])");
  EXPECT_EQ(ws->texts(),
            std::vector<std::string>{R"(42["message-back","message to main namespace"])"});
  ws->receive("41");
  EXPECT_FALSE(ws->closed);  // the Engine.IO session stays: pings go on
  loop_.advance(300ms);
  EXPECT_EQ(ws->texts().back(), "2");
}

TEST_F(SocketIoConnectionTest, ServerDisconnectSendsADisconnectPacketWithoutPayload) {
  auto ws = connected();
  ws->receive("40/custom,");
  ws->written.clear();
  sockets_[1].disconnect();
  sockets_[0].disconnect();
  loop_.run_ready();
  EXPECT_EQ(ws->texts(), (std::vector<std::string>{"41/custom,", "41"}));
  EXPECT_EQ(disconnects_, (std::vector<std::string>{"server namespace disconnect",
                                                    "server namespace disconnect"}));
  // Emits to a socket that left go nowhere.
  sockets_[0].emit("late");
  loop_.run_ready();
  EXPECT_EQ(ws->written.size(), 2u);
}

TEST_F(SocketIoConnectionTest, EmitFromAnotherThreadIsPostedToTheSession) {
  auto ws = connected();
  Payload payload(json::array{"x"});
  payload.values.push_back(payload.add_buffer("\xff"));
  sockets_[0].emit("event:ack", payload);
  EXPECT_TRUE(ws->written.empty());
  loop_.run_ready();
  EXPECT_EQ(ws->texts(),
            (std::vector<std::string>{R"(451-["event:ack","x",{"_placeholder":true,"num":0}])",
                                      "<bin:ff>"}));
}

TEST_F(SocketIoConnectionTest, PausedSocketsStopReadingTheirSharedTransport) {
  auto ws = connected();
  ws->receive("40/custom,");
  ASSERT_EQ(sockets_.size(), 2u);
  ws->written.clear();
  sockets_[0].pause_reading(true);  // from the test thread: posted
  EXPECT_FALSE(ws->paused);
  loop_.run_ready();
  EXPECT_TRUE(ws->paused);
  sockets_[1].pause_reading(true);
  sockets_[0].pause_reading(true);  // already paused: no second hold
  loop_.run_ready();
  ws->receive(R"(42["message",1])");
  EXPECT_TRUE(ws->written.empty());
  sockets_[0].pause_reading(false);
  loop_.run_ready();
  EXPECT_TRUE(ws->paused);  // "/custom" still holds it
  // A socket that leaves gives its hold back.
  sockets_[1].disconnect();
  loop_.run_ready();
  EXPECT_FALSE(ws->paused);
  EXPECT_EQ(ws->texts(), (std::vector<std::string>{"41/custom,", R"(42["message-back",1])"}));
}

TEST_F(SocketIoConnectionTest, DispatchRunsOnTheStrandWhileConnected) {
  auto ws = connected();
  int runs = 0;
  sockets_[0].dispatch([&runs] { ++runs; });
  EXPECT_EQ(runs, 0);
  loop_.run_ready();
  EXPECT_EQ(runs, 1);
  ws->receive("41");  // the client leaves
  sockets_[0].dispatch([&runs] { ++runs; });
  loop_.run_ready();
  EXPECT_EQ(runs, 1);
}

TEST_F(SocketIoConnectionTest, DeferRunsAfterTheHandlerEvenOnceDisconnected) {
  auto ws = connected();
  std::vector<std::string> order;
  sockets_[0].on("later", [&order, socket = sockets_[0]](const Payload&, const Ack&) {
    socket.defer([&order] { order.emplace_back("deferred"); });
    order.emplace_back("handler");
  });
  ws->receive(R"(42["later"])");  // delivers, then runs what is ready
  EXPECT_EQ(order, (std::vector<std::string>{"handler", "deferred"}));
  ws->receive("41");  // the client leaves: gathered work still goes out
  sockets_[0].defer([&order] { order.emplace_back("after leaving"); });
  loop_.run_ready();
  EXPECT_EQ(order, (std::vector<std::string>{"handler", "deferred", "after leaving"}));
}

TEST_F(SocketIoConnectionTest, NoConnectWithinTheTimeoutCloses) {
  options_.ping_interval = 10s;
  server_ = std::make_unique<EngineServer>(
      options_, [this] { return loop_.context(); },
      [this]() -> std::unique_ptr<EngineHandler> {
        return std::make_unique<detail::SioConnection>(namespaces_, 1000ms, sio::DecodeLimits{});
      });
  auto idle = websocket();
  auto joined = websocket();
  joined->receive("40");
  loop_.advance(999ms);
  EXPECT_FALSE(idle->closed);
  loop_.advance(1ms);
  EXPECT_TRUE(idle->closed);
  EXPECT_FALSE(joined->closed);
}

TEST_F(SocketIoConnectionTest, EngineCloseDisconnectsEverySocket) {
  auto ws = connected();
  ws->receive("40/custom,");
  ws->drop();
  EXPECT_EQ(disconnects_, (std::vector<std::string>{"transport close", "transport close"}));
  EXPECT_FALSE(sockets_[0].connected());
}

}  // namespace
}  // namespace insightd::socketio
