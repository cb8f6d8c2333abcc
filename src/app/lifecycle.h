// The start-up and shutdown order of a process's components, kept in one
// table. Each stage says how it starts (which may fail), how it stops, and its
// place in the shutdown. start() runs the stages in the order they were added;
// when one fails, the stages already started are stopped, by their place in
// the shutdown, before the failure is returned. stop() stops the started stages
// in that same order, each exactly once; calling it again does nothing.
//
// The shutdown has its own order rather than the reverse of the start-up
// because a server's two orders are not mirror images: its HTTP server opens
// before the sealer and the live stream yet closes before them, and its
// workers start last (once the port is bound) yet also stop last (after the
// writer has committed what is queued). app/server.cpp holds the table.
#pragma once

#include <functional>
#include <vector>

#include "core/result.h"

namespace insightd::app {

class Lifecycle {
 public:
  struct Stage {
    // The shutdown stops the started stages by ascending stop_at; two stages
    // of one Lifecycle never share a value.
    int stop_at = 0;
    std::function<Status()> start;
    std::function<void()> stop;
  };

  Lifecycle() = default;
  // Stops what is still started.
  ~Lifecycle();
  Lifecycle(const Lifecycle&) = delete;
  Lifecycle& operator=(const Lifecycle&) = delete;

  // Appends a stage; only before start().
  void add(Stage stage);

  // Starts every stage in order. On the first failure, stops the started
  // stages (by stop_at) and returns that failure; the stage that failed is not
  // stopped. Called at most once.
  Status start();

  // Stops the started stages by stop_at, each once. Idempotent.
  void stop();

 private:
  std::vector<Stage> stages_;    // in start order
  std::vector<size_t> started_;  // indexes into stages_, in start order
  bool start_called_ = false;
};

}  // namespace insightd::app
