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
  // Whether a subscriber wants events now (say, a dashboard is watching). It
  // runs under the hub's lock: it must not call the hub.
  using Interest = std::function<bool()>;

  // Returns an id for unsubscribe(). Thread-safe. Without `wants`, the
  // subscriber always wants events.
  uint64_t subscribe(Subscriber subscriber, Interest wants = nullptr);
  void unsubscribe(uint64_t id);
  // Whether any subscriber wants events now: while none does, a publisher
  // need not gather them. Thread-safe.
  bool wanted() const;
  // Delivers `events` to every subscriber. Thread-safe.
  void publish(std::span<const StoredEvent> events);
  size_t subscriber_count() const;

 private:
  mutable std::mutex mu_;
  uint64_t next_id_ = 1;
  struct Entry {
    uint64_t id = 0;
    Subscriber subscriber;
    Interest wants;
  };
  std::vector<Entry> subscribers_;
};

}  // namespace insightd::ingest
