#include "app/cli.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "api/health.h"
#include "app/config.h"
#include "net/http_server.h"
#include "net/router.h"
#include "obs/log.h"
#include "store/migrations.h"
#include "store/open_store.h"

#ifndef INSIGHTD_VERSION
#define INSIGHTD_VERSION "0.0.0"
#endif

namespace insightd::app {
namespace {

constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;

// Reads the configuration from the sources in their order of precedence.
Result<Config> resolve_config(const std::map<std::string, std::string>& flags,
                              const std::string& env_file, bool env_file_required) {
  ConfigSources sources;
  sources.flags = flags;
  sources.env = [](const std::string& name) -> std::optional<std::string> {
    const char* v = std::getenv(name.c_str());
    return v != nullptr ? std::optional<std::string>(v) : std::nullopt;
  };
  std::ifstream in(env_file);
  if (in) {
    std::stringstream text;
    text << in.rdbuf();
    auto parsed = parse_dotenv(text.str());
    if (!parsed) return parsed.error();
    sources.dotenv = std::move(parsed).value();
  } else if (env_file_required) {
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("--env-file {}: cannot read it", env_file));
  }
  return load_config(sources);
}

std::string store_url(const Config& c) {
  return c.database_kind == DatabaseKind::kPostgres ? c.database_url : "sqlite://" + c.sqlite_path;
}

// Opens the database and applies pending migrations. PostgreSQL may still be
// starting (systemd, compose): retry for a while before giving up.
Result<store::OpenedStore> open_and_migrate(const Config& config) {
  auto opened = store::open_store(store_url(config), store::StoreOptions{});
  if (!opened) return opened.error();
  constexpr int kAttempts = 15;
  for (int attempt = 1;; ++attempt) {
    auto applied = store::migrate_up(*opened->pool, SystemClock::instance());
    if (applied) {
      for (const auto& m : *applied) {
        spdlog::info("[Migrate] Applied migration {:04d}_{}", m.version, m.name);
      }
      break;
    }
    if (applied.code() != ErrorCode::kUnavailable || attempt == kAttempts) return applied.error();
    spdlog::warn("[Startup] Database not reachable ({}); retrying in 1 s ({}/{})",
                 applied.error().message, attempt, kAttempts);
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
  return opened;
}

void log_config(const Config& c, std::string_view mode) {
  spdlog::info("[Startup] insightd {} starting ({})", INSIGHTD_VERSION, mode);
  spdlog::info("[Config] Database: {}", c.database_description());
  spdlog::info("[Config] Worker poll interval: {} ms", c.worker_poll_interval_ms);
  spdlog::info("[Config] Recovery interval: {} ms", c.recovery_interval_ms);
  spdlog::info("[Config] Batches seal at {} events or {} ms", c.batch_max_events,
               c.batch_max_age_ms);
  spdlog::info("[Config] Analyzer: {}",
               c.openai_api_key
                   ? fmt::format("OpenAI-compatible ({}, {})", c.openai_base_url, c.openai_model)
                   : std::string("built-in (OPENAI_API_KEY unset)"));
}

// Blocks until SIGINT or SIGTERM. The signals are blocked in every thread (the
// mask is set before any thread starts) and taken here synchronously.
int wait_for_stop_signal() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  int sig = 0;
  sigwait(&set, &sig);
  return sig;
}

int run_server(const Config& config, std::string_view mode) {
  log_config(config, mode);
  auto opened = open_and_migrate(config);
  if (!opened) {
    spdlog::error("[Startup] Cannot open the database: {}", opened.error().message);
    return kExitFailure;
  }
  net::Router router;
  api::add_health_routes(router, *opened->store, *opened->pool);
  net::HttpServerOptions options;
  options.host = config.host;
  options.port = config.port;
  net::HttpServer server(options, std::move(router));
  if (Status s = server.start(); !s) {
    spdlog::error("[Server] {}", s.message());
    return kExitFailure;
  }
  spdlog::info("[Server] Listening on http://{}:{}", config.host, server.port());
  spdlog::info("[Server] Health: /healthz, readiness: /readyz");
  const int sig = wait_for_stop_signal();
  spdlog::info("[Shutdown] {} received; stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
  server.stop();
  spdlog::info("[Shutdown] Stopped cleanly");
  return kExitOk;
}

int run_migrate(const Config& config, bool status_only) {
  auto opened = store::open_store(store_url(config), store::StoreOptions{});
  if (!opened) {
    spdlog::error("[Migrate] {}", opened.error().message);
    return kExitFailure;
  }
  if (!status_only) {
    auto applied = store::migrate_up(*opened->pool, SystemClock::instance());
    if (!applied) {
      spdlog::error("[Migrate] {}", applied.error().message);
      return kExitFailure;
    }
    for (const auto& m : *applied) {
      fmt::print("applied  {:04d}_{}\n", m.version, m.name);
    }
    if (applied->empty()) fmt::print("schema is current; nothing to apply\n");
    return kExitOk;
  }
  auto status = store::migration_status(*opened->pool);
  if (!status) {
    spdlog::error("[Migrate] {}", status.error().message);
    return kExitFailure;
  }
  fmt::print("database: {}\n", config.database_description());
  for (const auto& m : status->applied) {
    fmt::print("applied  {:04d}_{}  {}\n", m.version, m.name, format_timestamp(m.applied_at));
  }
  for (const auto& m : status->pending) fmt::print("pending  {:04d}_{}\n", m.version, m.name);
  fmt::print("{}\n", status->current() ? "schema is current" : "migrations pending");
  return kExitOk;
}

}  // namespace

int run_cli(int argc, char** argv) {
  CLI::App app{
      "insightd: a production analytics pipeline.\n"
      "Without a subcommand it runs everything in one process (the embedded default).\n"
      "Every setting is also read from the environment and from .env; flags win over\n"
      "the environment, which wins over .env. Secrets (keys, passwords) have no flags."};
  app.set_version_flag("--version", std::string("insightd ") + INSIGHTD_VERSION);
  app.require_subcommand(0, 1);

  std::string env_file = ".env";
  auto* env_file_opt =
      app.add_option("--env-file", env_file, "read settings from this file (default: .env)");

  // One flag per non-secret variable; they apply to every subcommand.
  std::map<std::string, std::string> flag_values;
  std::vector<std::pair<std::string, CLI::Option*>> flag_options;
  for (const VariableSpec& spec : config_variables()) {
    if (spec.secret) continue;
    auto* opt =
        app.add_option("--" + flag_name(spec.name), flag_values[std::string(spec.name)],
                       fmt::format("{} [{}; default {}]", spec.help, spec.name, spec.default_text));
    opt->group("Settings");
    flag_options.emplace_back(std::string(spec.name), opt);
  }

  auto* serve = app.add_subcommand(
      "serve",
      "Run the HTTP server: health and readiness now; ingestion and the admin API "
      "join it as they are built. Stateless; run several on one PostgreSQL.");
  auto* work = app.add_subcommand(
      "work",
      "Run the analysis workers. The job pipeline is not part of this build yet: the "
      "command says so and exits 1 (see docs/ARCHITECTURE.md).");
  auto* migrate = app.add_subcommand("migrate", "Apply or inspect the schema migrations.");
  migrate->require_subcommand(0, 1);
  auto* migrate_up_cmd = migrate->add_subcommand("up", "Apply every pending migration (default).");
  auto* migrate_status_cmd =
      migrate->add_subcommand("status", "List applied and pending migrations.");
  for (auto* sub : {serve, work, migrate, migrate_up_cmd, migrate_status_cmd}) sub->fallthrough();

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    (void)app.exit(e);
    return kExitUsage;
  }

  std::map<std::string, std::string> flags;
  for (const auto& [name, opt] : flag_options) {
    if (opt->count() > 0) flags[name] = flag_values[name];
  }
  auto config = resolve_config(flags, env_file, env_file_opt->count() > 0);
  if (!config) {
    std::cerr << "insightd: invalid configuration: " << config.error().message << "\n";
    return kExitUsage;
  }
  if (!obs::init_logging(config->log_level)) return kExitUsage;

  if (work->parsed()) {
    std::cerr << "insightd work: the analysis workers are not part of this build yet; "
                 "nothing was started\n";
    return kExitFailure;
  }
  if (migrate->parsed()) return run_migrate(*config, migrate_status_cmd->parsed());

  // Block the stop signals before any thread starts, so that every thread
  // inherits the mask and wait_for_stop_signal() receives them.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  return run_server(*config, serve->parsed() ? "serve" : "all-in-one");
}

}  // namespace insightd::app
