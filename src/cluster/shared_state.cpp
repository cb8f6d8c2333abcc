#include "cluster/shared_state.h"

#include <string>

namespace insightd::cluster {
namespace {

// KEYS[1]: the client's failures; ARGV: window ms, max failures, attempt id.
// Returns 0 when the attempt may go ahead (and counts it), else the wait in ms.
constexpr std::string_view kStartAttempt = R"lua(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return math.max(1, tonumber(oldest[2]) + window - now)
end
redis.call('ZADD', KEYS[1], now, ARGV[3])
redis.call('PEXPIRE', KEYS[1], window)
return 0
)lua";

}  // namespace

std::string RedisLoginLimit::key(std::string_view client) const {
  return cluster_.key("login:" + std::string(client));
}

std::optional<Millis> RedisLoginLimit::start_attempt(std::string_view client,
                                                     std::string_view attempt,
                                                     const auth::LoginRateLimit& limit) {
  auto reply = cluster_.call({"EVAL", std::string(kStartAttempt), "1", key(client),
                              std::to_string(limit.window.count()),
                              std::to_string(limit.max_failures), std::string(attempt)});
  if (!reply) return std::nullopt;  // unreachable: this node's own limit holds alone
  const auto wait = reply->as_integer();
  if (!wait || *wait <= 0) return std::nullopt;
  return Millis(*wait);
}

void RedisLoginLimit::record_success(std::string_view client) {
  (void)cluster_.call({"DEL", key(client)});
}

void RedisLoginLimit::forget_attempt(std::string_view client, std::string_view attempt) {
  (void)cluster_.call({"ZREM", key(client), std::string(attempt)});
}

std::optional<std::string> RedisCache::get(std::string_view name) {
  auto reply = cluster_.call({"GET", cluster_.key("cache:" + std::string(name))});
  if (!reply || reply->type != RedisReply::Type::kString) return std::nullopt;
  return std::move(reply->str);
}

void RedisCache::put(std::string_view name, std::string_view value, std::chrono::milliseconds ttl) {
  (void)cluster_.call({"SET", cluster_.key("cache:" + std::string(name)), std::string(value), "PX",
                       std::to_string(std::max<int64_t>(1, ttl.count()))});
}

}  // namespace insightd::cluster
