// In-process fan-out of committed events: the group-commit writer publishes each
// committed group once, and every subscriber (the dashboard's live stream, a
// cross-node relay) gets it right away. Subscribers run on the publisher's
// thread, so they must only hand the events on (post, enqueue), never block.
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <span>
#include <vector>

#include "core/model.h"

namespace insightd::ingest {

class LiveHub {
 public:
  using Subscriber = std::function<void(std::span<const StoredEvent>)>;

  // Returns an id for unsubscribe(). Thread-safe.
  uint64_t subscribe(Subscriber subscriber);
  void unsubscribe(uint64_t id);
  // Delivers `events` to every subscriber. Thread-safe.
  void publish(std::span<const StoredEvent> events);
  size_t subscriber_count() const;

 private:
  mutable std::mutex mu_;
  uint64_t next_id_ = 1;
  std::vector<std::pair<uint64_t, Subscriber>> subscribers_;
};

}  // namespace insightd::ingest
