#include "app/config.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>

#include "cluster/redis.h"
#include "net/trusted_proxies.h"
#include "store/postgres/pg_connection.h"

namespace insightd::app {
namespace {

using Apply = std::function<std::optional<std::string>(std::string_view, Config&)>;

std::string trim(std::string_view s) {
  const auto b = s.find_first_not_of(" \t\r");
  if (b == std::string_view::npos) return {};
  const auto e = s.find_last_not_of(" \t\r");
  return std::string(s.substr(b, e - b + 1));
}

bool has_space_or_control(std::string_view s) {
  return std::any_of(s.begin(), s.end(),
                     [](char c) { return static_cast<unsigned char>(c) <= 0x20 || c == 0x7f; });
}

std::vector<std::string> split_list(std::string_view s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    const size_t comma = s.find(',', start);
    const std::string item = trim(
        s.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start));
    if (!item.empty()) out.push_back(item);
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return out;
}

Apply integer(int64_t Config::*field, int64_t min, int64_t max, std::string_view unit = "") {
  return [=](std::string_view v, Config& c) -> std::optional<std::string> {
    int64_t n = 0;
    auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    if (v.empty() || ec != std::errc() || p != v.data() + v.size() || n < min || n > max) {
      return fmt::format("must be a whole number from {} to {}{}", min, max, unit);
    }
    c.*field = n;
    return std::nullopt;
  };
}

Apply text(std::string Config::*field, size_t max_len = 1024) {
  return [=](std::string_view v, Config& c) -> std::optional<std::string> {
    if (v.empty() || v.size() > max_len || has_space_or_control(v)) {
      return fmt::format("must be 1-{} characters without spaces", max_len);
    }
    c.*field = std::string(v);
    return std::nullopt;
  };
}

Apply optional_text(std::optional<std::string> Config::*field, size_t min_len, size_t max_len,
                    std::string_view what) {
  return [=](std::string_view v, Config& c) -> std::optional<std::string> {
    if (v.empty()) {
      c.*field = std::nullopt;
      return std::nullopt;
    }
    if (v.size() < min_len || v.size() > max_len || std::any_of(v.begin(), v.end(), [](char ch) {
          return static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f;
        })) {
      return fmt::format("must be {} of {}-{} characters, or empty", what, min_len, max_len);
    }
    c.*field = std::string(v);
    return std::nullopt;
  };
}

Apply http_url(std::string Config::*field) {
  return [=](std::string_view v, Config& c) -> std::optional<std::string> {
    if (!(v.starts_with("http://") || v.starts_with("https://")) || v.size() < 10 ||
        has_space_or_control(v)) {
      return "must be an http:// or https:// URL";
    }
    std::string url(v);
    while (url.size() > 8 && url.back() == '/') url.pop_back();
    c.*field = url;
    return std::nullopt;
  };
}

std::optional<std::string> apply_database_url(std::string_view v, Config& c) {
  const std::string_view allowed =
      "must be empty (SQLite at ./data/insightd.db), postgresql://..., postgres://... or "
      "sqlite:///path/to/file.db";
  if (v.empty()) {
    c.database_url.clear();
    c.database_kind = DatabaseKind::kSqlite;
    c.sqlite_path = "./data/insightd.db";
    return std::nullopt;
  }
  if (v.starts_with("postgresql://") || v.starts_with("postgres://")) {
    if (Status s = store::check_postgres_url(std::string(v)); !s) {
      return fmt::format("{} ({})", allowed, s.message());
    }
    c.database_url = std::string(v);
    c.database_kind = DatabaseKind::kPostgres;
    return std::nullopt;
  }
  if (v.starts_with("sqlite://")) {
    const std::string_view path = v.substr(std::string_view("sqlite://").size());
    if (path.empty() || path.back() == '/') return std::string(allowed);
    c.database_url = std::string(v);
    c.database_kind = DatabaseKind::kSqlite;
    c.sqlite_path = std::string(path);
    return std::nullopt;
  }
  return std::string(allowed);
}

std::optional<std::string> apply_port(std::string_view v, Config& c) {
  int64_t n = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (v.empty() || ec != std::errc() || p != v.data() + v.size() || n < 0 || n > 65535) {
    return "must be a whole number from 0 to 65535 (0 picks a free port)";
  }
  c.port = static_cast<uint16_t>(n);
  return std::nullopt;
}

std::optional<std::string> apply_metrics_port(std::string_view v, Config& c) {
  if (v.empty()) {
    c.metrics_port.reset();
    return std::nullopt;
  }
  Config probe;
  if (auto problem = apply_port(v, probe)) return problem;
  c.metrics_port = probe.port;
  return std::nullopt;
}

std::optional<std::string> apply_trusted_proxies(std::string_view v, Config& c) {
  auto parsed = net::TrustedProxies::parse(v);
  if (!parsed) return parsed.error().message;
  c.trusted_proxies = std::string(v);
  return std::nullopt;
}

std::optional<std::string> apply_admin_id(std::string_view v, Config& c) {
  const bool ok = !v.empty() && v.size() <= 64 && std::all_of(v.begin(), v.end(), [](char ch) {
    return std::isalnum(static_cast<unsigned char>(ch)) || ch == '_' || ch == '.' || ch == '@' ||
           ch == '-';
  });
  if (!ok) return "must be 1-64 characters of letters, digits, '_', '.', '@', '-'";
  c.admin_id = std::string(v);
  return std::nullopt;
}

std::optional<std::string> apply_admin_emails(std::string_view v, Config& c) {
  c.admin_emails.clear();
  for (auto& e : split_list(v)) {
    const auto at = e.find('@');
    if (at == std::string::npos || at == 0 || at + 1 >= e.size() || has_space_or_control(e)) {
      return "must be a comma-separated list of e-mail addresses";
    }
    std::transform(e.begin(), e.end(), e.begin(), [](char ch) {
      return static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    });
    c.admin_emails.push_back(e);
  }
  return std::nullopt;
}

std::optional<std::string> apply_google_issuer(std::string_view v, Config& c) {
  // Kept as given: ID tokens must name the issuer exactly as discovery does.
  if (!(v.starts_with("https://") || v.starts_with("http://")) || v.size() < 10 ||
      has_space_or_control(v) || v.find_first_of("?#") != std::string_view::npos) {
    return "must be an https:// issuer URL such as https://accounts.google.com";
  }
  c.google_issuer = std::string(v);
  return std::nullopt;
}

std::optional<std::string> apply_redis_url(std::string_view v, Config& c) {
  if (v.empty()) {
    c.redis_url.reset();
    return std::nullopt;
  }
  if (has_space_or_control(v)) return "must be empty, redis://host:port[/db] or unix:///path";
  auto endpoint = cluster::parse_redis_url(v);
  if (!endpoint) {
    return "must be empty, redis://[[user]:password@]host[:port][/db] or unix:///path[?db=N] (" +
           endpoint.error().message + ")";
  }
  c.redis_url = std::string(v);
  return std::nullopt;
}

std::optional<std::string> apply_kafka_events(std::string_view v, Config& c) {
  if (v == "true" || v == "1") {
    c.kafka_events = true;
  } else if (v == "false" || v == "0" || v.empty()) {
    c.kafka_events = false;
  } else {
    return "must be true or false";
  }
  return std::nullopt;
}

std::optional<std::string> apply_kafka_brokers(std::string_view v, Config& c) {
  c.kafka_brokers.clear();
  for (const auto& b : split_list(v)) {
    const auto colon = b.rfind(':');
    int port = 0;
    const bool ok =
        colon != std::string::npos && colon > 0 && !has_space_or_control(b) &&
        std::from_chars(b.data() + colon + 1, b.data() + b.size(), port).ec == std::errc() &&
        port > 0 && port <= 65535;
    if (!ok) return "must be a comma-separated list of host:port";
    c.kafka_brokers.push_back(b);
  }
  return std::nullopt;
}

std::optional<std::string> apply_topic_prefix(std::string_view v, Config& c) {
  const bool ok =
      v.size() <= 100 && std::all_of(v.begin(), v.end(), [](char ch) {
        return std::isalnum(static_cast<unsigned char>(ch)) || ch == '.' || ch == '_' || ch == '-';
      });
  if (!ok) return "must be up to 100 characters of letters, digits, '.', '_', '-'";
  c.kafka_topic_prefix = std::string(v);
  return std::nullopt;
}

std::optional<std::string> apply_public_url(std::string_view v, Config& c) {
  if (v.empty()) {
    c.public_url.reset();
    return std::nullopt;
  }
  if (!(v.starts_with("http://") || v.starts_with("https://")) || has_space_or_control(v)) {
    return "must be empty or an http:// or https:// origin such as https://app.example.com";
  }
  std::string url(v);
  while (!url.empty() && url.back() == '/') url.pop_back();
  c.public_url = url;
  return std::nullopt;
}

std::optional<std::string> apply_socketio_path(std::string_view v, Config& c) {
  const bool ok = v.size() >= 2 && v.size() <= 100 && v.front() == '/' && v.back() != '/' &&
                  std::all_of(v.begin(), v.end(), [](char ch) {
                    return std::isalnum(static_cast<unsigned char>(ch)) || ch == '/' || ch == '_' ||
                           ch == '-' || ch == '.';
                  });
  if (!ok) return "must be a path such as /api/socket (letters, digits, '/', '_', '-', '.')";
  c.socketio_path = std::string(v);
  return std::nullopt;
}

std::optional<std::string> apply_ingest_keys(std::string_view v, Config& c) {
  c.ingest_keys.clear();
  for (const auto& k : split_list(v)) {
    if (k.size() < 16 || k.size() > 256 || has_space_or_control(k)) {
      return "must be a comma-separated list of keys of 16-256 characters without spaces";
    }
    c.ingest_keys.push_back(k);
  }
  return std::nullopt;
}

std::optional<std::string> apply_log_level(std::string_view v, Config& c) {
  static constexpr std::string_view kLevels[] = {"trace", "debug", "info", "warn", "error", "off"};
  if (std::find(std::begin(kLevels), std::end(kLevels), v) == std::end(kLevels)) {
    return "must be one of trace, debug, info, warn, error, off";
  }
  c.log_level = std::string(v);
  return std::nullopt;
}

constexpr int64_t kDay = 86'400'000;

const std::vector<VariableSpec>& table() {
  static const std::vector<VariableSpec> kTable = {
      {"DATABASE_URL", "", "unset (SQLite at ./data/insightd.db)",
       "postgresql://user:password@host:5432/db, or sqlite:///path/to/file.db", false,
       apply_database_url},
      {"OPENAI_API_KEY", "", "unset (built-in analyzer)",
       "key for an OpenAI-compatible API; enables the LLM analyzer", true,
       optional_text(&Config::openai_api_key, 1, 4096, "a key")},
      {"OPENAI_BASE_URL", "", "https://api.openai.com/v1",
       "base URL of any OpenAI-compatible server (vLLM, Ollama, llama.cpp server)", false,
       http_url(&Config::openai_base_url)},
      {"OPENAI_MODEL", "", "gpt-4o-mini", "model name sent to the API", false,
       text(&Config::openai_model, 200)},
      {"ADMIN_ID", "", "admin", "the admin user's login name", false, apply_admin_id},
      {"ADMIN_PASSWORD", "", "unset (generated once, printed once, stored hashed)",
       "admin password", true, optional_text(&Config::admin_password, 8, 1024, "a password")},
      {"AUTH_SECRET", "BETTER_AUTH_SECRET", "unset (generated and persisted)",
       "key for sessions and tokens", true,
       optional_text(&Config::auth_secret, 32, 4096, "a secret")},
      {"GOOGLE_CLIENT_ID", "", "unset", "optional Google sign-in: OAuth client id", false,
       optional_text(&Config::google_client_id, 1, 512, "a client id")},
      {"GOOGLE_CLIENT_SECRET", "", "unset", "optional Google sign-in: OAuth client secret", true,
       optional_text(&Config::google_client_secret, 1, 512, "a client secret")},
      {"ADMIN_EMAILS", "", "unset", "comma-separated e-mails allowed to sign in with Google", false,
       apply_admin_emails},
      {"GOOGLE_ISSUER", "", "https://accounts.google.com",
       "OpenID Connect issuer for Google sign-in; discovery at <issuer>/.well-known/"
       "openid-configuration (another provider, or a fake one in tests)",
       false, apply_google_issuer},
      {"REDIS_URL", "", "unset",
       "Redis shared by the nodes: live events across nodes, the limits (failed logins, "
       "connections and handshakes per address, INGEST_RATE_LIMIT) held together, the admin "
       "figures cached for all",
       false, apply_redis_url},
      {"INGEST_RATE_LIMIT", "", "0 (no limit)",
       "events per second per write key (all events together while ingestion is open), held by "
       "all nodes together with REDIS_URL; over it: 429 with Retry-After, or a retryable "
       "event:error `rate_limited`",
       false, integer(&Config::ingest_rate_limit, 0, 100'000'000, " events/s")},
      {"KAFKA_BROKERS", "", "unset", "comma-separated host:port list; enables the outbox relay",
       false, apply_kafka_brokers},
      {"KAFKA_CLIENT_ID", "", "insightd", "Kafka client id", false,
       text(&Config::kafka_client_id, 200)},
      {"KAFKA_TOPIC_PREFIX", "", "insightd.", "prefix of every topic the relay publishes to", false,
       apply_topic_prefix},
      {"KAFKA_EVENTS", "", "false",
       "also publish every committed event to ${KAFKA_TOPIC_PREFIX}events (needs KAFKA_BROKERS)",
       false, apply_kafka_events},
      {"OUTBOX_RETENTION_DAYS", "", "7",
       "outbox rows older than this are deleted (published ones only, while Kafka is set)", false,
       integer(&Config::outbox_retention_days, 1, 36500, " days")},
      {"PORT", "", "3000", "HTTP listener port", false, apply_port},
      {"METRICS_PORT", "", "unset",
       "a private listener for /metrics, /healthz and /readyz (then /metrics leaves PORT); "
       "`insightd work` serves them only here",
       false, apply_metrics_port},
      {"HOST", "", "0.0.0.0", "HTTP listener address", false, text(&Config::host, 255)},
      {"TRUSTED_PROXIES", "", "unset (trust none)",
       "reverse proxies (addresses, CIDR ranges) whose X-Forwarded-For names the client, for the "
       "per-address limits",
       false, apply_trusted_proxies},
      {"PUBLIC_URL", "NEXT_PUBLIC_APP_URL", "unset", "public origin; the allowed CORS origin",
       false, apply_public_url},
      {"SOCKETIO_PATH", "", "/api/socket", "path of the Socket.IO endpoint", false,
       apply_socketio_path},
      {"WEB_DIR", "", "unset (the files built in)",
       "serve the dashboard's files from this folder first (for working on web/src)", false,
       optional_text(&Config::web_dir, 1, 4096, "a folder")},
      {"INGEST_KEYS", "", "unset (open ingestion)", "comma-separated write keys for ingestion",
       true, apply_ingest_keys},
      {"WORKER_POLL_INTERVAL_MS", "", "5000", "fallback poll when no wake-up arrives", false,
       integer(&Config::worker_poll_interval_ms, 10, kDay, " ms")},
      {"WORKER_CONCURRENCY", "", "4", "jobs at once per process", false,
       integer(&Config::worker_concurrency, 1, 256)},
      {"RECOVERY_INTERVAL_MS", "", "60000", "how often stuck jobs are looked for", false,
       integer(&Config::recovery_interval_ms, 100, kDay, " ms")},
      {"STUCK_JOB_TIMEOUT_MS", "", "900000", "a RUNNING job untouched this long is stuck", false,
       integer(&Config::stuck_job_timeout_ms, 1000, 7 * kDay, " ms")},
      {"BATCH_MAX_EVENTS", "", "100", "a batch seals when it holds this many events", false,
       integer(&Config::batch_max_events, 1, 100000)},
      {"BATCH_MAX_AGE_MS", "", "600000", "a batch seals once its first event is this old", false,
       integer(&Config::batch_max_age_ms, 1000, 7 * kDay, " ms")},
      {"MAX_ATTEMPTS", "", "5", "attempts per analysis job before the dead-letter queue", false,
       integer(&Config::max_attempts, 1, 100)},
      {"JOB_LEASE_MS", "", "30000",
       "a claimed job's lease; renewed every third of it while the job runs, taken back by "
       "recovery once it lapses",
       false, integer(&Config::job_lease_ms, 300, kDay, " ms")},
      {"RETRY_BACKOFF_BASE_MS", "", "10000",
       "pause after a job's first failure; doubles with each further one (with jitter)", false,
       integer(&Config::retry_backoff_base_ms, 0, kDay, " ms")},
      {"RETRY_BACKOFF_MAX_MS", "", "600000", "longest pause between two attempts of a job", false,
       integer(&Config::retry_backoff_max_ms, 0, 7 * kDay, " ms")},
      {"BREAKER_FAILURE_THRESHOLD", "", "5", "consecutive analyzer failures that open the breaker",
       false, integer(&Config::breaker_failure_threshold, 1, 1000)},
      {"BREAKER_COOLDOWN_MS", "", "600000", "how long the breaker stays OPEN", false,
       integer(&Config::breaker_cooldown_ms, 1000, kDay, " ms")},
      {"BREAKER_PROBE_TIMEOUT_MS", "", "120000",
       "a HALF_OPEN probe that has not reported by then is presumed hung; the next job probes",
       false, integer(&Config::breaker_probe_timeout_ms, 1000, kDay, " ms")},
      {"SHUTDOWN_GRACE_MS", "", "8000",
       "on SIGTERM, how long running jobs may finish before they are handed back, and how long "
       "Socket.IO clients get to take their last answers",
       false, integer(&Config::shutdown_grace_ms, 0, 600000, " ms")},
      {"ARCHIVE_AFTER_DAYS", "", "30", "ANALYZED batches older than this move to cold storage",
       false, integer(&Config::archive_after_days, 1, 36500, " days")},
      {"ARCHIVE_DELETE_AFTER_DAYS", "", "unset",
       "archived events older than this (from their archiving) are deleted; the batches and "
       "insights stay. Unset: kept forever",
       false, integer(&Config::archive_delete_after_days, 1, 36500, " days")},
      {"MAX_CONNECTIONS", "", "20000",
       "connections open at once (HTTP and WebSocket); over it: 503 and close", false,
       integer(&Config::max_connections, 1, 10'000'000)},
      {"MAX_CONNECTIONS_PER_ADDRESS", "", "2000",
       "connections open at once from one client address; over it: 503 and close", false,
       integer(&Config::max_connections_per_address, 1, 10'000'000)},
      {"MAX_SESSIONS_PER_ADDRESS", "", "2000",
       "Socket.IO sessions open at once from one client address; over it the handshake gets 503",
       false, integer(&Config::max_sessions_per_address, 1, 10'000'000)},
      {"HANDSHAKES_PER_SECOND_PER_ADDRESS", "", "100",
       "new Socket.IO sessions per second from one address (bursts of twice that); over it: 503",
       false, integer(&Config::handshakes_per_second_per_address, 1, 1'000'000)},
      {"INGEST_COMMIT_TIMEOUT_MS", "", "5000",
       "longest wait for an event's commit before the client gets a retryable error", false,
       integer(&Config::ingest_commit_timeout_ms, 100, 600000, " ms")},
      {"LOG_LEVEL", "", "info", "trace, debug, info, warn, error or off", false, apply_log_level},
  };
  return kTable;
}

}  // namespace

std::span<const VariableSpec> config_variables() {
  return table();
}

std::string flag_name(std::string_view variable) {
  std::string out;
  for (char ch : variable) {
    out += ch == '_' ? '-' : static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  }
  return out;
}

std::string redact_url(std::string_view url) {
  const auto scheme = url.find("://");
  if (scheme == std::string_view::npos) return std::string(url);
  const size_t auth_start = scheme + 3;
  const size_t auth_end = url.find_first_of("/?#", auth_start);
  const std::string_view authority =
      url.substr(auth_start, auth_end == std::string_view::npos ? std::string_view::npos
                                                                : auth_end - auth_start);
  const auto at = authority.rfind('@');
  if (at == std::string_view::npos) return std::string(url);
  const auto colon = authority.substr(0, at).find(':');
  if (colon == std::string_view::npos) return std::string(url);
  std::string out(url.substr(0, auth_start));
  out += authority.substr(0, colon);
  out += ":***";
  out += url.substr(auth_start + at);
  return out;
}

std::string Config::database_description() const {
  if (database_kind == DatabaseKind::kSqlite) return "sqlite " + sqlite_path;
  std::string url = redact_url(database_url);
  // Also hide a password passed as a query parameter.
  const auto p = url.find("password=");
  if (p != std::string::npos) {
    const auto end = url.find('&', p);
    url.replace(p, end == std::string::npos ? std::string::npos : end - p, "password=***");
  }
  return url;
}

Result<std::map<std::string, std::string>> parse_dotenv(std::string_view text) {
  std::map<std::string, std::string> out;
  size_t line_no = 0;
  size_t pos = 0;
  while (pos <= text.size()) {
    const size_t nl = text.find('\n', pos);
    std::string line =
        trim(text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos));
    pos = nl == std::string_view::npos ? text.size() + 1 : nl + 1;
    ++line_no;
    if (line.empty() || line.front() == '#') continue;
    if (line.starts_with("export ")) line = trim(line.substr(7));
    const auto eq = line.find('=');
    const std::string key =
        trim(std::string_view(line).substr(0, eq == std::string::npos ? 0 : eq));
    const bool key_ok = eq != std::string::npos && !key.empty() &&
                        !std::isdigit(static_cast<unsigned char>(key[0])) &&
                        std::all_of(key.begin(), key.end(), [](char ch) {
                          return std::isalnum(static_cast<unsigned char>(ch)) || ch == '_';
                        });
    if (!key_ok) {
      return make_error(ErrorCode::kInvalidArgument,
                        fmt::format(".env line {}: expected KEY=VALUE", line_no));
    }
    std::string raw = trim(std::string_view(line).substr(eq + 1));
    std::string value;
    if (!raw.empty() && (raw.front() == '"' || raw.front() == '\'')) {
      const char quote = raw.front();
      size_t i = 1;
      bool closed = false;
      for (; i < raw.size(); ++i) {
        const char ch = raw[i];
        if (ch == quote) {
          closed = true;
          break;
        }
        if (quote == '"' && ch == '\\' && i + 1 < raw.size()) {
          const char next = raw[++i];
          value += next == 'n' ? '\n' : next;
        } else {
          value += ch;
        }
      }
      const std::string rest = closed ? trim(std::string_view(raw).substr(i + 1)) : "";
      if (!closed || (!rest.empty() && rest.front() != '#')) {
        return make_error(ErrorCode::kInvalidArgument,
                          fmt::format(".env line {}: unterminated or malformed quoted value for {}",
                                      line_no, key));
      }
    } else {
      // Unquoted: a " #" starts a comment.
      const auto hash = raw.find(" #");
      value = trim(std::string_view(raw).substr(0, hash));
    }
    out[key] = value;
  }
  return out;
}

Result<Config> load_config(const ConfigSources& sources) {
  Config config;
  for (const VariableSpec& spec : table()) {
    std::optional<std::string> value;
    std::string origin;
    const std::string name(spec.name);
    const std::string alias(spec.alias);
    if (auto it = sources.flags.find(name); it != sources.flags.end()) {
      value = it->second;
      origin = "--" + flag_name(name);
    } else if (auto env = sources.env ? sources.env(name) : std::nullopt) {
      value = env;
      origin = name;
    } else if (auto env_alias =
                   (!alias.empty() && sources.env) ? sources.env(alias) : std::nullopt) {
      value = env_alias;
      origin = alias;
    } else if (auto d = sources.dotenv.find(name); d != sources.dotenv.end()) {
      value = d->second;
      origin = name + " (from .env)";
    } else if (auto da = alias.empty() ? sources.dotenv.end() : sources.dotenv.find(alias);
               da != sources.dotenv.end()) {
      value = da->second;
      origin = alias + " (from .env)";
    }
    if (!value) continue;  // the default already stands in Config
    if (auto problem = spec.apply(*value, config)) {
      // Secrets and URLs (which may carry a password) are never echoed.
      const bool echo = !spec.secret && spec.name != "DATABASE_URL" && spec.name != "REDIS_URL" &&
                        value->size() <= 80;
      const std::string shown = echo ? fmt::format(" (got \"{}\")", *value) : "";
      return make_error(ErrorCode::kInvalidArgument,
                        fmt::format("{} {}{}", origin, *problem, shown));
    }
  }
  if (config.google_client_id.has_value() != config.google_client_secret.has_value()) {
    return make_error(ErrorCode::kInvalidArgument,
                      "GOOGLE_CLIENT_ID and GOOGLE_CLIENT_SECRET must be set together");
  }
  if (config.google_client_id && config.admin_emails.empty()) {
    return make_error(
        ErrorCode::kInvalidArgument,
        "ADMIN_EMAILS must list who may sign in with Google when GOOGLE_CLIENT_ID is set");
  }
  if (config.google_client_id && !config.public_url) {
    return make_error(ErrorCode::kInvalidArgument,
                      "PUBLIC_URL must be set when GOOGLE_CLIENT_ID is set (the provider sends "
                      "people back to PUBLIC_URL/api/auth/google/callback)");
  }
  if (config.stuck_job_timeout_ms < config.recovery_interval_ms) {
    return make_error(ErrorCode::kInvalidArgument,
                      "STUCK_JOB_TIMEOUT_MS must be at least RECOVERY_INTERVAL_MS");
  }
  if (config.kafka_events && config.kafka_brokers.empty()) {
    return make_error(ErrorCode::kInvalidArgument, "KAFKA_EVENTS=true needs KAFKA_BROKERS");
  }
  if (config.retry_backoff_base_ms > config.retry_backoff_max_ms) {
    return make_error(ErrorCode::kInvalidArgument,
                      "RETRY_BACKOFF_BASE_MS must not exceed RETRY_BACKOFF_MAX_MS");
  }
  return config;
}

}  // namespace insightd::app
