#include "socketio/testing/test_runtime.h"

#include <algorithm>
#include <cstdio>
#include <utility>

namespace insightd::socketio::testing {

class ManualTimer final : public Timer {
 public:
  explicit ManualTimer(ManualLoop* loop)
      : loop_(loop), state_(std::make_shared<ManualLoop::TimerState>()) {
    loop_->timers_.push_back(state_);
  }
  ~ManualTimer() override { cancel(); }

  void start(Millis delay, std::function<void()> fn) override {
    state_->due = loop_->now_ + delay;
    state_->armed = true;
    state_->fn = std::move(fn);
  }
  void cancel() override {
    state_->armed = false;
    state_->fn = nullptr;
  }

 private:
  ManualLoop* loop_;
  std::shared_ptr<ManualLoop::TimerState> state_;
};

class ManualContext final : public SessionContext {
 public:
  explicit ManualContext(ManualLoop* loop) : loop_(loop) {}
  void post(std::function<void()> task) override { loop_->tasks_.push_back(std::move(task)); }
  void dispatch(std::function<void()> task) override {
    if (loop_->running_) return task();
    post(std::move(task));
  }
  bool running_here() const override { return loop_->running_; }
  std::unique_ptr<Timer> make_timer() override { return std::make_unique<ManualTimer>(loop_); }

 private:
  ManualLoop* loop_;
};

std::shared_ptr<SessionContext> ManualLoop::context() {
  return std::make_shared<ManualContext>(this);
}

void ManualLoop::run_ready() {
  bool was_running = std::exchange(running_, true);
  while (!tasks_.empty()) {
    auto task = std::move(tasks_.front());
    tasks_.pop_front();
    task();
  }
  running_ = was_running;
}

void ManualLoop::advance(Millis d) {
  Millis target = now_ + d;
  run_ready();
  for (;;) {
    std::shared_ptr<TimerState> next;
    std::erase_if(timers_, [](const auto& weak) { return weak.expired(); });
    for (auto& weak : timers_) {
      auto timer = weak.lock();
      if (timer && timer->armed && timer->due <= target && (!next || timer->due < next->due)) {
        next = timer;
      }
    }
    if (!next) break;
    now_ = std::max(now_, next->due);
    next->armed = false;
    auto fn = std::move(next->fn);
    next->fn = nullptr;
    bool was_running = std::exchange(running_, true);
    if (fn) fn();
    running_ = was_running;
    run_ready();
  }
  now_ = target;
}

void FakeWs::write(std::vector<WsFrame> frames) {
  if (writing_) ++concurrent_writes;
  writing_ = true;
  for (auto& frame : frames) {
    // As the bytes on the wire would read: the lead byte joins the text.
    if (frame.lead != 0) frame.data.insert(frame.data.begin(), std::exchange(frame.lead, 0));
    written.push_back(std::move(frame));
  }
  if (hold_writes) return;
  loop_->context()->post([self = shared_from_this()] { self->write_done(); });
}

void FakeWs::write_done() {
  if (!writing_) return;
  writing_ = false;
  if (auto s = session.lock()) s->on_ws_written(*this);
}

void FakeWs::finish_write() {
  hold_writes = false;
  write_done();
  loop_->run_ready();
}

void FakeWs::close() {
  if (closed) return;
  closed = true;
  loop_->context()->post([self = shared_from_this()] {
    if (auto session = self->session.lock()) session->on_ws_closed(*self);
  });
}

std::vector<std::string> FakeWs::texts() const {
  std::vector<std::string> out;
  for (const WsFrame& frame : written)
    out.push_back(frame.binary ? "<bin:" + hex(frame.data) + ">" : frame.data);
  return out;
}

void FakeWs::pause_reading(bool pause) {
  if (pause && !paused) ++pauses;
  paused = pause;
  // Resuming delivers what waited, as a later task (a socket read completes later).
  if (!paused && !unread.empty()) {
    loop_->context()->post([self = shared_from_this()] {
      while (!self->paused && !self->unread.empty()) {
        WsFrame frame = std::move(self->unread.front());
        self->unread.pop_front();
        if (auto s = self->session.lock()) s->on_ws_frame(*self, frame.binary, frame.data);
      }
    });
  }
}

void FakeWs::deliver(bool binary, std::string data) {
  if (paused) {
    unread.push_back(WsFrame{binary, std::move(data)});
  } else if (auto s = session.lock()) {
    s->on_ws_frame(*this, binary, data);
  }
  loop_->run_ready();
}

void FakeWs::receive(std::string text) {
  deliver(false, std::move(text));
}

void FakeWs::receive_binary(std::string bytes) {
  deliver(true, std::move(bytes));
}

void FakeWs::drop() {
  closed = true;
  if (auto s = session.lock()) s->on_ws_closed(*this);
  loop_->run_ready();
}

std::string hex(std::string_view bytes) {
  std::string out;
  char buf[3];
  for (unsigned char c : bytes) {
    std::snprintf(buf, sizeof buf, "%02x", c);
    out += buf;
  }
  return out;
}

}  // namespace insightd::socketio::testing
