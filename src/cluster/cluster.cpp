#include "cluster/cluster.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/json.hpp>

#include "obs/metrics.h"

namespace insightd::cluster {
namespace {

using SteadyClock = std::chrono::steady_clock;

// Keys a limiter has not seen for this long stop being synced.
constexpr auto kForgetAfter = std::chrono::seconds(5);
// A second's count is read for two seconds at most; it expires after five.
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
if #ARGV > 2 then
  redis.call('HSET', mine, unpack(ARGV, 3))
  redis.call('PEXPIRE', mine, ttl)
end
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
  sync_thread_ = std::thread([this] { sync_loop(); });
  sub_thread_ = std::thread([this] { subscribe_loop(); });
}

void Cluster::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
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
  cv_.notify_one();
}

std::optional<RedisReply> Cluster::call(const RedisArgs& args) {
  if (!up()) return std::nullopt;
  std::lock_guard lock(call_mu_);
  if (!call_conn_) {
    auto conn = RedisConnection::open(endpoint_, options_.timeout);
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
      failures = 0;
      set_up(true, {});
    }
    {
      std::unique_lock lock(mu_);
      cv_.wait_for(lock, options_.sync_every, [this] { return wake_ || stopping_.load(); });
      wake_ = false;
    }
    if (stopping_) break;
    const auto now = SteadyClock::now();
    const bool gauges_due = now >= next_gauges;
    if (gauges_due) next_gauges = now + options_.gauges_every;
    if (Status s = sync_once(*conn, gauges_due); !s) {
      conn.reset();
      {
        std::lock_guard lock(call_mu_);
        call_conn_.reset();
      }
      set_up(false, s.message());
      ++failures;
    }
  }
}

Status Cluster::sync_once(RedisConnection& conn, bool gauges_due) {
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
  commands.push_back({"PUBSUB", "NUMSUB", live_channel_});
  // Counts: this node's admissions since the last sync, per key, and every key
  // active lately (to hear of the others' admissions while refusing).
  const auto now = SteadyClock::now();
  const int64_t window = std::chrono::duration_cast<std::chrono::seconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
  struct Pending {
    Shared* shared;
    std::string key;
    uint64_t delta;
    bool read_previous;  // a new window for us: what the last one holds too
  };
  std::vector<Pending> pending;
  for (Shared& s : shared_) {
    if (s.counts == nullptr) continue;
    std::map<std::string, uint64_t> deltas;
    for (auto& [k, n] : s.counts->take_admitted()) deltas[k] += n;
    for (auto& [k, n] : deltas) s.tracked[k].last_seen = now;
    for (auto it = s.tracked.begin(); it != s.tracked.end();) {
      if (now - it->second.last_seen > kForgetAfter) {
        it = s.tracked.erase(it);
        continue;
      }
      const auto d = deltas.find(it->first);
      const uint64_t delta = d == deltas.end() ? 0 : d->second;
      const std::string base = fmt::format("{}count:{}:{}:", options_.prefix, s.name, it->first);
      const std::string current = base + std::to_string(window);
      commands.push_back({"INCRBY", current, std::to_string(delta)});
      commands.push_back({"PEXPIRE", current, std::string(kCountTtlMs)});
      const bool read_previous = it->second.window != window;
      if (read_previous) commands.push_back({"GET", base + std::to_string(window - 1)});
      pending.push_back({&s, it->first, delta, read_previous});
      ++it;
    }
  }
  auto replies = conn.pipeline(commands);
  if (!replies) return replies.error();
  size_t i = 0;
  if (published > 0) {
    ++i;
    if (counters_->published != nullptr) counters_->published->inc(published);
  }
  {
    const RedisReply& numsub = (*replies)[i++];
    int64_t listeners = 0;
    if (numsub.type == RedisReply::Type::kArray && numsub.elements.size() == 2) {
      listeners = numsub.elements[1].as_integer().value_or(0);
    }
    if (watching_.load(std::memory_order_relaxed)) --listeners;  // this node's own
    others_watching_ = listeners > 0;
  }
  for (const Pending& p : pending) {
    const auto global = (*replies)[i].as_integer();
    i += 2;
    std::optional<int64_t> previous;
    if (p.read_previous) previous = (*replies)[i++].as_integer().value_or(0);
    if (!global) continue;
    Tracked& t = p.shared->tracked[p.key];
    const auto delta = static_cast<int64_t>(p.delta);
    int64_t elsewhere = 0;
    if (t.window == window) {
      elsewhere = *global - t.global - delta;
    } else if (t.window == window - 1) {
      elsewhere = (previous.value_or(0) - t.global) + (*global - delta);
    } else {
      elsewhere =
          previous.value_or(0) + (*global - delta);  // new to this key: the last second or two
    }
    if (elsewhere > 0)
      p.shared->counts->admitted_elsewhere(p.key, static_cast<uint64_t>(elsewhere));
    t.window = window;
    t.global = *global;
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
  while (!stopping_) {
    const bool want = watching_.load(std::memory_order_relaxed);
    if (!conn) {
      if (!want) {
        std::unique_lock lock(mu_);
        cv_.wait_for(lock, std::chrono::milliseconds(100), [this] { return stopping_.load(); });
        continue;
      }
      auto opened = RedisConnection::open(endpoint_, options_.timeout);
      if (!opened) {
        ++failures;
        std::unique_lock lock(mu_);
        cv_.wait_for(lock, next_backoff(failures), [this] { return stopping_.load(); });
        continue;
      }
      conn = std::move(opened).value();
      subscribed = false;
      failures = 0;
    }
    if (want != subscribed) {
      if (!conn->send({want ? "SUBSCRIBE" : "UNSUBSCRIBE", live_channel_})) {
        conn.reset();
        continue;
      }
      subscribed = want;
    }
    auto reply = conn->next_reply(std::chrono::milliseconds(100));
    if (!reply) {
      conn.reset();
      ++failures;
      continue;
    }
    if (!*reply) continue;
    const RedisReply& r = **reply;
    if (r.type != RedisReply::Type::kArray || r.elements.size() != 3 ||
        r.elements[0].str != "message") {
      continue;  // subscribe and unsubscribe confirmations
    }
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
}

}  // namespace insightd::cluster
