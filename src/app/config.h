// insightd's configuration: every variable of SPEC.md §2, read from command-line
// flags, the environment and a .env file (in that order of precedence, then the
// defaults), validated once at start-up. A bad value is an error naming the
// variable and what it allows; secrets never appear in messages or summaries.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace insightd::app {

enum class DatabaseKind { kSqlite, kPostgres };

struct Config {
  // Database
  std::string database_url;  // as given (never printed: may hold a password)
  DatabaseKind database_kind = DatabaseKind::kSqlite;
  std::string sqlite_path = "./data/insightd.db";
  // Analyzer
  std::optional<std::string> openai_api_key;
  std::string openai_base_url = "https://api.openai.com/v1";
  std::string openai_model = "gpt-4o-mini";
  // Admin and auth
  std::string admin_id = "admin";
  std::optional<std::string> admin_password;
  std::optional<std::string> auth_secret;
  std::optional<std::string> google_client_id;
  std::optional<std::string> google_client_secret;
  std::vector<std::string> admin_emails;
  std::string google_issuer = "https://accounts.google.com";
  // Optional infrastructure
  std::optional<std::string> redis_url;
  std::vector<std::string> kafka_brokers;
  std::string kafka_client_id = "insightd";
  std::string kafka_topic_prefix = "insightd.";
  bool kafka_events = false;  // also the event stream, ${prefix}events
  int64_t outbox_retention_days = 7;
  // Listener
  uint16_t port = 3000;
  // A second, private listener for /metrics, /healthz and /readyz (0: a free
  // port); unset: /metrics on `port`, and none in `insightd work`.
  std::optional<uint16_t> metrics_port;
  // Reverse proxies whose X-Forwarded-For names the client ("" trusts none).
  std::string trusted_proxies;
  std::string host = "0.0.0.0";
  std::optional<std::string> public_url;
  std::string socketio_path = "/api/socket";
  std::optional<std::string> web_dir;  // serve the dashboard from here (development)
  std::vector<std::string> ingest_keys;
  int64_t ingest_rate_limit = 0;  // events/s per write key; 0: none
  // Pipeline
  int64_t worker_poll_interval_ms = 5000;
  int64_t worker_concurrency = 4;
  int64_t recovery_interval_ms = 60000;
  int64_t stuck_job_timeout_ms = 900000;
  int64_t batch_max_events = 100;
  int64_t batch_max_age_ms = 600000;
  int64_t max_attempts = 5;
  int64_t job_lease_ms = 30000;
  int64_t retry_backoff_base_ms = 10000;
  int64_t retry_backoff_max_ms = 600000;
  int64_t breaker_failure_threshold = 5;
  int64_t breaker_cooldown_ms = 600000;
  int64_t breaker_probe_timeout_ms = 120000;
  int64_t shutdown_grace_ms = 8000;
  int64_t archive_after_days = 30;
  int64_t archive_delete_after_days = 0;  // 0: unset, archived events are kept forever
  // Limits toward clients (docs/OPERATIONS.md, "Limits")
  int64_t max_connections = 20'000;
  int64_t max_connections_per_address = 2'000;
  int64_t max_sessions_per_address = 2'000;
  int64_t handshakes_per_second_per_address = 100;
  int64_t ingest_commit_timeout_ms = 5'000;
  std::string log_level = "info";

  // "sqlite ./data/insightd.db" or "postgresql://user:***@host:5432/db".
  std::string database_description() const;
};

// One configuration variable: its name, aliases, default and meaning. The table
// drives loading, --help, the flags and .env.example.
struct VariableSpec {
  std::string_view name;
  std::string_view alias;         // e.g. BETTER_AUTH_SECRET for AUTH_SECRET; may be empty
  std::string_view default_text;  // as shown to people ("unset" when none)
  std::string_view help;
  bool secret = false;  // never echoed, no command-line flag
  // Checks a value and stores it; returns what is allowed when it is not.
  std::function<std::optional<std::string>(std::string_view value, Config& out)> apply;
};

std::span<const VariableSpec> config_variables();

// The flag spelling of a variable: PORT -> "port" (used as --port).
std::string flag_name(std::string_view variable);

// Parses .env text: KEY=VALUE lines, optional "export ", # comments, single or
// double quotes (double quotes understand \n, \" and \\). Malformed lines are errors.
Result<std::map<std::string, std::string>> parse_dotenv(std::string_view text);

struct ConfigSources {
  std::map<std::string, std::string> flags;  // by variable name
  std::function<std::optional<std::string>(const std::string&)> env;
  std::map<std::string, std::string> dotenv;  // by variable name
};

// Builds the configuration: for each variable the first of flag, environment,
// .env (each by name, then alias) and default. kInvalidArgument names the
// variable and what it allows.
Result<Config> load_config(const ConfigSources& sources);

// Replaces "user:password@" in a URL by "user:***@".
std::string redact_url(std::string_view url);

}  // namespace insightd::app
