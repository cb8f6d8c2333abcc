// A SessionContext for tests: one manual loop that runs posted tasks when asked
// and whose clock moves only through advance(), firing due timers in order.
// Single-threaded: tests drive sessions from the test thread.
#pragma once

#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "socketio/engineio_session.h"
#include "socketio/runtime.h"

namespace insightd::socketio::testing {

// Contexts and timers refer to the loop by pointer: it must outlive them.
class ManualLoop {
 public:
  // A context on this loop (all contexts share the loop and its clock).
  std::shared_ptr<SessionContext> context();

  // Runs posted tasks until there are none.
  void run_ready();
  // Moves the clock by `d`, firing every timer that falls due on the way (each at
  // its own time) and running what they post.
  void advance(Millis d);
  Millis now() const { return now_; }

 private:
  friend class ManualContext;
  friend class ManualTimer;
  struct TimerState {
    Millis due{0};
    bool armed = false;
    std::function<void()> fn;
  };

  std::deque<std::function<void()>> tasks_;
  std::vector<std::weak_ptr<TimerState>> timers_;
  Millis now_{0};
  bool running_ = false;
};

// An HTTP answer slot that records what it got.
class FakeReply final : public HttpReply {
 public:
  void send(HttpAnswer answer) override {
    ++sends;
    if (!answer_) answer_ = std::move(answer);
  }
  void on_abandoned(std::function<void()> fn) override { abandoned_ = std::move(fn); }

  bool answered() const { return answer_.has_value(); }
  int status() const { return answer_ ? answer_->status : 0; }
  const std::string& body() const { return answer_->body; }
  // The client goes away.
  void abandon() {
    if (abandoned_) std::exchange(abandoned_, nullptr)();
  }

  int sends = 0;

 private:
  std::optional<HttpAnswer> answer_;
  std::function<void()> abandoned_;
};

// A WebSocket whose writes complete (and closes report) as tasks on the loop.
class FakeWs final : public WsChannel, public std::enable_shared_from_this<FakeWs> {
 public:
  explicit FakeWs(ManualLoop* loop) : loop_(loop) {}

  void write(std::vector<WsFrame> frames) override;
  void close() override;
  // Like a socket under backpressure: frames received while paused wait, in
  // order, and arrive when reading resumes.
  void pause_reading(bool paused) override;

  // The session that reads this channel (set once attached); weak, as the
  // session holds the channel.
  std::weak_ptr<EngineSession> session;
  std::vector<WsFrame> written;
  bool closed = false;
  int concurrent_writes = 0;  // > 1 would be a protocol-code bug
  bool paused = false;
  size_t pauses = 0;
  std::deque<WsFrame> unread;  // received while paused
  // A client that does not read: writes stay in progress until finish_write().
  bool hold_writes = false;
  void finish_write();

  // Texts of the written frames, binary ones as "<bin:HEX>".
  std::vector<std::string> texts() const;
  // Delivers a frame from the client.
  void receive(std::string text);
  void receive_binary(std::string bytes);
  // The client goes away.
  void drop();

 private:
  void deliver(bool binary, std::string data);
  void write_done();

  ManualLoop* loop_;
  bool writing_ = false;
};

std::string hex(std::string_view bytes);

}  // namespace insightd::socketio::testing
