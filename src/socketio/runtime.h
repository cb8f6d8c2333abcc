// How the protocol code meets threads and time, so that it runs the same under the
// Beast binding (an Asio strand and steady timers) and in unit tests (a manual
// loop whose clock moves only when the test says so).
//
// Every Engine.IO session lives on one SessionContext: all of its state is touched
// only by tasks of that context, one at a time, so the protocol code needs no locks.
#pragma once

#include <functional>
#include <memory>

#include "core/time.h"

namespace insightd::socketio {

// A one-shot timer of one context.
class Timer {
 public:
  virtual ~Timer() = default;
  // Runs `fn` on the context after `delay`, replacing what was started before.
  virtual void start(Millis delay, std::function<void()> fn) = 0;
  // Nothing started before runs any more. Also done by the destructor.
  virtual void cancel() = 0;
};

class SessionContext {
 public:
  virtual ~SessionContext() = default;
  // Runs `task` on the context later. Thread-safe. After the server stopped, the
  // task is dropped.
  virtual void post(std::function<void()> task) = 0;
  // Runs `task` at once when called on the context, else posts it. Thread-safe.
  virtual void dispatch(std::function<void()> task) = 0;
  // Whether the caller runs on the context now (dispatch would run at once).
  virtual bool running_here() const = 0;
  virtual std::unique_ptr<Timer> make_timer() = 0;
};

}  // namespace insightd::socketio
