#include "cluster/redis.h"

#include <fmt/format.h>
#include <hiredis/hiredis.h>
#include <poll.h>

#include <boost/url/parse.hpp>
#include <charconv>
#include <utility>

namespace insightd::cluster {
namespace {

timeval to_timeval(std::chrono::milliseconds d) {
  timeval tv{};
  tv.tv_sec = static_cast<decltype(tv.tv_sec)>(d.count() / 1000);
  tv.tv_usec = static_cast<decltype(tv.tv_usec)>((d.count() % 1000) * 1000);
  return tv;
}

RedisReply copy_reply(const redisReply* r) {
  RedisReply out;
  switch (r->type) {
    case REDIS_REPLY_INTEGER:
      out.type = RedisReply::Type::kInteger;
      out.integer = r->integer;
      break;
    case REDIS_REPLY_STRING:
      out.type = RedisReply::Type::kString;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_STATUS:
      out.type = RedisReply::Type::kStatus;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_ERROR:
      out.type = RedisReply::Type::kError;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_ARRAY:
      out.type = RedisReply::Type::kArray;
      out.elements.reserve(r->elements);
      for (size_t i = 0; i < r->elements; ++i) out.elements.push_back(copy_reply(r->element[i]));
      break;
    default:
      out.type = RedisReply::Type::kNil;
      break;
  }
  return out;
}

std::optional<int> parse_db(std::string_view text) {
  int db = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), db);
  if (ec != std::errc() || end != text.data() + text.size() || db < 0 || db > 1'000'000) {
    return std::nullopt;
  }
  return db;
}

}  // namespace

std::string RedisEndpoint::describe() const {
  return unix_path.empty() ? fmt::format("{}:{}", host, port) : unix_path;
}

Result<RedisEndpoint> parse_redis_url(std::string_view url) {
  auto bad = [&](std::string_view why) {
    return make_error(ErrorCode::kInvalidArgument, fmt::format("REDIS_URL: {}", why));
  };
  auto parsed = boost::urls::parse_uri(url);
  if (!parsed) return bad("not a URL");
  const auto& u = *parsed;
  RedisEndpoint e;
  if (u.has_password() || u.has_userinfo()) {
    e.username = u.user();
    e.password = u.password();
    // redis://:password@host and redis://password@host (the older form) alike.
    if (!u.has_password()) std::swap(e.username, e.password);
  }
  if (u.scheme() == "unix") {
    e.unix_path = u.path();
    if (e.unix_path.empty() || e.unix_path.front() != '/') return bad("unix:///absolute/path");
    for (const auto& p : u.params()) {
      if (p.key == "db") {
        auto db = parse_db(p.value);
        if (!db) return bad("db must be a number");
        e.db = *db;
      }
    }
    return e;
  }
  if (u.scheme() == "rediss") return bad("TLS (rediss://) is not supported; use redis://");
  if (u.scheme() != "redis") return bad("the scheme must be redis:// or unix://");
  e.host = u.host_address();  // an IPv6 address without its brackets
  if (e.host.empty()) return bad("a host is required");
  if (u.has_port()) {
    if (u.port_number() == 0) return bad("the port must be 1-65535");
    e.port = u.port_number();
  }
  std::string_view path = u.encoded_path();
  if (path.starts_with('/')) path.remove_prefix(1);
  if (!path.empty()) {
    auto db = parse_db(path);
    if (!db) return bad("the path must be a database number (redis://host:6379/0)");
    e.db = *db;
  }
  return e;
}

std::optional<int64_t> RedisReply::as_integer() const {
  if (type == Type::kInteger) return integer;
  if (type != Type::kString) return std::nullopt;
  int64_t v = 0;
  const auto [end, ec] = std::from_chars(str.data(), str.data() + str.size(), v);
  if (ec != std::errc() || end != str.data() + str.size()) return std::nullopt;
  return v;
}

Result<RedisConnection> RedisConnection::open(const RedisEndpoint& endpoint,
                                              std::chrono::milliseconds timeout) {
  const timeval tv = to_timeval(timeout);
  redisContext* c = endpoint.unix_path.empty()
                        ? redisConnectWithTimeout(endpoint.host.c_str(), endpoint.port, tv)
                        : redisConnectUnixWithTimeout(endpoint.unix_path.c_str(), tv);
  if (c == nullptr) return make_error(ErrorCode::kUnavailable, "Redis: out of memory");
  RedisConnection conn(c);
  if (c->err != 0) {
    return make_error(ErrorCode::kUnavailable,
                      fmt::format("cannot connect to {}: {}", endpoint.describe(), c->errstr));
  }
  if (redisSetTimeout(c, tv) != REDIS_OK) return conn.broken("setting the timeout");
  redisEnableKeepAlive(c);
  std::vector<RedisArgs> setup;
  if (!endpoint.password.empty()) {
    setup.push_back(endpoint.username.empty()
                        ? RedisArgs{"AUTH", endpoint.password}
                        : RedisArgs{"AUTH", endpoint.username, endpoint.password});
  }
  if (endpoint.db != 0) setup.push_back({"SELECT", std::to_string(endpoint.db)});
  // A Redis that accepts and then refuses (maxclients, protected mode, a
  // password it wants) answers this with an error: not a connection.
  setup.push_back({"PING"});
  {
    auto replies = conn.pipeline(setup);
    if (!replies) return replies.error();
    for (const auto& r : *replies) {
      if (r.is_error()) {
        return make_error(ErrorCode::kUnavailable,
                          fmt::format("Redis at {} refused: {}", endpoint.describe(), r.str));
      }
    }
  }
  return conn;
}

RedisConnection::RedisConnection(RedisConnection&& other) noexcept
    : c_(std::exchange(other.c_, nullptr)) {}

RedisConnection& RedisConnection::operator=(RedisConnection&& other) noexcept {
  if (this != &other) {
    if (c_ != nullptr) redisFree(c_);
    c_ = std::exchange(other.c_, nullptr);
  }
  return *this;
}

RedisConnection::~RedisConnection() {
  if (c_ != nullptr) redisFree(c_);
}

Error RedisConnection::broken(std::string_view what) const {
  return make_error(ErrorCode::kUnavailable,
                    fmt::format("Redis connection broken ({}): {}", what,
                                c_ != nullptr && c_->err != 0 ? c_->errstr : "closed"));
}

Status RedisConnection::append(const RedisArgs& args) {
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  argv.reserve(args.size());
  lens.reserve(args.size());
  for (const auto& a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  if (c_ == nullptr || c_->err != 0 ||
      redisAppendCommandArgv(c_, static_cast<int>(argv.size()), argv.data(), lens.data()) !=
          REDIS_OK) {
    return broken("sending");
  }
  return Status::ok();
}

Result<RedisReply> RedisConnection::read_reply() {
  void* raw = nullptr;
  if (redisGetReply(c_, &raw) != REDIS_OK || raw == nullptr) return broken("reading");
  auto* r = static_cast<redisReply*>(raw);
  RedisReply out = copy_reply(r);
  freeReplyObject(r);
  return out;
}

Result<RedisReply> RedisConnection::command(const RedisArgs& args) {
  INSIGHTD_TRY(append(args));
  return read_reply();
}

Result<std::vector<RedisReply>> RedisConnection::pipeline(const std::vector<RedisArgs>& commands) {
  for (const auto& args : commands) INSIGHTD_TRY(append(args));
  std::vector<RedisReply> replies;
  replies.reserve(commands.size());
  for (size_t i = 0; i < commands.size(); ++i) {
    auto r = read_reply();
    if (!r) return r.error();
    replies.push_back(std::move(r).value());
  }
  return replies;
}

Status RedisConnection::send(const RedisArgs& args) {
  INSIGHTD_TRY(append(args));
  // Writes the whole output buffer now; the reply is read by next_reply().
  int done = 0;
  while (done == 0) {
    if (redisBufferWrite(c_, &done) != REDIS_OK) return broken("sending");
  }
  return Status::ok();
}

Result<std::optional<RedisReply>> RedisConnection::next_reply(std::chrono::milliseconds wait) {
  if (c_ == nullptr || c_->err != 0) return broken("reading");
  void* raw = nullptr;
  // A reply already buffered comes first; otherwise wait for the socket to be
  // readable (so a quiet channel is not a timeout that breaks the connection).
  if (redisGetReplyFromReader(c_, &raw) != REDIS_OK) return broken("parsing");
  if (raw == nullptr) {
    pollfd pfd{.fd = c_->fd, .events = POLLIN, .revents = 0};
    const int n = ::poll(&pfd, 1, static_cast<int>(wait.count()));
    if (n < 0) return std::optional<RedisReply>{};  // EINTR: try again later
    if (n == 0) return std::optional<RedisReply>{};
    if (redisBufferRead(c_) != REDIS_OK) return broken("reading");
    if (redisGetReplyFromReader(c_, &raw) != REDIS_OK) return broken("parsing");
    if (raw == nullptr) return std::optional<RedisReply>{};
  }
  auto* r = static_cast<redisReply*>(raw);
  RedisReply out = copy_reply(r);
  freeReplyObject(r);
  return std::optional<RedisReply>(std::move(out));
}

}  // namespace insightd::cluster
