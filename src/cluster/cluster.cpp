#include "cluster/cluster.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/json.hpp>

#include "core/thread_name.h"
#include "obs/metrics.h"

namespace insightd::cluster {
namespace {

using SteadyClock = std::chrono::steady_clock;

// Keys a limiter has not seen for this long stop being synced.
constexpr auto kForgetAfter = std::chrono::seconds(5);
// Keys synced per limiter at most (each costs a command per sync); keys beyond
// are limited per node until others are forgotten.
constexpr size_t kMaxTrackedKeys = 2'000;
// A count expires 5 s after any node last added to it.
constexpr std::string_view kCountTtlMs = "5000";

// Gauges: each node writes its figures (key -> value) into a hash of its own
// that expires unless written again, and names itself in the gauge's roll of
// nodes with a deadline; then it reads the other nodes' hashes still within
// theirs and returns the sum per key, flattened (key, sum, key, sum ...). A
// node that died drops out when its deadline passes.
// KEYS[1]: the roll; ARGV: node, ttl ms, then key, value pairs.
constexpr std::string_view kGaugeScript = R"lua(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[2])
local mine = KEYS[1] .. ':' .. ARGV[1]
redis.call('DEL', mine)
for i = 3, #ARGV, 2 do
  redis.call('HSET', mine, ARGV[i], ARGV[i + 1])
end
if #ARGV > 2 then redis.call('PEXPIRE', mine, ttl) end
redis.call('HSET', KEYS[1], ARGV[1], now + ttl)
redis.call('PEXPIRE', KEYS[1], ttl)
local sums = {}
local roll = redis.call('HGETALL', KEYS[1])
for i = 1, #roll, 2 do
  if roll[i] ~= ARGV[1] then
    if tonumber(roll[i + 1]) > now then
      local values = redis.call('HGETALL', KEYS[1] .. ':' .. roll[i])
      for j = 1, #values, 2 do
        sums[values[j]] = (sums[values[j]] or 0) + tonumber(values[j + 1])
      end
    else
      redis.call('HDEL', KEYS[1], roll[i])
    end
  end
end
local out = {}
for k, v in pairs(sums) do
  out[#out + 1] = k
  out[#out + 1] = tostring(v)
end
return out
)lua";

}  // namespace

struct Cluster::Counters {
  obs::Counter* published = nullptr;
  obs::Counter* received = nullptr;
};

Cluster::Cluster(RedisEndpoint endpoint, ClusterOptions options, obs::Registry* metrics)
    : endpoint_(std::move(endpoint)),
      options_(std::move(options)),
      live_channel_(options_.prefix + "live"),
      metrics_(metrics),
      counters_(std::make_unique<Counters>()) {
  if (metrics_ != nullptr) {
    metrics_->add_gauge_callback("insightd_redis_up",
                                 "1 while this node reaches Redis (REDIS_URL), 0 while it does "
                                 "not and carries on alone.",
                                 [this] { return up() ? 1.0 : 0.0; });
    counters_->published =
        &metrics_
             ->counter("insightd_redis_live_published_total",
                       "Committed events this node published for the other nodes' dashboards.")
             .with({});
    counters_->received = &metrics_
                               ->counter("insightd_redis_live_received_total",
                                         "Events of other nodes relayed to this node's dashboards.")
                               .with({});
  }
}

Cluster::~Cluster() {
  stop();
}

void Cluster::share_counts(std::string name, SharedCounts& counts) {
  shared_.push_back(Shared{.name = std::move(name), .counts = &counts});
}

void Cluster::share_gauges(std::string name, SharedGauges& gauges) {
  shared_.push_back(Shared{.name = std::move(name), .gauges = &gauges});
}

void Cluster::on_live(LiveReceiver receiver) {
  live_receiver_ = std::move(receiver);
}

std::string Cluster::key(std::string_view name) const {
  return options_.prefix + std::string(name);
}

void Cluster::start() {
  if (sync_thread_.joinable()) return;
  stopping_ = false;
  sync_thread_ = start_named_thread("redis-sync", [this] { sync_loop(); });
  sub_thread_ = start_named_thread("redis-subscribe", [this] { subscribe_loop(); });
}

void Cluster::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  sub_cv_.notify_all();
  if (sync_thread_.joinable()) sync_thread_.join();
  if (sub_thread_.joinable()) sub_thread_.join();
  up_ = false;
  others_watching_ = false;
}

void Cluster::set_watching(bool watching) {
  watching_.store(watching, std::memory_order_relaxed);
}

void Cluster::publish_live(std::vector<boost::json::object> events) {
  if (events.empty() || !up()) return;
  {
    std::lock_guard lock(mu_);
    for (auto& e : events) live_out_.push_back(std::move(e));
    if (live_out_.size() > options_.max_live_events) {
      live_out_.erase(live_out_.begin(),
                      live_out_.begin() +
                          static_cast<std::ptrdiff_t>(live_out_.size() - options_.max_live_events));
    }
    wake_ = true;
  }
  cv_.notify_one();  // the sync thread: the only one waiting on cv_
}

std::optional<RedisReply> Cluster::call(const RedisArgs& args) {
  if (!up()) return std::nullopt;
  // One call at a time; a caller that would wait for another does without
  // (the blocking pool's threads are for ingestion too).
  std::unique_lock lock(call_mu_, std::try_to_lock);
  if (!lock.owns_lock()) return std::nullopt;
  if (!call_conn_) {
    auto conn = RedisConnection::open(endpoint_, options_.call_timeout);
    if (!conn) return std::nullopt;
    call_conn_ = std::move(conn).value();
  }
  auto reply = call_conn_->command(args);
  if (!reply) {
    call_conn_.reset();
    return std::nullopt;
  }
  return std::move(reply).value();
}

std::chrono::milliseconds Cluster::next_backoff(int failures) const {
  auto d = options_.backoff_min;
  for (int i = 1; i < failures && d < options_.backoff_max; ++i) d *= 2;
  return std::min(d, options_.backoff_max);
}

void Cluster::set_up(bool up, const std::string& why) {
  std::lock_guard lock(state_mu_);
  const bool was = up_.exchange(up);
  if (up && !was) {
    if (!ever_up_) {
      spdlog::info(
          "[Redis] Connected to {}: live events, limits and the admin figures are shared "
          "with the other nodes",
          endpoint_.describe());
    } else {
      spdlog::info("[Redis] Reconnected to {}: sharing again", endpoint_.describe());
    }
    ever_up_ = true;
    warned_ = false;
  } else if (!up) {
    others_watching_ = false;
    if (!warned_) {
      spdlog::warn(
          "[Redis] {} is unreachable ({}): this node fans out and limits on its own until it "
          "is back (reconnecting with backoff)",
          endpoint_.describe(), why);
      warned_ = true;
    }
  }
}

void Cluster::sync_loop() {
  std::optional<RedisConnection> conn;
  int failures = 0;
  auto next_counts = SteadyClock::now();
  auto next_gauges = SteadyClock::now();
  while (!stopping_) {
    if (!conn) {
      auto opened = RedisConnection::open(endpoint_, options_.timeout);
      if (!opened) {
        set_up(false, opened.error().message);
        ++failures;
        std::unique_lock lock(mu_);
        live_out_.clear();  // nobody to hand them to; the next ones will do
        cv_.wait_for(lock, next_backoff(failures), [this] { return stopping_.load(); });
        continue;
      }
      conn = std::move(opened).value();
    }
    {
      // Woken early only to publish: the counts keep their own period.
      std::unique_lock lock(mu_);
      cv_.wait_until(lock, std::min(next_counts, next_gauges),
                     [this] { return wake_ || stopping_.load(); });
      wake_ = false;
    }
    if (stopping_) break;
    const auto now = SteadyClock::now();
    const bool counts_due = now >= next_counts;
    if (counts_due) next_counts = now + options_.sync_every;
    const bool gauges_due = now >= next_gauges;
    if (gauges_due) next_gauges = now + options_.gauges_every;
    if (Status s = sync_once(*conn, counts_due, gauges_due); !s) {
      conn.reset();
      {
        std::lock_guard lock(call_mu_);
        call_conn_.reset();
      }
      set_up(false, s.message());
      ++failures;
      std::unique_lock lock(mu_);
      cv_.wait_for(lock, next_backoff(failures), [this] { return stopping_.load(); });
      continue;
    }
    // Up once a whole sync went through (a Redis that accepts and then
    // refuses every command is not up).
    failures = 0;
    set_up(true, {});
  }
}

Status Cluster::sync_once(RedisConnection& conn, bool counts_due, bool gauges_due) {
  std::vector<RedisArgs> commands;
  std::vector<boost::json::object> live;
  {
    std::lock_guard lock(mu_);
    live.swap(live_out_);
  }
  size_t published = 0;
  if (!live.empty()) {
    boost::json::array events;
    events.reserve(live.size());
    for (auto& e : live) events.push_back(std::move(e));
    published = events.size();
    commands.push_back({"PUBLISH", live_channel_,
                        boost::json::serialize(boost::json::object{
                            {"node", options_.node}, {"events", std::move(events)}})});
  }
  if (counts_due) commands.push_back({"PUBSUB", "NUMSUB", live_channel_});
  // Counts: per (limiter, key) one counter of every node's admissions, kept
  // while any node adds to it (it expires 5 s after the last addition). Each
  // sync adds this node's admissions since the last one and reads the total:
  // what grew beyond our own addition is the others'. Keys this node saw
  // lately are read even without admissions of its own (a node refusing a key
  // must still hear of the others' admissions). A node new to a key charges
  // nothing for what was admitted before it looked.
  const auto now = SteadyClock::now();
  struct Pending {
    Shared* shared;
    std::string key;
    uint64_t delta;
  };
  std::vector<Pending> pending;
  for (Shared& s : shared_) {
    if (s.counts == nullptr || !counts_due) continue;
    std::map<std::string, uint64_t> deltas;
    for (auto& [k, n] : s.counts->take_admitted()) deltas[k] += n;
    for (auto& [k, n] : deltas) {
      if (s.tracked.size() < kMaxTrackedKeys || s.tracked.contains(k)) s.tracked[k].last_seen = now;
    }
    for (auto it = s.tracked.begin(); it != s.tracked.end();) {
      if (now - it->second.last_seen > kForgetAfter) {
        it = s.tracked.erase(it);
        continue;
      }
      const auto d = deltas.find(it->first);
      const uint64_t delta = d == deltas.end() ? 0 : d->second;
      const std::string key = fmt::format("{}count:{}:{}", options_.prefix, s.name, it->first);
      if (delta > 0) {
        commands.push_back({"INCRBY", key, std::to_string(delta)});
        commands.push_back({"PEXPIRE", key, std::string(kCountTtlMs)});
      } else {
        commands.push_back({"GET", key});  // INCRBY 0 would make a key that never expires
      }
      pending.push_back({&s, it->first, delta});
      ++it;
    }
  }
  auto replies = conn.pipeline(commands);  // none: no round trip
  if (!replies) return replies.error();
  for (const auto& r : *replies) {
    // NOAUTH, READONLY, OOM...: a Redis that refuses is not one to share through.
    if (r.is_error()) return make_error(ErrorCode::kUnavailable, "Redis refused: " + r.str);
  }
  size_t i = 0;
  if (published > 0) {
    ++i;
    if (counters_->published != nullptr) counters_->published->inc(published);
  }
  if (counts_due) {
    const RedisReply& numsub = (*replies)[i++];
    int64_t listeners = 0;
    if (numsub.type == RedisReply::Type::kArray && numsub.elements.size() == 2) {
      listeners = numsub.elements[1].as_integer().value_or(0);
    }
    if (subscribed_.load(std::memory_order_relaxed)) --listeners;  // this node's own
    others_watching_ = listeners > 0;
  }
  for (const Pending& p : pending) {
    const int64_t total = (*replies)[i].as_integer().value_or(0);  // nil: none
    i += p.delta > 0 ? 2 : 1;
    Tracked& t = p.shared->tracked[p.key];
    const auto delta = static_cast<int64_t>(p.delta);
    if (t.seen && total >= t.global + delta) {
      const int64_t elsewhere = total - t.global - delta;
      if (elsewhere > 0) {
        p.shared->counts->admitted_elsewhere(p.key, static_cast<uint64_t>(elsewhere));
      }
    }
    // Otherwise new to us, or the counter expired and started again: from here.
    t.seen = true;
    t.global = total;
  }
  if (gauges_due) {
    for (Shared& s : shared_) {
      if (s.gauges != nullptr) INSIGHTD_TRY(sync_gauges(conn, s));
    }
  }
  return Status::ok();
}

Status Cluster::sync_gauges(RedisConnection& conn, Shared& s) {
  RedisArgs args{"EVAL",        std::string(kGaugeScript),
                 "1",           fmt::format("{}gauge:{}", options_.prefix, s.name),
                 options_.node, std::to_string(3 * options_.gauges_every.count())};
  for (auto& [k, v] : s.gauges->local_values()) {
    if (v == 0) continue;
    args.push_back(k);
    args.push_back(std::to_string(v));
  }
  auto reply = conn.command(args);
  if (!reply) return reply.error();
  std::unordered_map<std::string, uint64_t> elsewhere;
  if (reply->type == RedisReply::Type::kArray) {
    for (size_t i = 0; i + 1 < reply->elements.size(); i += 2) {
      const auto sum = reply->elements[i + 1].as_integer();
      if (sum && *sum > 0) elsewhere[reply->elements[i].str] = static_cast<uint64_t>(*sum);
    }
  } else if (reply->is_error()) {
    spdlog::warn("[Redis] Sharing {}: {}", s.name, reply->str);
  }
  s.gauges->set_elsewhere(std::move(elsewhere));
  return Status::ok();
}

void Cluster::subscribe_loop() {
  std::optional<RedisConnection> conn;
  bool subscribed = false;
  int failures = 0;
  auto pause = [this](std::chrono::milliseconds d) {
    std::unique_lock lock(mu_);
    sub_cv_.wait_for(lock, d, [this] { return stopping_.load(); });
  };
  auto broken = [&] {
    conn.reset();
    subscribed = false;
    subscribed_ = false;
    pause(next_backoff(++failures));
  };
  while (!stopping_) {
    const bool want = watching_.load(std::memory_order_relaxed);
    if (!conn) {
      if (!want) {
        pause(std::chrono::milliseconds(100));
        continue;
      }
      auto opened = RedisConnection::open(endpoint_, options_.timeout);
      if (!opened) {
        pause(next_backoff(++failures));
        continue;
      }
      conn = std::move(opened).value();
      subscribed = false;
    }
    if (want != subscribed) {
      if (!conn->send({want ? "SUBSCRIBE" : "UNSUBSCRIBE", live_channel_})) {
        broken();
        continue;
      }
      subscribed = want;
      if (!want) subscribed_ = false;
    }
    auto reply = conn->next_reply(std::chrono::milliseconds(100));
    if (!reply) {
      broken();
      continue;
    }
    if (!*reply) continue;
    const RedisReply& r = **reply;
    if (r.is_error()) {  // NOAUTH and the like: not a subscriber
      broken();
      continue;
    }
    if (r.type != RedisReply::Type::kArray || r.elements.size() != 3) continue;
    if (r.elements[0].str == "subscribe") {
      subscribed_ = true;
      failures = 0;
      continue;
    }
    if (r.elements[0].str != "message") continue;
    boost::system::error_code ec;
    boost::json::value msg = boost::json::parse(r.elements[2].str, ec);
    if (ec || !msg.is_object()) continue;
    const auto* node = msg.as_object().if_contains("node");
    auto* events = msg.as_object().if_contains("events");
    if (node == nullptr || !node->is_string() || node->as_string() == options_.node ||
        events == nullptr || !events->is_array()) {
      continue;
    }
    if (counters_->received != nullptr) counters_->received->inc(events->as_array().size());
    if (live_receiver_) live_receiver_(std::move(events->as_array()));
  }
  subscribed_ = false;
}

}  // namespace insightd::cluster
