// The Engine.IO session and server, driven without sockets: fake HTTP replies and
// WebSockets on a manual loop whose clock only moves when the test says so.
#include "socketio/engineio_session.h"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

#include "socketio/engineio_server.h"
#include "socketio/testing/test_runtime.h"

namespace insightd::socketio {
namespace {

using namespace std::chrono_literals;
using testing::FakeReply;
using testing::FakeWs;
using testing::ManualLoop;

// The reference Engine.IO test server: every message goes back.
class EchoHandler final : public EngineHandler {
 public:
  EchoHandler(std::vector<std::string>* closes,
              std::vector<std::weak_ptr<EngineSession>>* opened = nullptr)
      : closes_(closes), opened_(opened) {}
  void on_open(EngineSession& session) override {
    if (opened_ != nullptr) opened_->push_back(session.weak_from_this());
  }
  void on_message(EngineSession& session, eio::Packet message) override {
    session.send(std::move(message));
  }
  void on_close(EngineSession&, std::string_view reason) override {
    closes_->push_back(std::string(reason));
  }

 private:
  std::vector<std::string>* closes_;
  std::vector<std::weak_ptr<EngineSession>>* opened_;
};

class EngineSessionTest : public ::testing::Test {
 protected:
  EngineSessionTest() {
    options_.ping_interval = 300ms;
    options_.ping_timeout = 200ms;
    options_.max_payload = 1'000'000;
  }

  void make_server() {
    server_ = std::make_unique<EngineServer>(
        options_, [this] { return loop_.context(); },
        [this] { return std::make_unique<EchoHandler>(&closes_, &opened_); });
  }

  void SetUp() override { make_server(); }

  std::shared_ptr<FakeReply> http(std::string_view method, std::string_view query,
                                  std::string body = {}, std::string_view content_type = {}) {
    auto reply = std::make_shared<FakeReply>();
    server_->handle_http(method, query, content_type, std::move(body), reply);
    loop_.run_ready();
    return reply;
  }

  std::string handshake() {
    auto reply = http("GET", "EIO=4&transport=polling&t=abc");
    EXPECT_EQ(reply->status(), 200);
    EXPECT_EQ(reply->body().front(), '0');
    return std::string(boost::json::parse(reply->body().substr(1)).at("sid").as_string());
  }

  std::shared_ptr<FakeReply> get(const std::string& sid) {
    return http("GET", "EIO=4&transport=polling&sid=" + sid);
  }
  std::shared_ptr<FakeReply> post(const std::string& sid, std::string body,
                                  std::string_view content_type = "text/plain;charset=UTF-8") {
    return http("POST", "EIO=4&transport=polling&sid=" + sid, std::move(body), content_type);
  }

  std::shared_ptr<FakeWs> websocket(const std::string& query) {
    auto target = server_->resolve_websocket(query);
    if (!target) return nullptr;
    auto ws = std::make_shared<FakeWs>(&loop_);
    ws->session = server_->attach_websocket(*target, ws);
    loop_.run_ready();
    return ws;
  }

  ManualLoop loop_;
  EngineOptions options_;
  std::vector<std::string> closes_;
  std::vector<std::weak_ptr<EngineSession>> opened_;  // every session, in opening order
  std::unique_ptr<EngineServer> server_;
};

TEST_F(EngineSessionTest, PollingHandshakeCarriesTheSessionParameters) {
  auto reply = http("GET", "EIO=4&transport=polling");
  ASSERT_EQ(reply->status(), 200);
  ASSERT_EQ(reply->body().front(), '0');
  auto open = boost::json::parse(reply->body().substr(1)).as_object();
  EXPECT_EQ(open.size(), 5u);
  EXPECT_TRUE(open.at("sid").is_string());
  EXPECT_EQ(open.at("upgrades"), boost::json::parse(R"(["websocket"])"));
  EXPECT_EQ(open.at("pingInterval"), 300);
  EXPECT_EQ(open.at("pingTimeout"), 200);
  EXPECT_EQ(open.at("maxPayload"), 1000000);
  EXPECT_EQ(server_->session_count(), 1u);
}

TEST_F(EngineSessionTest, BadHandshakesAre400) {
  EXPECT_EQ(http("GET", "transport=polling")->status(), 400);
  EXPECT_EQ(http("GET", "EIO=abc&transport=polling")->status(), 400);
  EXPECT_EQ(http("GET", "EIO=3&transport=polling")->status(), 400);
  EXPECT_EQ(http("GET", "EIO=4")->status(), 400);
  EXPECT_EQ(http("GET", "EIO=4&transport=abc")->status(), 400);
  EXPECT_EQ(http("GET", "EIO=4&transport=websocket")->status(), 400);  // needs an upgrade
  EXPECT_EQ(http("POST", "EIO=4&transport=polling")->status(), 400);
  EXPECT_EQ(http("PUT", "EIO=4&transport=polling")->status(), 400);
  EXPECT_EQ(http("GET", "EIO=4&transport=polling&sid=nope")->status(), 400);
  EXPECT_EQ(server_->session_count(), 0u);
}

TEST_F(EngineSessionTest, PollWaitsForPacketsAndPostAnswersOk) {
  std::string sid = handshake();
  auto poll = get(sid);
  EXPECT_FALSE(poll->answered());
  auto push = post(sid, "4hello");
  EXPECT_EQ(push->status(), 200);
  EXPECT_EQ(push->body(), "ok");
  ASSERT_TRUE(poll->answered());
  EXPECT_EQ(poll->body(), "4hello");
}

TEST_F(EngineSessionTest, SeveralPacketsAndBinaryTravelInOnePayload) {
  std::string sid = handshake();
  EXPECT_EQ(post(sid,
                 "4test1\x1e"
                 "4test2\x1e"
                 "bAQIDBA==")
                ->body(),
            "ok");
  auto poll = get(sid);
  EXPECT_EQ(poll->body(),
            "4test1\x1e"
            "4test2\x1e"
            "bAQIDBA==");
}

TEST_F(EngineSessionTest, InvalidPostClosesTheSession) {
  std::string sid = handshake();
  auto waiting = get(sid);
  EXPECT_EQ(post(sid, "abc")->status(), 400);
  EXPECT_EQ(waiting->body(), "1");  // the close packet ends the waiting poll
  EXPECT_EQ(get(sid)->status(), 400);
  ASSERT_EQ(closes_.size(), 1u);
  EXPECT_EQ(closes_[0], "parse error");
}

TEST_F(EngineSessionTest, BinaryContentTypeIsRefusedInV4) {
  std::string sid = handshake();
  EXPECT_EQ(post(sid, "4hello", "application/octet-stream")->status(), 400);
  EXPECT_EQ(get(sid)->status(), 400);
}

TEST_F(EngineSessionTest, OversizedPostIsRefused) {
  options_.max_payload = 10;
  make_server();
  std::string sid = handshake();
  EXPECT_EQ(post(sid, "4" + std::string(20, 'x'))->status(), 413);
  EXPECT_EQ(get(sid)->status(), 400);
}

TEST_F(EngineSessionTest, ASecondConcurrentPollClosesTheSession) {
  std::string sid = handshake();
  auto first = get(sid);
  auto second = get(sid);
  EXPECT_EQ(second->status(), 400);
  ASSERT_TRUE(first->answered());
  EXPECT_EQ(first->status(), 200);
  EXPECT_EQ(first->body(), "1");
  EXPECT_EQ(get(sid)->status(), 400);
}

TEST_F(EngineSessionTest, ACancelledPollClosesTheSession) {
  std::string sid = handshake();
  auto poll = get(sid);
  poll->abandon();
  loop_.run_ready();
  EXPECT_EQ(get(sid)->status(), 400);
  EXPECT_EQ(closes_, std::vector<std::string>{"transport close"});
}

TEST_F(EngineSessionTest, ClientCloseEndsTheWaitingPollWithNoop) {
  std::string sid = handshake();
  auto poll = get(sid);
  EXPECT_EQ(post(sid, "1")->status(), 200);
  EXPECT_EQ(poll->body(), "6");
  EXPECT_EQ(get(sid)->status(), 400);
}

TEST_F(EngineSessionTest, ServerPingsAndPongsKeepThePollingSessionAlive) {
  std::string sid = handshake();
  for (int i = 0; i < 3; ++i) {
    auto poll = get(sid);
    EXPECT_FALSE(poll->answered());
    loop_.advance(299ms);
    EXPECT_FALSE(poll->answered());
    loop_.advance(1ms);
    ASSERT_TRUE(poll->answered());
    EXPECT_EQ(poll->body(), "2");
    loop_.advance(150ms);  // the pong comes well within the timeout
    EXPECT_EQ(post(sid, "3")->status(), 200);
  }
  EXPECT_TRUE(closes_.empty());
}

TEST_F(EngineSessionTest, MissingPongClosesThePollingSession) {
  std::string sid = handshake();
  loop_.advance(499ms);
  EXPECT_EQ(server_->session_count(), 1u);
  loop_.advance(1ms);
  EXPECT_EQ(server_->session_count(), 0u);
  EXPECT_EQ(get(sid)->status(), 400);
  EXPECT_EQ(closes_, std::vector<std::string>{"ping timeout"});
}

TEST_F(EngineSessionTest, PingTimeoutAnswersAWaitingPollWithClose) {
  std::string sid = handshake();
  loop_.advance(300ms);
  EXPECT_EQ(get(sid)->body(), "2");
  auto poll = get(sid);
  loop_.advance(200ms);
  EXPECT_EQ(poll->body(), "1");
}

TEST_F(EngineSessionTest, WebSocketSessionOpensWithoutUpgrades) {
  auto ws = websocket("EIO=4&transport=websocket");
  ASSERT_TRUE(ws);
  ASSERT_EQ(ws->written.size(), 1u);
  const std::string open = ws->written[0].data;
  ASSERT_EQ(open.front(), '0');
  auto value = boost::json::parse(open.substr(1)).as_object();
  EXPECT_EQ(value.at("upgrades"), boost::json::array());
  EXPECT_EQ(value.at("pingInterval"), 300);
  ws->receive("4hello");
  ws->receive_binary(std::string("\x01\x02\x03\x04", 4));
  EXPECT_EQ(ws->texts(), (std::vector<std::string>{open, "4hello", "<bin:01020304>"}));
  EXPECT_EQ(ws->concurrent_writes, 0);
}

TEST_F(EngineSessionTest, BadWebSocketQueriesAreRefused) {
  EXPECT_FALSE(server_->resolve_websocket("transport=websocket"));
  EXPECT_FALSE(server_->resolve_websocket("EIO=abc&transport=websocket"));
  EXPECT_FALSE(server_->resolve_websocket("EIO=4"));
  EXPECT_FALSE(server_->resolve_websocket("EIO=4&transport=abc"));
  EXPECT_FALSE(server_->resolve_websocket("EIO=4&transport=websocket&sid=unknown"));
}

TEST_F(EngineSessionTest, InvalidWebSocketFrameClosesTheSession) {
  auto ws = websocket("EIO=4&transport=websocket");
  ws->receive("abc");
  EXPECT_TRUE(ws->closed);
  EXPECT_EQ(closes_, std::vector<std::string>{"parse error"});
  EXPECT_EQ(server_->session_count(), 0u);
}

TEST_F(EngineSessionTest, CloseFrameFromTheClientClosesTheWebSocket) {
  auto ws = websocket("EIO=4&transport=websocket");
  ws->receive("1");
  EXPECT_TRUE(ws->closed);
  EXPECT_EQ(server_->session_count(), 0u);
}

TEST_F(EngineSessionTest, WebSocketHeartbeat) {
  auto ws = websocket("EIO=4&transport=websocket");
  for (int i = 0; i < 3; ++i) {
    loop_.advance(300ms);
    EXPECT_EQ(ws->texts().back(), "2");
    ws->receive("3");
  }
  EXPECT_FALSE(ws->closed);
  loop_.advance(500ms);
  EXPECT_TRUE(ws->closed);
  EXPECT_EQ(closes_, std::vector<std::string>{"ping timeout"});
}

TEST_F(EngineSessionTest, PeerGoneClosesTheWebSocketSession) {
  auto ws = websocket("EIO=4&transport=websocket");
  ws->drop();
  EXPECT_EQ(closes_, std::vector<std::string>{"transport close"});
}

TEST_F(EngineSessionTest, UpgradeProbesAnswersPollsWithNoopAndFlushesAfterUpgrade) {
  std::string sid = handshake();
  auto waiting = get(sid);
  auto ws = websocket("EIO=4&transport=websocket&sid=" + sid);
  ASSERT_TRUE(ws);
  EXPECT_TRUE(ws->written.empty());  // no open packet on an upgrade
  ws->receive("2probe");
  EXPECT_EQ(ws->texts(), std::vector<std::string>{"3probe"});
  // The poll that was out ends with noop at the next tick (100 ms, as on the
  // reference server), and so does a later one.
  EXPECT_FALSE(waiting->answered());
  loop_.advance(100ms);
  EXPECT_EQ(waiting->body(), "6");
  auto during = get(sid);
  EXPECT_FALSE(during->answered());
  loop_.advance(100ms);
  EXPECT_EQ(during->body(), "6");
  // A message arriving meanwhile waits for the WebSocket.
  post(sid, "4buffered");
  // A poll still waiting when "upgrade" arrives is turned away: the client sent
  // it after the probe (the published suite's "ignore HTTP requests with same
  // sid after upgrade" sends both at once, and either may be read first).
  auto held = get(sid);
  ws->receive("5");
  EXPECT_EQ(held->status(), 400);
  EXPECT_EQ(ws->texts(), (std::vector<std::string>{"3probe", "4buffered"}));
  // Polling is over for this session, the WebSocket carries on.
  EXPECT_EQ(get(sid)->status(), 400);
  EXPECT_EQ(post(sid, "4x")->status(), 400);
  ws->receive("4hello");
  EXPECT_EQ(ws->texts().back(), "4hello");
  EXPECT_TRUE(closes_.empty());
}

TEST_F(EngineSessionTest, WaitingPollGetsNoopEvery100MsUntilTheUpgrade) {
  std::string sid = handshake();
  auto ws = websocket("EIO=4&transport=websocket&sid=" + sid);
  ws->receive("2probe");
  // A poll that slips in right at the probe is still answered within the interval.
  auto late = std::make_shared<FakeReply>();
  server_->handle_http("GET", "EIO=4&transport=polling&sid=" + sid, "", "", late);
  loop_.advance(100ms);
  EXPECT_EQ(late->body(), "6");
}

TEST_F(EngineSessionTest, UpgradeWithoutProbeOrWithJunkFailsAndPollingGoesOn) {
  std::string sid = handshake();
  auto ws = websocket("EIO=4&transport=websocket&sid=" + sid);
  ws->receive("5");  // upgrade before the probe
  EXPECT_TRUE(ws->closed);
  post(sid, "4still-polling");
  EXPECT_EQ(get(sid)->body(), "4still-polling");
  EXPECT_TRUE(closes_.empty());
}

TEST_F(EngineSessionTest, ProbeThatNeverCompletesTimesOut) {
  options_.ping_interval = 60s;
  make_server();
  std::string sid = handshake();
  auto ws = websocket("EIO=4&transport=websocket&sid=" + sid);
  ws->receive("2probe");
  loop_.advance(options_.upgrade_timeout);
  EXPECT_TRUE(ws->closed);
  post(sid, "4back");
  EXPECT_EQ(get(sid)->body(), "4back");
}

TEST_F(EngineSessionTest, ProbeSocketGoingAwayResumesPolling) {
  std::string sid = handshake();
  auto ws = websocket("EIO=4&transport=websocket&sid=" + sid);
  ws->receive("2probe");
  post(sid, "4kept");
  ws->drop();
  EXPECT_EQ(get(sid)->body(), "4kept");
}

TEST_F(EngineSessionTest, SecondWebSocketForASessionIsClosed) {
  std::string sid = handshake();
  auto ws = websocket("EIO=4&transport=websocket&sid=" + sid);
  ws->receive("2probe");
  ws->receive("5");
  auto second = websocket("EIO=4&transport=websocket&sid=" + sid);
  ASSERT_TRUE(second);
  EXPECT_TRUE(second->closed);
  ws->receive("4hello");
  EXPECT_EQ(ws->texts().back(), "4hello");
  EXPECT_FALSE(ws->closed);
}

TEST_F(EngineSessionTest, FullWriteQueueClosesASlowClient) {
  options_.max_queued_packets = 3;
  make_server();
  std::string sid = handshake();
  EXPECT_EQ(post(sid,
                 "4a\x1e"
                 "4b\x1e"
                 "4c")
                ->body(),
            "ok");
  EXPECT_EQ(server_->session_count(), 1u);
  post(sid, "4d");
  EXPECT_EQ(server_->session_count(), 0u);
  EXPECT_EQ(closes_, std::vector<std::string>{"write queue full"});
}

TEST_F(EngineSessionTest, SessionLimitRefusesHandshakes) {
  options_.max_sessions = 1;
  make_server();
  handshake();
  EXPECT_EQ(http("GET", "EIO=4&transport=polling")->status(), 503);
  EXPECT_FALSE(server_->resolve_websocket("EIO=4&transport=websocket"));
}

TEST_F(EngineSessionTest, CloseAllEndsEverySession) {
  std::string sid = handshake();
  auto poll = get(sid);
  auto ws = websocket("EIO=4&transport=websocket");
  server_->close_all("server shutting down");
  loop_.run_ready();
  EXPECT_EQ(poll->body(), "1");
  EXPECT_TRUE(ws->closed);
  EXPECT_EQ(server_->session_count(), 0u);
  EXPECT_EQ(http("GET", "EIO=4&transport=polling")->status(), 503);
}

TEST_F(EngineSessionTest, HeldReadingPausesTheWebSocketUntilTheLastRelease) {
  auto ws = websocket("EIO=4&transport=websocket");
  auto session = opened_.at(0).lock();
  ASSERT_TRUE(session);
  session->hold_reading();
  session->hold_reading();
  EXPECT_TRUE(ws->paused);
  ws->receive("4a");  // waits in the socket, unread
  ws->receive("4b");
  EXPECT_EQ(ws->texts().size(), 1u);  // the open packet only
  session->release_reading();
  loop_.run_ready();
  EXPECT_TRUE(ws->paused);  // one hold is left
  EXPECT_EQ(ws->texts().size(), 1u);
  session->release_reading();
  loop_.run_ready();
  EXPECT_FALSE(ws->paused);
  EXPECT_EQ(ws->pauses, 1u);
  EXPECT_EQ(ws->texts(), (std::vector<std::string>{ws->texts()[0], "4a", "4b"}));
  session->release_reading();  // one too many: nothing happens
  EXPECT_FALSE(session->reading_held());
}

TEST_F(EngineSessionTest, HeldReadingDelaysThePostAnswerAndRefusesAnOverlappingPost) {
  std::string sid = handshake();
  auto session = opened_.at(0).lock();
  ASSERT_TRUE(session);
  session->hold_reading();
  auto held = post(sid, "4a");
  EXPECT_FALSE(held->answered());     // the client sends nothing more meanwhile
  EXPECT_EQ(get(sid)->body(), "4a");  // its packets were taken
  session->release_reading();
  EXPECT_EQ(held->body(), "ok");

  // A client that posts again before the answer reads past the backpressure.
  session->hold_reading();
  auto first = post(sid, "4b");
  auto second = post(sid, "4c");
  EXPECT_EQ(second->status(), 400);
  EXPECT_EQ(first->body(), "ok");  // the session closed: the waiting answer goes out
  EXPECT_EQ(closes_, std::vector<std::string>{"transport error"});
}

TEST_F(EngineSessionTest, HeldReadingCarriesOverToTheUpgradedWebSocket) {
  std::string sid = handshake();
  auto session = opened_.at(0).lock();
  auto ws = websocket("EIO=4&transport=websocket&sid=" + sid);
  ws->receive("2probe");
  session->hold_reading();
  EXPECT_FALSE(ws->paused);  // the probe is not the transport yet
  ws->receive("5");
  EXPECT_EQ(session->transport(), Transport::kWebSocket);
  EXPECT_TRUE(ws->paused);
  session->release_reading();
  EXPECT_FALSE(ws->paused);
}

TEST_F(EngineSessionTest, AClientSlowToTakeItsPacketsIsNotReadUntilTheyHaveGone) {
  options_.hold_reading_at_packets = 3;
  make_server();
  std::string sid = handshake();
  // Three echoes wait for a poll: the post that caused them is answered only
  // once the client has taken them, so it sends no more meanwhile.
  auto held = post(sid,
                   "4a\x1e"
                   "4b\x1e"
                   "4c");
  EXPECT_FALSE(held->answered());
  EXPECT_TRUE(opened_.at(0).lock()->reading_held());
  EXPECT_EQ(get(sid)->body(),
            "4a\x1e"
            "4b\x1e"
            "4c");
  EXPECT_EQ(held->body(), "ok");
  EXPECT_FALSE(opened_.at(0).lock()->reading_held());
  // Below the mark nothing waits.
  EXPECT_EQ(post(sid, "4d")->body(), "ok");
}

TEST_F(EngineSessionTest, AWebSocketSlowToTakeItsFramesIsNotRead) {
  options_.hold_reading_at_packets = 2;
  make_server();
  std::string sid = handshake();
  auto ws = websocket("EIO=4&transport=websocket&sid=" + sid);
  ws->receive("2probe");
  ws->receive("5");
  ws->hold_writes = true;  // the client does not read: the first write never ends
  ws->receive("4a");
  EXPECT_FALSE(ws->paused);
  ws->receive("4b");
  ws->receive("4c");  // two frames wait behind the write in progress
  EXPECT_TRUE(ws->paused);
  ws->finish_write();
  EXPECT_FALSE(ws->paused);
}

TEST_F(EngineSessionTest, ClosingAnswersAHeldPost) {
  std::string sid = handshake();
  auto session = opened_.at(0).lock();
  session->hold_reading();
  auto held = post(sid, "4a");
  EXPECT_FALSE(held->answered());
  session->close("server close");
  EXPECT_EQ(held->body(), "ok");
}

}  // namespace
}  // namespace insightd::socketio
