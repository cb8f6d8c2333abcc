// A small synchronous Redis client over hiredis: where REDIS_URL points, one
// connection with connect and reply timeouts, commands and pipelines given as
// argument lists, replies copied out of hiredis. Each connection is used by one
// thread at a time; cluster/cluster.h owns them and decides who waits on Redis
// (never the ingest path).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

struct redisContext;

namespace insightd::cluster {

// Where REDIS_URL points: redis://[[user]:password@]host[:port][/db] or
// unix:///path[?db=N].
struct RedisEndpoint {
  std::string host;  // empty for a Unix socket
  uint16_t port = 6379;
  std::string unix_path;  // set for unix://
  std::string username;   // with a password: AUTH username password (Redis 6 ACLs)
  std::string password;
  int db = 0;
  // host:port or the socket's path, without credentials: for logs.
  std::string describe() const;
};
Result<RedisEndpoint> parse_redis_url(std::string_view url);

// One reply, copied out of hiredis.
struct RedisReply {
  enum class Type { kNil, kInteger, kString, kStatus, kError, kArray };
  Type type = Type::kNil;
  int64_t integer = 0;
  std::string str;  // string, status and error replies
  std::vector<RedisReply> elements;

  bool is_error() const { return type == Type::kError; }
  // An integer reply, or a string holding one; nullopt otherwise.
  std::optional<int64_t> as_integer() const;
};

using RedisArgs = std::vector<std::string>;

class RedisConnection {
 public:
  // Connects within `timeout`, authenticates and selects the database; every
  // later reply must come within `timeout` too, or the connection is broken.
  static Result<RedisConnection> open(const RedisEndpoint& endpoint,
                                      std::chrono::milliseconds timeout);

  RedisConnection(RedisConnection&&) noexcept;
  RedisConnection& operator=(RedisConnection&&) noexcept;
  ~RedisConnection();

  // One command. An error reply is a reply (is_error()); an Error is a broken
  // connection, which must then be dropped.
  Result<RedisReply> command(const RedisArgs& args);
  // Several commands in one round trip; their replies in order.
  Result<std::vector<RedisReply>> pipeline(const std::vector<RedisArgs>& commands);

  // For SUBSCRIBE's stream of messages: sends a command without reading its reply.
  Status send(const RedisArgs& args);
  // The next reply when one arrives within `wait`; nullopt when none did (the
  // connection stays usable); an Error when the connection broke.
  Result<std::optional<RedisReply>> next_reply(std::chrono::milliseconds wait);

 private:
  explicit RedisConnection(redisContext* c) : c_(c) {}
  Status append(const RedisArgs& args);
  Result<RedisReply> read_reply();
  Error broken(std::string_view what) const;

  redisContext* c_ = nullptr;
};

}  // namespace insightd::cluster
