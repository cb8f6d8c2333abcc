#include "app/cli.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>

#include "api/admin_api.h"
#include "api/admin_live.h"
#include "api/dashboard.h"
#include "api/health.h"
#include "api/metrics.h"
#include "app/commands.h"
#include "app/config.h"
#include "app/database.h"
#include "app/exit_codes.h"
#include "app/workers.h"
#include "auth/auth_routes.h"
#include "auth/auth_service.h"
#include "auth/oidc.h"
#include "auth/oidc_routes.h"
#include "core/clock.h"
#include "ingest/group_commit_writer.h"
#include "ingest/http_ingest.h"
#include "ingest/ingest_metrics.h"
#include "ingest/ingest_service.h"
#include "ingest/live_hub.h"
#include "ingest/socketio_ingest.h"
#include "net/http_server.h"
#include "net/router.h"
#include "obs/log.h"
#include "pipeline/batch_sealer.h"
#include "socketio/socketio_server.h"
#include "store/open_store.h"

#ifndef INSIGHTD_VERSION
#define INSIGHTD_VERSION "0.0.0"
#endif

namespace insightd::app {
namespace {

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
  // Parsed and documented, but nothing reads them yet: say so rather than let a
  // user believe they work.
  if (c.redis_url) {
    spdlog::warn(
        "[Config] REDIS_URL is set but not used yet: each node fans out and limits "
        "on its own");
  }
  if (!c.kafka_brokers.empty()) {
    spdlog::warn(
        "[Config] KAFKA_BROKERS is set but the outbox relay is not built yet: outbox "
        "rows are recorded and not published");
  }
  spdlog::info("[Config] ARCHIVE_AFTER_DAYS={} has no effect yet: events are never archived",
               c.archive_after_days);
}

// Each connection needs a descriptor; the soft limit is often 1,024, far below
// MAX_CONNECTIONS. Raised to the hard limit, and said when that is still short.
void raise_file_limit(const Config& c) {
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) != 0) return;
  if (lim.rlim_cur < lim.rlim_max) {
    rlimit raised = lim;
    raised.rlim_cur = lim.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) lim = raised;
  }
  const auto wanted = static_cast<rlim_t>(c.max_connections) + 256;
  if (lim.rlim_cur != RLIM_INFINITY && lim.rlim_cur < wanted) {
    spdlog::warn(
        "[Startup] Open files are limited to {}, below MAX_CONNECTIONS={} (+256): "
        "raise LimitNOFILE / ulimit -n",
        static_cast<uint64_t>(lim.rlim_cur), c.max_connections);
  }
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

// Ends the process after a shutdown that left analyzer calls running: their
// threads still use the store and the analyzer, so destructors must not run.
// Their jobs were handed back and their late writes would be refused anyway.
[[noreturn]] void exit_abandoning(size_t abandoned) {
  spdlog::warn("[Shutdown] Stopped; {} analyzer call(s) still running were abandoned", abandoned);
  spdlog::default_logger()->flush();
  std::fflush(stdout);
  std::_Exit(kExitOk);
}

int run_server(const Config& config, std::string_view mode) {
  const bool with_workers = mode != "serve";
  log_config(config, mode);
  raise_file_limit(config);
  auto opened = open_and_migrate(config);
  if (!opened) {
    spdlog::error("[Startup] Cannot open the database: {}", opened.error().message);
    return kExitFailure;
  }
  store::Store& store = *opened->store;
  const WaitClock& clock = RealClock::instance();

  // Admin sign-in: the secret and the admin's password (generated and logged
  // once at the first start when ADMIN_PASSWORD is unset).
  auth::AuthOptions auth_options;
  auth_options.admin_id = config.admin_id;
  auth_options.admin_password = config.admin_password;
  auth_options.auth_secret = config.auth_secret;
  auth_options.secure_cookies = config.public_url && config.public_url->starts_with("https://");
  if (config.google_client_id) auth_options.google_admins = config.admin_emails;
  auto auth_service = auth::AuthService::open(std::move(auth_options), *opened->pool, clock);
  if (!auth_service) {
    spdlog::error("[Startup] Cannot prepare admin sign-in: {}", auth_service.error().message);
    return kExitFailure;
  }

  // GET /metrics: declared first, so it outlives everything that counts into it.
  obs::Registry metrics;

  // All in one: the workers run here too, and every seal (by size in the
  // writer's commit, by age in the sealer) wakes them at once.
  std::unique_ptr<Workers> workers;
  if (with_workers) workers = std::make_unique<Workers>(config, store, clock, &metrics);
  auto wake_workers = [&workers](const std::vector<store::SealedBatch>&) {
    if (workers) workers->wake();
  };

  // Ingestion: every front door goes through one group-commit writer.
  ingest::LiveHub live;
  ingest::IngestMetrics ingest_metrics(metrics);
  // The writer commits on connections of its own: admin queries, /readyz and
  // /metrics (which need no sign-in) can never take the ones ingestion needs.
  auto ingest_store = store::open_store(store_url(config), store::StoreOptions{.pool_size = 2});
  if (!ingest_store) {
    spdlog::error("[Startup] Cannot open the database: {}", ingest_store.error().message);
    return kExitFailure;
  }
  ingest::GroupCommitWriter writer(
      ingest_store->store->events(), clock,
      ingest::WriterOptions{.policy = batch_policy(config),
                            .commit_timeout = Millis(config.ingest_commit_timeout_ms)},
      &live, wake_workers, &ingest_metrics);
  metrics.add_gauge_callback(
      "insightd_ingest_queue_bytes",
      "Bytes of the events waiting in the group-commit writer's queue (bounded at 128 MiB).",
      [&writer] { return static_cast<double>(writer.queue_bytes()); });
  metrics.add_gauge_callback("insightd_ingest_queue_events",
                             "Events waiting in the group-commit writer's bounded queue.",
                             [&writer] { return static_cast<double>(writer.queue_depth()); });
  ingest::IngestService ingest_service(writer, clock, config.ingest_keys, &ingest_metrics);
  // Socket.IO (user:event, user:events) at SOCKETIO_PATH, beside HTTP ingestion.
  socketio::ServerOptions sio_options;
  sio_options.path = config.socketio_path;
  sio_options.cors_origin = config.public_url.value_or("*");
  sio_options.session_caps = net::ConnectionCaps{
      .max_per_address = static_cast<size_t>(config.max_sessions_per_address),
      .rate_per_address = static_cast<double>(config.handshakes_per_second_per_address),
      .burst_per_address = 2.0 * static_cast<double>(config.handshakes_per_second_per_address)};
  // The dashboard's live stream (namespace /admin); declared before the
  // Socket.IO server, whose shutdown still tells it of leaving clients.
  api::AdminLive admin_live(store, **auth_service, live, clock);
  socketio::SocketIoServer io(sio_options);
  ingest::attach_socketio_ingest(io, ingest_service);
  admin_live.attach(io);
  pipeline::BatchSealer sealer(store.batches(), clock, Millis(config.batch_max_age_ms),
                               batch_policy(config), std::chrono::seconds(1), wake_workers);

  net::Router router;
  api::add_health_routes(
      router, store, *opened->pool,
      api::HealthOptions{.ingest_stalled_for = [&writer] { return writer.commit_running_for(); }});
  auth::add_auth_routes(router, **auth_service);
  // Optional Google sign-in; the provider is first asked when someone signs in.
  std::unique_ptr<auth::OidcClient> google;
  if (config.google_client_id) {
    google = std::make_unique<auth::OidcClient>(
        auth::OidcOptions{
            .issuer = config.google_issuer,
            .client_id = *config.google_client_id,
            .client_secret = config.google_client_secret.value_or(""),
            .redirect_uri = config.public_url.value_or("") + std::string(auth::kGoogleCallbackPath),
            .admin_emails = config.admin_emails},
        auth::make_oidc_http(), clock);
    spdlog::info("[Server] Google sign-in: GET /api/auth/google via {} for {} address(es)",
                 config.google_issuer, config.admin_emails.size());
  }
  auth::add_oidc_routes(router, **auth_service, google.get());
  api::add_admin_routes(
      router, **auth_service, store, clock,
      api::AdminApiOptions{.policy = batch_policy(config), .wake_workers = [&workers] {
                             if (workers) workers->wake();
                           }});
  ingest::add_ingest_routes(router, ingest_service,
                            ingest::HttpIngestOptions{.cors_origin = config.public_url});
  admin_live.add_routes(router);
  api::add_dashboard_routes(router, **auth_service, api::dashboard_files(config.web_dir));
  io.mount(router);
  api::add_store_metrics(metrics, store, clock, Millis(1'000));
  api::add_metrics_route(router, metrics);
  net::HttpServerOptions options;
  options.host = config.host;
  options.port = config.port;
  // Ingest requests wait on the pool for their commit; many may wait at once.
  options.blocking_threads = 16;
  options.connection_caps = net::ConnectionCaps{
      .max_total = static_cast<size_t>(config.max_connections),
      .max_per_address = static_cast<size_t>(config.max_connections_per_address)};
  options.on_answer = api::count_http_requests(metrics, router);  // every route is in by now
  net::HttpServer server(options, std::move(router));
  writer.start();
  if (Status s = io.start(); !s) {
    spdlog::error("[Server] Socket.IO: {}", s.message());
    return kExitFailure;
  }
  if (Status s = server.start(); !s) {
    spdlog::error("[Server] {}", s.message());
    return kExitFailure;
  }
  sealer.start();
  admin_live.start();
  if (workers) {
    if (Status s = workers->start(); !s) {
      spdlog::error("[Startup] Cannot start the workers: {}", s.message());
      server.stop();
      admin_live.stop();
      io.stop();
      sealer.stop();
      writer.stop();
      return kExitFailure;
    }
  }
  spdlog::info("[Server] Listening on http://{}:{}", config.host, server.port());
  spdlog::info("[Server] Ingestion: Socket.IO at {} and POST /api/events ({})",
               config.socketio_path, ingest_service.open() ? "open" : "write key required");
  spdlog::info("[Server] Health: /healthz, readiness: /readyz, Prometheus metrics: /metrics");
  spdlog::info(
      "[Server] Admin sign-in: POST /api/auth/login as '{}'; API tokens at "
      "/api/admin/tokens",
      config.admin_id);
  spdlog::info("[Server] Dashboard: http://{}:{}/admin/analytics{}",
               config.host == "0.0.0.0" ? "localhost" : config.host, server.port(),
               config.web_dir ? fmt::format(" (files from {})", *config.web_dir) : "");
  spdlog::info("  [Batch Sealer] Hybrid sealing ({} events OR {})", config.batch_max_events,
               human_duration(config.batch_max_age_ms));
  spdlog::info("  [Job Creator] PENDING jobs for SEALED batches (in the sealing transaction)");
  const int sig = wait_for_stop_signal();
  spdlog::info("[Shutdown] {} received; stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
  server.stop();
  admin_live.stop();
  io.stop();
  sealer.stop();
  writer.stop();  // commits what is queued
  if (workers) {
    const pipeline::StopReport report = workers->stop();
    if (report.abandoned > 0) exit_abandoning(report.abandoned);
  }
  spdlog::info("[Shutdown] Stopped cleanly");
  return kExitOk;
}

// `insightd work`: the workers and recovery, no HTTP.
int run_work(const Config& config) {
  log_config(config, "work");
  auto opened = open_and_migrate(config);
  if (!opened) {
    spdlog::error("[Startup] Cannot open the database: {}", opened.error().message);
    return kExitFailure;
  }
  Workers workers(config, *opened->store, RealClock::instance());
  if (Status s = workers.start(); !s) {
    spdlog::error("[Startup] Cannot start the workers: {}", s.message());
    return kExitFailure;
  }
  const int sig = wait_for_stop_signal();
  spdlog::info("[Shutdown] {} received; finishing running jobs (up to {})",
               sig == SIGTERM ? "SIGTERM" : "SIGINT", human_duration(config.shutdown_grace_ms));
  const pipeline::StopReport report = workers.stop();
  if (report.abandoned > 0) exit_abandoning(report.abandoned);
  spdlog::info("[Shutdown] Stopped cleanly ({} job(s) finished, {} handed back)", report.finished,
               report.handed_back);
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
      "Run the HTTP server: ingestion (POST /api/events), the age sealer, /healthz and "
      "/readyz. Stateless; run several on one PostgreSQL.");
  auto* work = app.add_subcommand(
      "work",
      "Run the analysis workers and stuck-job recovery, without HTTP. Competing workers: "
      "run several on one PostgreSQL.");
  auto* analyze = app.add_subcommand(
      "analyze",
      "Create an analysis job for a SEALED or ANALYZED batch (fails while one is "
      "PENDING or RUNNING for it).");
  std::string analyze_batch;
  analyze->add_option("BATCH", analyze_batch, "the batch id (batch_...)")->required();
  auto* dlq = app.add_subcommand("dlq", "List, redrive or discard dead-letter jobs.");
  dlq->require_subcommand(1, 1);
  auto* dlq_list = dlq->add_subcommand("list", "List dead jobs, newest first, with every error.");
  DlqCommand dlq_command;
  dlq_list->add_option("--limit", dlq_command.limit, "at most this many (default 50)")
      ->check(CLI::Range(1, 10000));
  dlq_list->add_flag("--json", dlq_command.json, "print a JSON array");
  auto* dlq_retry = dlq->add_subcommand(
      "retry", "Redrive a dead job: a fresh job for its batch with fresh attempts.");
  dlq_retry->add_option("ID", dlq_command.id, "the dead-letter id (dlq_...)")->required();
  auto* dlq_discard = dlq->add_subcommand("discard", "Delete a dead-letter entry.");
  dlq_discard->add_option("ID", dlq_command.id, "the dead-letter id (dlq_...)")->required();
  auto* migrate = app.add_subcommand("migrate", "Apply or inspect the schema migrations.");
  auto* seal = app.add_subcommand(
      "seal", "Seal the OPEN batch now (if it holds events), creating its analysis job.");
  migrate->require_subcommand(0, 1);
  auto* migrate_up_cmd = migrate->add_subcommand("up", "Apply every pending migration (default).");
  auto* migrate_status_cmd =
      migrate->add_subcommand("status", "List applied and pending migrations.");
  auto* insight = app.add_subcommand(
      "insight",
      "Analyze a file of events (one user:event JSON object per line) as one batch "
      "and print the insight as JSON.");
  std::string insight_from;
  std::string insight_analyzer;
  insight->add_option("--from", insight_from, "the JSONL file of events")->required();
  insight
      ->add_option("--analyzer", insight_analyzer,
                   "builtin or openai (default: openai when OPENAI_API_KEY is set)")
      ->check(CLI::IsMember({"builtin", "openai"}));
  for (auto* sub : {serve, work, migrate, migrate_up_cmd, migrate_status_cmd, seal, insight,
                    analyze, dlq, dlq_list, dlq_retry, dlq_discard}) {
    sub->fallthrough();
  }

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

  if (migrate->parsed()) return run_migrate(*config, migrate_status_cmd->parsed());
  if (seal->parsed()) return run_seal(*config);
  if (analyze->parsed()) return run_analyze(*config, analyze_batch);
  if (dlq->parsed()) {
    dlq_command.action = dlq_retry->parsed()     ? DlqAction::kRetry
                         : dlq_discard->parsed() ? DlqAction::kDiscard
                                                 : DlqAction::kList;
    return run_dlq(*config, dlq_command);
  }
  if (insight->parsed()) return run_insight(*config, insight_from, insight_analyzer);

  // Block the stop signals before any thread starts, so that every thread
  // inherits the mask and wait_for_stop_signal() receives them.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  if (work->parsed()) return run_work(*config);
  return run_server(*config, serve->parsed() ? "serve" : "all-in-one");
}

}  // namespace insightd::app
