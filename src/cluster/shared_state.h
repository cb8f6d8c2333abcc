// The shared state that waits on Redis (a round trip, on the blocking paths):
// the failed-login limit and the admin figures' cache. Both go through
// Cluster::call(), so neither waits while Redis is known to be down: the
// login limit then falls back to each node's own, the cache to computing.
#pragma once

#include "auth/login_rate_limiter.h"
#include "cluster/cluster.h"
#include "core/shared_counts.h"

namespace insightd::cluster {

// Failed logins per client in a sorted set per client (scored by Redis's own
// clock, so the nodes' clocks need not agree), judged and counted in one
// script: two nodes cannot both admit the attempt that crosses the limit.
class RedisLoginLimit : public auth::SharedLoginLimit {
 public:
  explicit RedisLoginLimit(Cluster& cluster) : cluster_(cluster) {}
  std::optional<Millis> start_attempt(std::string_view client, std::string_view attempt,
                                      const auth::LoginRateLimit& limit) override;
  void record_success(std::string_view client) override;
  void forget_attempt(std::string_view client, std::string_view attempt) override;

 private:
  std::string key(std::string_view client) const;
  Cluster& cluster_;
};

class RedisCache : public SharedCache {
 public:
  explicit RedisCache(Cluster& cluster) : cluster_(cluster) {}
  std::optional<std::string> get(std::string_view name) override;
  void put(std::string_view name, std::string_view value, std::chrono::milliseconds ttl) override;

 private:
  Cluster& cluster_;
};

}  // namespace insightd::cluster
