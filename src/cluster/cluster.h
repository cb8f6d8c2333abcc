// Cluster: what the nodes of one deployment share through Redis (REDIS_URL).
//
//  - Live fan-out: each node publishes its committed events (coalesced: what
//    piles up while a PUBLISH is on its way goes in the next, at most the
//    newest 1,000) on one channel, only while some other node has a dashboard
//    open; each node with a dashboard open subscribes and relays what the
//    others publish.
//  - Shared counts: limiters keep their token buckets locally and report what
//    they admitted; every `sync_every` the cluster adds it to a counter in
//    Redis per (limiter, key) and hands each limiter what the other nodes
//    admitted since, which it takes from its buckets too. So N nodes together
//    admit what one would, give or take one sync period.
//  - Shared gauges (open connections per address): every second each node
//    writes its own figure per key with a deadline and learns the sum of the
//    others'.
//  - call(): one command on a connection of its own, for the paths that may
//    wait a little (sign-in, the admin figures' cache), and never while Redis
//    is known to be down.
//
// Redis down: everything above carries on per node (local fan-out, local
// limits); one warning per outage, reconnection with backoff (100 ms doubling
// to 5 s), `insightd_redis_up` 0. Nothing on the ingest path waits on Redis:
// limiters only read their local buckets, publishing only appends to a queue.
#pragma once

#include <atomic>
#include <boost/json/array.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "cluster/redis.h"
#include "core/shared_counts.h"

namespace insightd::obs {
class Registry;
}

namespace insightd::cluster {

using insightd::SharedCounts;
using insightd::SharedGauges;

struct ClusterOptions {
  std::string node;                  // this node's name (runtime/node_name.h)
  std::string prefix = "insightd:";  // of every key and channel
  std::chrono::milliseconds sync_every{50};
  std::chrono::milliseconds gauges_every{1'000};
  // Connect and reply, for the two threads: generous, since a busy machine
  // can keep a healthy Redis from answering for a moment, and a false outage
  // costs a warning and the live events piled up meanwhile.
  std::chrono::milliseconds timeout{2'000};
  // The same for call(), whose callers (sign-in, the admin figures) wait.
  std::chrono::milliseconds call_timeout{500};
  std::chrono::milliseconds backoff_min{100};
  std::chrono::milliseconds backoff_max{5'000};
  size_t max_live_events = 1'000;  // per message: what piles up beyond goes, oldest first
};

class Cluster {
 public:
  using LiveReceiver = std::function<void(boost::json::array events)>;

  // `metrics` (optional) gets insightd_redis_up and the message counters; it
  // must outlive the cluster.
  Cluster(RedisEndpoint endpoint, ClusterOptions options, obs::Registry* metrics = nullptr);
  ~Cluster();
  Cluster(const Cluster&) = delete;
  Cluster& operator=(const Cluster&) = delete;

  // Registration, before start(); the objects must outlive the cluster's stop().
  void share_counts(std::string name, SharedCounts& counts);
  void share_gauges(std::string name, SharedGauges& gauges);
  // Receives the events other nodes publish, on the subscriber's thread, while
  // this node watches (set_watching(true)).
  void on_live(LiveReceiver receiver);

  // Starts the two threads; Redis need not be up (they keep trying).
  void start();
  void stop();

  bool up() const { return up_.load(std::memory_order_relaxed); }
  size_t max_live_events() const { return options_.max_live_events; }
  const std::string& node() const { return options_.node; }
  const RedisEndpoint& endpoint() const { return endpoint_; }
  // Whether another node has a dashboard open (as of the last sync; false
  // while Redis is down).
  bool others_watching() const { return others_watching_.load(std::memory_order_relaxed); }
  // This node has a dashboard open: it subscribes to the others' events.
  void set_watching(bool watching);
  // Queues committed events (as the live stream's JSON) for the other nodes;
  // keeps the newest `max_live_events` of what waits. Never blocks on Redis.
  void publish_live(std::vector<boost::json::object> events);

  // One command, on the blocking paths: nullopt when Redis is down, slow or
  // refuses it (an error reply is returned as a reply).
  std::optional<RedisReply> call(const RedisArgs& args);
  // prefix + name.
  std::string key(std::string_view name) const;

 private:
  // What this node knows of one shared count.
  struct Tracked {
    bool seen = false;   // read at least once
    int64_t global = 0;  // the count's total after our last sync
    std::chrono::steady_clock::time_point last_seen;
  };
  struct Shared {
    std::string name;
    SharedCounts* counts = nullptr;
    SharedGauges* gauges = nullptr;
    std::map<std::string, Tracked> tracked;  // counts: keys active lately
  };

  void sync_loop();
  void subscribe_loop();
  Status sync_once(RedisConnection& conn, bool counts_due, bool gauges_due);
  Status sync_gauges(RedisConnection& conn, Shared& s);
  void set_up(bool up, const std::string& why);
  std::chrono::milliseconds next_backoff(int failures) const;

  const RedisEndpoint endpoint_;
  const ClusterOptions options_;
  const std::string live_channel_;

  std::vector<Shared> shared_;  // set before start(), then the sync thread's
  LiveReceiver live_receiver_;

  std::atomic<bool> up_{false};
  std::atomic<bool> others_watching_{false};
  std::atomic<bool> watching_{false};
  std::atomic<bool> subscribed_{false};  // the subscriber listens (its own NUMSUB)
  std::atomic<bool> stopping_{false};
  std::mutex state_mu_;  // outage bookkeeping
  bool warned_ = false;  // this outage was reported
  bool ever_up_ = false;

  std::mutex mu_;                   // the sync thread's queue and wake-up
  std::condition_variable cv_;      // the sync thread waits on it
  std::condition_variable sub_cv_;  // the subscriber waits on it
  std::vector<boost::json::object> live_out_;
  bool wake_ = false;

  std::mutex call_mu_;
  std::optional<RedisConnection> call_conn_;

  std::thread sync_thread_;
  std::thread sub_thread_;
  obs::Registry* metrics_;
  struct Counters;
  std::unique_ptr<Counters> counters_;
};

}  // namespace insightd::cluster
