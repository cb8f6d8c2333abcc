#include "app/lifecycle.h"

#include <algorithm>
#include <cassert>

namespace insightd::app {

Lifecycle::~Lifecycle() {
  stop();
}

void Lifecycle::add(Stage stage) {
  assert(!start_called_);
  assert(std::none_of(stages_.begin(), stages_.end(),
                      [&stage](const Stage& s) { return s.stop_at == stage.stop_at; }));
  stages_.push_back(std::move(stage));
}

Status Lifecycle::start() {
  assert(!start_called_);
  start_called_ = true;
  started_.reserve(stages_.size());
  for (size_t i = 0; i < stages_.size(); ++i) {
    if (Status s = stages_[i].start(); !s) {
      stop();
      return s;
    }
    started_.push_back(i);
  }
  return Status::ok();
}

void Lifecycle::stop() {
  // Taken out first, so that a stop() reached again (a destructor) finds nothing.
  std::vector<size_t> to_stop;
  to_stop.swap(started_);
  std::sort(to_stop.begin(), to_stop.end(),
            [this](size_t a, size_t b) { return stages_[a].stop_at < stages_[b].stop_at; });
  for (size_t i : to_stop) stages_[i].stop();
}

}  // namespace insightd::app
