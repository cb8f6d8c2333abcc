// What a limiter offers so that several nodes can enforce one limit together
// (cluster/cluster.h syncs them through Redis). Kept here, free of I/O, so
// that the limiters need nothing of Redis.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace insightd {

// A limiter whose admissions count across the nodes (a token bucket per key).
class SharedCounts {
 public:
  virtual ~SharedCounts() = default;
  // Per key seen since the last call, how many this node admitted (0 for a key
  // it only refused: it still wants to hear of the others' admissions).
  virtual std::vector<std::pair<std::string, uint64_t>> take_admitted() = 0;
  // Other nodes admitted `n` for `key` since the last report.
  virtual void admitted_elsewhere(const std::string& key, uint64_t n) = 0;
};

// For SharedCounts::take_admitted(): the entries of `by_key` (a map to a
// struct with `uint64_t admitted` and `bool seen`) seen since the last call,
// with their admissions, both then reset. The caller holds the map's lock.
template <typename Map>
std::vector<std::pair<std::string, uint64_t>> take_seen_admissions(Map& by_key) {
  std::vector<std::pair<std::string, uint64_t>> out;
  for (auto& [key, entry] : by_key) {
    if (!entry.seen) continue;
    out.emplace_back(key, entry.admitted);
    entry.admitted = 0;
    entry.seen = false;
  }
  return out;
}

// A per-key figure the nodes add up (open connections per address).
class SharedGauges {
 public:
  virtual ~SharedGauges() = default;
  // This node's figure for every key worth sharing (those at 0 may be left out).
  virtual std::vector<std::pair<std::string, uint64_t>> local_values() = 0;
  // The sum of the other nodes' figures per key; keys not named are 0 elsewhere.
  virtual void set_elsewhere(std::unordered_map<std::string, uint64_t> values) = 0;
};

// A short-lived cache of figures that are costly to compute (the admin API's
// counts), shared by the nodes. get() and put() may wait a little (a round
// trip), so only paths that may block use it; both give up quietly.
class SharedCache {
 public:
  virtual ~SharedCache() = default;
  virtual std::optional<std::string> get(std::string_view name) = 0;
  virtual void put(std::string_view name, std::string_view value,
                   std::chrono::milliseconds ttl) = 0;
};

}  // namespace insightd
