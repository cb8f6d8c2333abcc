#include "store/sqlite/write_gate.h"

#include <fmt/format.h>

#include <algorithm>
#include <unordered_map>
#include <vector>

namespace insightd::store {
namespace {

// The gates this thread holds: taking one twice would wait forever.
thread_local std::vector<const WriteGate*> held_here;

}  // namespace

std::shared_ptr<WriteGate> WriteGate::for_file(const std::string& path) {
  static std::mutex mu;
  static std::unordered_map<std::string, std::weak_ptr<WriteGate>> gates;
  std::lock_guard lock(mu);
  for (auto it = gates.begin(); it != gates.end();) {
    it = it->second.expired() ? gates.erase(it) : std::next(it);
  }
  if (auto gate = gates[path].lock()) return gate;
  auto gate = std::make_shared<WriteGate>();
  gates[path] = gate;
  return gate;
}

Status WriteGate::acquire(WritePriority priority, Millis timeout) {
  if (std::find(held_here.begin(), held_here.end(), this) != held_here.end()) {
    return make_error(ErrorCode::kInternal,
                      "sqlite: this thread already writes to this database on another connection");
  }
  std::unique_lock lock(mu_);
  if (!held_) {
    held_ = true;
    last_ = priority;
  } else {
    Waiter me;
    auto& queue = waiting_[index(priority)];
    queue.push_back(&me);
    if (!me.cv.wait_for(lock, timeout, [&] { return me.granted; })) {
      queue.erase(std::find(queue.begin(), queue.end(), &me));
      return make_error(ErrorCode::kUnavailable,
                        fmt::format("sqlite: waited {} ms for the write lock", timeout.count()));
    }
  }
  held_here.push_back(this);
  return Status::ok();
}

size_t WriteGate::waiters() {
  std::lock_guard lock(mu_);
  return waiting_[0].size() + waiting_[1].size();
}

void WriteGate::release() {
  if (auto it = std::find(held_here.begin(), held_here.end(), this); it != held_here.end()) {
    held_here.erase(it);
  }
  std::lock_guard lock(mu_);
  auto& ingest = waiting_[index(WritePriority::kIngest)];
  auto& background = waiting_[index(WritePriority::kBackground)];
  if (ingest.empty() && background.empty()) {
    held_ = false;
    return;
  }
  // Both wait: the other kind than the last turn's. One waits: that one.
  WritePriority next = ingest.empty() ? WritePriority::kBackground : WritePriority::kIngest;
  if (!ingest.empty() && !background.empty()) {
    next = last_ == WritePriority::kIngest ? WritePriority::kBackground : WritePriority::kIngest;
  }
  auto& queue = waiting_[index(next)];
  Waiter* w = queue.front();
  queue.pop_front();
  w->granted = true;
  last_ = next;
  w->cv.notify_one();  // under the lock: `w` lives on its waiter's stack
}

}  // namespace insightd::store
