#include "ingest/live_hub.h"

#include <algorithm>

namespace insightd::ingest {

uint64_t LiveHub::subscribe(Subscriber subscriber, Interest wants) {
  std::lock_guard lock(mu_);
  const uint64_t id = next_id_++;
  subscribers_.push_back({id, std::move(subscriber), std::move(wants)});
  return id;
}

bool LiveHub::wanted() const {
  std::lock_guard lock(mu_);
  return std::any_of(subscribers_.begin(), subscribers_.end(),
                     [](const Entry& e) { return !e.wants || e.wants(); });
}

void LiveHub::unsubscribe(uint64_t id) {
  std::lock_guard lock(mu_);
  std::erase_if(subscribers_, [id](const Entry& e) { return e.id == id; });
}

void LiveHub::publish(std::span<const StoredEvent> events) {
  if (events.empty()) return;
  // Copy the list so a subscriber may unsubscribe (itself or another) meanwhile.
  std::vector<Subscriber> targets;
  {
    std::lock_guard lock(mu_);
    targets.reserve(subscribers_.size());
    for (const Entry& e : subscribers_) targets.push_back(e.subscriber);
  }
  for (const auto& s : targets) s(events);
}

size_t LiveHub::subscriber_count() const {
  std::lock_guard lock(mu_);
  return subscribers_.size();
}

}  // namespace insightd::ingest
