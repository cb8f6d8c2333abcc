#include "app/server.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <optional>
#include <string>

#include "api/admin_api.h"
#include "api/admin_live.h"
#include "api/dashboard.h"
#include "api/health.h"
#include "api/metrics.h"
#include "app/database.h"
#include "app/exit_codes.h"
#include "app/workers.h"
#include "auth/auth_routes.h"
#include "auth/auth_service.h"
#include "auth/oidc.h"
#include "auth/oidc_routes.h"
#include "cluster/cluster.h"
#include "cluster/shared_state.h"
#include "core/clock.h"
#include "ingest/group_commit_writer.h"
#include "ingest/http_ingest.h"
#include "ingest/ingest_metrics.h"
#include "ingest/ingest_service.h"
#include "ingest/live_hub.h"
#include "ingest/socketio_ingest.h"
#include "lifecycle/archiver.h"
#include "net/http_server.h"
#include "net/rate_limiter.h"
#include "net/router.h"
#include "obs/metrics.h"
#include "pipeline/batch_sealer.h"
#include "relay/outbox_relay.h"
#include "relay/outbox_retention.h"
#include "runtime/node_name.h"
#include "socketio/socketio_server.h"
#include "store/open_store.h"

#ifndef INSIGHTD_VERSION
#define INSIGHTD_VERSION "0.0.0"
#endif

namespace insightd::app {
namespace {

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
  if (c.redis_url && mode == "work") {
    spdlog::info(
        "[Config] REDIS_URL is set: `insightd work` shares nothing through it (live events, "
        "limits and the admin figures are the serving nodes')");
  }
  if (c.ingest_rate_limit > 0 && mode != "work") {
    spdlog::info("[Config] Ingest rate limit: {} events/s per write key, {}", c.ingest_rate_limit,
                 c.redis_url ? "held by all nodes together (Redis)"
                             : "on this node alone (REDIS_URL shares it across nodes)");
  }
  if (mode == "work" && !c.metrics_port) {
    spdlog::info(
        "[Config] METRICS_PORT unset: this worker serves no /metrics, /healthz or /readyz");
  }
  if (!c.kafka_brokers.empty() && mode == "serve") {
    spdlog::info(
        "[Config] KAFKA_BROKERS is set: the outbox relay runs in `insightd work` (and the "
        "all-in-one), not in `serve`");
  }
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

sigset_t stop_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  return set;
}

// Blocks until SIGINT or SIGTERM. The signals are blocked in every thread (the
// mask is set before any thread starts) and taken here synchronously.
int wait_for_stop_signal() {
  const sigset_t set = stop_signals();
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

// A Lifecycle start for a component whose start cannot fail.
std::function<Status()> cannot_fail(std::function<void()> start) {
  return [start = std::move(start)] {
    start();
    return Status::ok();
  };
}

// A Lifecycle start that logs its failure, after `prefix`, before returning it.
std::function<Status()> logs_failure(std::string prefix, std::function<Status()> start) {
  return [prefix = std::move(prefix), start = std::move(start)] {
    Status s = start();
    if (!s) spdlog::error("{}{}", prefix, s.message());
    return s;
  };
}

}  // namespace

std::string_view mode_name(Mode mode) {
  switch (mode) {
    case Mode::kAllInOne:
      return "all-in-one";
    case Mode::kServe:
      return "serve";
    case Mode::kWork:
      return "work";
  }
  return "unknown";
}

// Every component a mode may have, in dependency order: each may use those
// declared above it, and they are destroyed bottom-up. A mode builds only its
// own; the others stay empty.
struct Server::Parts {
  store::OpenedStore opened;
  std::unique_ptr<auth::AuthService> auth_service;
  // GET /metrics: declared early, so it outlives everything that counts into it.
  std::unique_ptr<obs::Registry> metrics;
  // The limiters, then REDIS_URL's cluster that syncs them (so it goes
  // first), then what calls through it.
  std::unique_ptr<net::KeyedRateLimiter> ingest_rate;  // INGEST_RATE_LIMIT
  std::shared_ptr<net::ConnectionLimiter> connection_limiter;
  std::shared_ptr<net::ConnectionLimiter> session_limiter;
  std::unique_ptr<cluster::Cluster> cluster;
  std::unique_ptr<cluster::RedisLoginLimit> login_limit;
  std::unique_ptr<cluster::RedisCache> cache;
  std::unique_ptr<Workers> workers;
  std::unique_ptr<relay::OutboxRelay> relay;  // when KAFKA_BROKERS is set
  std::unique_ptr<relay::OutboxRetention> outbox_retention;
  std::unique_ptr<lifecycle::Archiver> archiver;
  std::unique_ptr<ingest::LiveHub> live;
  std::unique_ptr<ingest::IngestMetrics> ingest_metrics;
  std::optional<store::OpenedStore> ingest_store;
  std::unique_ptr<ingest::GroupCommitWriter> writer;
  std::unique_ptr<ingest::IngestService> ingest_service;
  // Declared before the Socket.IO server, whose shutdown still tells it of
  // leaving clients.
  std::unique_ptr<api::AdminLive> admin_live;
  std::unique_ptr<socketio::SocketIoServer> io;
  std::unique_ptr<pipeline::BatchSealer> sealer;
  std::unique_ptr<auth::OidcClient> google;
  std::unique_ptr<net::HttpServer> http;
  // METRICS_PORT: /metrics, /healthz and /readyz, apart from the public port.
  std::unique_ptr<net::HttpServer> private_http;
  // Set when the shutdown begins: /readyz answers 503 from then on.
  std::atomic<bool> shutting_down{false};

  // A job may be runnable now: wakes this process's workers, when it has them.
  void wake_workers() const {
    if (workers) workers->wake();
  }
};

Server::Server(const Config& config, Mode mode)
    : config_(config), mode_(mode), parts_(std::make_unique<Parts>()) {}

Server::~Server() {
  stop();
}

Status Server::start() {
  log_config(config_, mode_name(mode_));
  if (has_http()) raise_file_limit(config_);
  if (Status s = build(); !s) return s;
  plan_lifecycle();
  if (Status s = lifecycle_.start(); !s) return s;
  if (has_http()) log_where_to_reach();
  return Status::ok();
}

void Server::stop() {
  lifecycle_.stop();
}

// Builds the mode's components, logging what fails.
Status Server::build() {
  Parts& p = *parts_;
  const Config& config = config_;
  const WaitClock& clock = RealClock::instance();
  auto opened = open_and_migrate(config);
  if (!opened) {
    spdlog::error("[Startup] Cannot open the database: {}", opened.error().message);
    return opened.error();
  }
  p.opened = std::move(opened).value();
  store::Store& store = *p.opened.store;

  if (has_http()) {
    // Admin sign-in: the secret and the admin's password (generated and logged
    // once at the first start when ADMIN_PASSWORD is unset).
    auth::AuthOptions auth_options;
    auth_options.admin_id = config.admin_id;
    auth_options.admin_password = config.admin_password;
    auth_options.auth_secret = config.auth_secret;
    auth_options.secure_cookies = config.public_url && config.public_url->starts_with("https://");
    if (config.google_client_id) auth_options.google_admins = config.admin_emails;
    auto auth_service = auth::AuthService::open(std::move(auth_options), *p.opened.pool, clock);
    if (!auth_service) {
      spdlog::error("[Startup] Cannot prepare admin sign-in: {}", auth_service.error().message);
      return auth_service.error();
    }
    p.auth_service = std::move(auth_service).value();
  }
  // Every mode counts; what serves /metrics depends on the mode and METRICS_PORT.
  p.metrics = std::make_unique<obs::Registry>();
  if (config.metrics_port && *config.metrics_port != 0 && *config.metrics_port == config.port &&
      has_http()) {
    spdlog::error("[Startup] METRICS_PORT must differ from PORT ({})", config.port);
    return Error{ErrorCode::kInvalidArgument, "METRICS_PORT equals PORT"};
  }

  // The all-in-one runs the workers beside ingestion, and every seal (by size
  // in the writer's commit, by age in the sealer) wakes them at once.
  if (has_workers()) p.workers = std::make_unique<Workers>(config, store, clock, p.metrics.get());
  // The outbox relay runs where the workers do (they write most of the outbox).
  if (has_workers() && !config.kafka_brokers.empty()) {
    relay::RelayOptions options;
    options.brokers = fmt::format("{}", fmt::join(config.kafka_brokers, ","));
    options.client_id = config.kafka_client_id;
    options.topic_prefix = config.kafka_topic_prefix;
    options.events = config.kafka_events;
    p.relay = std::make_unique<relay::OutboxRelay>(store.outbox(), clock, std::move(options),
                                                   p.metrics.get());
  }
  if (has_workers()) {
    p.outbox_retention = std::make_unique<relay::OutboxRetention>(
        store.outbox(), clock, std::chrono::days(config.outbox_retention_days),
        !config.kafka_brokers.empty());
    // The archiver runs where the workers do: it takes ANALYZED batches.
    lifecycle::ArchiverOptions archive;
    archive.after = std::chrono::days(config.archive_after_days);
    // In the background a quarter of the time, so that beside ingestion at
    // full speed it costs ingestion under 10 % (docs/BENCHMARKS.md);
    // `insightd archive` runs flat out.
    archive.duty = 0.25;
    if (config.archive_delete_after_days > 0) {
      archive.delete_after = std::chrono::days(config.archive_delete_after_days);
    }
    p.archiver = std::make_unique<lifecycle::Archiver>(store, clock, archive, p.metrics.get());
  }
  if (!has_http()) {
    if (config.metrics_port) {
      api::add_store_metrics(*p.metrics, store, clock, Millis(1'000));
      build_private_listener({.shutting_down = [&p] { return p.shutting_down.load(); }});
    }
    return Status::ok();
  }
  auto wake_workers = [&p](const std::vector<store::SealedBatch>&) { p.wake_workers(); };
  obs::Registry& metrics = *p.metrics;
  auth::AuthService& auth_service = *p.auth_service;
  build_shared_limits();

  // Ingestion: every front door goes through one group-commit writer.
  p.live = std::make_unique<ingest::LiveHub>();
  p.ingest_metrics = std::make_unique<ingest::IngestMetrics>(metrics);
  // The writer commits on connections of its own: admin queries, /readyz and
  // /metrics (which need no sign-in) can never take the ones ingestion needs.
  // On SQLite its commits also go first at the file's write gate: a backlog
  // the workers drain cannot stall acknowledgements (store/sqlite/write_gate.h).
  auto ingest_store = store::open_store(
      store_url(config),
      store::StoreOptions{.pool_size = 2, .write_priority = store::WritePriority::kIngest});
  if (!ingest_store) {
    spdlog::error("[Startup] Cannot open the database: {}", ingest_store.error().message);
    return ingest_store.error();
  }
  p.ingest_store = std::move(ingest_store).value();
  p.writer = std::make_unique<ingest::GroupCommitWriter>(
      p.ingest_store->store->events(), clock,
      ingest::WriterOptions{.policy = batch_policy(config),
                            .commit_timeout = Millis(config.ingest_commit_timeout_ms)},
      p.live.get(), wake_workers, p.ingest_metrics.get());
  ingest::GroupCommitWriter& writer = *p.writer;
  metrics.add_gauge_callback(
      "insightd_ingest_queue_bytes",
      "Bytes of the events waiting in the group-commit writer's queue (bounded at 128 MiB).",
      [&writer] { return static_cast<double>(writer.queue_bytes()); });
  metrics.add_gauge_callback("insightd_ingest_queue_events",
                             "Events waiting in the group-commit writer's bounded queue.",
                             [&writer] { return static_cast<double>(writer.queue_depth()); });
  p.ingest_service = std::make_unique<ingest::IngestService>(writer, clock, config.ingest_keys,
                                                             p.ingest_metrics.get());
  if (p.ingest_rate) p.ingest_service->limit_rate(*p.ingest_rate);
  // Socket.IO (user:event, user:events) at SOCKETIO_PATH, beside HTTP ingestion.
  socketio::ServerOptions sio_options;
  sio_options.path = config.socketio_path;
  sio_options.cors_origin = config.public_url.value_or("*");
  sio_options.session_caps = p.session_limiter->caps();
  sio_options.session_limiter = p.session_limiter;
  // The dashboard's live stream (namespace /admin).
  p.admin_live = std::make_unique<api::AdminLive>(store, auth_service, *p.live, clock,
                                                  api::AdminLiveOptions{.cache = p.cache.get()},
                                                  p.cluster.get());
  p.io = std::make_unique<socketio::SocketIoServer>(sio_options);
  ingest::attach_socketio_ingest(*p.io, *p.ingest_service);
  p.admin_live->attach(*p.io);
  p.sealer = std::make_unique<pipeline::BatchSealer>(
      store.batches(), clock, Millis(config.batch_max_age_ms), batch_policy(config),
      std::chrono::seconds(1), wake_workers);

  net::Router router;
  const api::HealthOptions health{
      .ingest_stalled_for = [&writer] { return writer.commit_running_for(); },
      .shutting_down = [&p] { return p.shutting_down.load(); }};
  api::add_health_routes(router, store, *p.opened.pool, health);
  auth::add_auth_routes(router, auth_service);
  // Optional Google sign-in; the provider is first asked when someone signs in.
  if (config.google_client_id) {
    p.google = std::make_unique<auth::OidcClient>(
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
  auth::add_oidc_routes(router, auth_service, p.google.get());
  api::add_admin_routes(router, auth_service, store, clock,
                        api::AdminApiOptions{.policy = batch_policy(config),
                                             .wake_workers = [&p] { p.wake_workers(); },
                                             .cache = p.cache.get()});
  ingest::add_ingest_routes(router, *p.ingest_service,
                            ingest::HttpIngestOptions{.cors_origin = config.public_url});
  p.admin_live->add_routes(router);
  api::add_dashboard_routes(router, auth_service, api::dashboard_files(config.web_dir));
  p.io->mount(router);
  api::add_store_metrics(metrics, store, clock, Millis(1'000));
  if (config.metrics_port) {
    build_private_listener(health);
  } else {
    api::add_metrics_route(router, metrics);
  }
  net::HttpServerOptions options;
  options.host = config.host;
  options.port = config.port;
  // Ingest requests wait on the pool for their commit; many may wait at once.
  options.blocking_threads = 16;
  options.connection_caps = p.connection_limiter->caps();
  options.connection_limiter = p.connection_limiter;
  options.on_answer = api::count_http_requests(metrics, router);  // every route is in by now
  if (auto proxies = net::TrustedProxies::parse(config.trusted_proxies)) {
    options.trusted_proxies = *proxies;  // checked when the configuration was read
  }
  p.http = std::make_unique<net::HttpServer>(options, std::move(router));
  return Status::ok();
}

// The per-address limits and INGEST_RATE_LIMIT, and with REDIS_URL the cluster
// that makes the nodes hold them together (and shares live events and the
// admin figures).
void Server::build_shared_limits() {
  Parts& p = *parts_;
  const Config& config = config_;
  p.connection_limiter = net::ConnectionLimiter::make(net::ConnectionCaps{
      .max_total = static_cast<size_t>(config.max_connections),
      .max_per_address = static_cast<size_t>(config.max_connections_per_address)});
  const auto handshakes = static_cast<double>(config.handshakes_per_second_per_address);
  p.session_limiter = net::ConnectionLimiter::make(
      net::ConnectionCaps{.max_per_address = static_cast<size_t>(config.max_sessions_per_address),
                          .rate_per_address = handshakes,
                          .burst_per_address = 2.0 * handshakes});
  if (config.ingest_rate_limit > 0) {
    // A second's worth saved up at most.
    const auto rate = static_cast<double>(config.ingest_rate_limit);
    p.ingest_rate = std::make_unique<net::KeyedRateLimiter>(rate, rate);
  }
  if (!config.redis_url) return;
  auto endpoint = cluster::parse_redis_url(*config.redis_url);  // checked with the configuration
  if (!endpoint) return;
  p.cluster = std::make_unique<cluster::Cluster>(
      *endpoint, cluster::ClusterOptions{.node = runtime::node_name()}, p.metrics.get());
  p.login_limit = std::make_unique<cluster::RedisLoginLimit>(*p.cluster);
  p.auth_service->share_login_limit(*p.login_limit);
  p.cache = std::make_unique<cluster::RedisCache>(*p.cluster);
  p.cluster->share_gauges("connections", *p.connection_limiter);
  p.cluster->share_gauges("sessions", *p.session_limiter);
  p.cluster->share_counts("handshakes", *p.session_limiter);
  if (p.ingest_rate) p.cluster->share_counts("ingest", *p.ingest_rate);
}

// METRICS_PORT's listener: /metrics, /healthz and /readyz only, on HOST, for
// a scraper or a probe that the public port need not admit.
void Server::build_private_listener(const api::HealthOptions& health) {
  Parts& p = *parts_;
  net::Router router;
  api::add_health_routes(router, *p.opened.store, *p.opened.pool, health);
  api::add_metrics_route(router, *p.metrics);
  net::HttpServerOptions options;
  options.host = config_.host;
  options.port = *config_.metrics_port;
  options.connection_caps = net::ConnectionCaps{.max_total = 64, .max_per_address = 16};
  p.private_http = std::make_unique<net::HttpServer>(options, std::move(router));
}

// The start-up and shutdown order of every mode, and the only place it is
// written. Rows start top to bottom, each only when the mode has its component;
// stop_at is the row's place in the shutdown, which also unwinds a failed start:
// - the HTTP server opens once the writer and Socket.IO can take what it hands
//   them; the shutdown is a drain: the listener closes first (no new
//   connection), the writer commits what is queued and answers it, each
//   Socket.IO session ends once its client has those answers (within
//   SHUTDOWN_GRACE_MS), and only then do the HTTP server's connections close;
// - the dashboard's live stream stops before Socket.IO, which still tells it of
//   leaving clients;
// - the writer stops after the sealer (a seal wakes the workers);
// - the workers start last, so that a start-up failing on the port claims no
//   job, and stop last.
void Server::plan_lifecycle() {
  Parts& p = *parts_;
  auto add = [this](int stop_at, std::function<Status()> start, std::function<void()> stop) {
    lifecycle_.add({.stop_at = stop_at, .start = std::move(start), .stop = std::move(stop)});
  };
  // add(stop_at, start, stop), one row per component, in start order.
  // First in the shutdown: /readyz says 503 from here on.
  add(0, cannot_fail([] {}), [&p] { p.shutting_down = true; });
  // Redis first (it need not be up: it keeps trying), stopped last: the limits
  // stay shared while the node drains.
  if (p.cluster) {
    add(13, cannot_fail([&p] { p.cluster->start(); }), [&p] { p.cluster->stop(); });
  }
  // The private listener first and stopped last: a probe or a scrape sees the
  // whole start and shutdown.
  if (p.private_http) {
    add(12,
        logs_failure(
            "[Server] Metrics listener: ",
            [this, &p] {
              Status s = p.private_http->start();
              if (s) {
                spdlog::info(
                    "[Server] Metrics listener on http://{}:{}: /metrics, /healthz, /readyz",
                    config_.host, p.private_http->port());
              }
              return s;
            }),
        [&p] { p.private_http->stop(); });
  }
  if (p.writer) {
    add(3, cannot_fail([&p] { p.writer->start(); }), [&p] { p.writer->stop(); });
  }
  if (p.io) {
    add(7, logs_failure("[Server] Socket.IO: ", [&p] { return p.io->start(); }),
        [&p] { p.io->stop(); });
  }
  if (p.http) {
    // Its connections answer the requests they have read (ingest answers of
    // the commits above) before they close.
    add(5, logs_failure("[Server] ", [&p] { return p.http->start(); }), [this, &p] {
      p.http->drain(std::chrono::milliseconds(config_.shutdown_grace_ms));
      p.http->stop();
    });
    // The drain's first step: no new connection; those open go on.
    add(1, cannot_fail([] {}), [&p] { p.http->stop_accepting(); });
  }
  if (p.io) {
    // Once the writer has committed what was queued (its acks are on their
    // way), each Socket.IO session ends as soon as its client has them; the
    // client connects again, to another node behind a load balancer.
    add(4, cannot_fail([] {}), [this, &p] {
      const size_t sessions = p.io->session_count();
      const auto started = std::chrono::steady_clock::now();
      p.io->drain(std::chrono::milliseconds(config_.shutdown_grace_ms));
      spdlog::info("[Shutdown] Drained {} Socket.IO session(s) in {} ms ({} left)", sessions,
                   std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::steady_clock::now() - started)
                       .count(),
                   p.io->session_count());
    });
  }
  if (p.sealer) {
    add(2, cannot_fail([&p] { p.sealer->start(); }), [&p] { p.sealer->stop(); });
  }
  if (p.admin_live) {
    add(6, cannot_fail([&p] { p.admin_live->start(); }), [&p] { p.admin_live->stop(); });
  }
  if (p.workers) {
    add(8,
        logs_failure("[Startup] Cannot start the workers: ", [&p] { return p.workers->start(); }),
        [this, &p] {
          workers_report_ = p.workers->stop();
          if (workers_report_.abandoned > 0) exit_abandoning(workers_report_.abandoned);
        });
  }
  if (p.outbox_retention) {
    add(9, cannot_fail([&p] { p.outbox_retention->start(); }),
        [&p] { p.outbox_retention->stop(); });
  }
  if (p.archiver) {
    add(10,
        cannot_fail([&p, days = config_.archive_after_days,
                     delete_days = config_.archive_delete_after_days] {
          p.archiver->start();
          spdlog::info(
              "  [Archive] Events of ANALYZED batches move to the archive {} days after their "
              "seal (checked every minute, one node at a time); {}",
              days,
              delete_days > 0
                  ? fmt::format("archived events are deleted {} days after their archiving",
                                delete_days)
                  : std::string("archived events are kept forever"));
        }),
        [&p] { p.archiver->stop(); });
  }
  // Last to stop: what the workers wrote on their way out can still leave.
  if (p.relay) {
    add(11,
        logs_failure("[Startup] Cannot start the Kafka relay: ", [&p] { return p.relay->start(); }),
        [&p] { p.relay->stop(); });
  }
}

void Server::log_where_to_reach() const {
  const Config& config = config_;
  const uint16_t port = parts_->http->port();
  spdlog::info("[Server] Listening on http://{}:{}", config.host, port);
  spdlog::info("[Server] Ingestion: Socket.IO at {} and POST /api/events ({})",
               config.socketio_path,
               parts_->ingest_service->open() ? "open" : "write key required");
  if (parts_->private_http) {
    spdlog::info(
        "[Server] Health: /healthz, readiness: /readyz (also on METRICS_PORT, with "
        "/metrics)");
  } else {
    spdlog::info("[Server] Health: /healthz, readiness: /readyz, Prometheus metrics: /metrics");
  }
  spdlog::info(
      "[Server] Admin sign-in: POST /api/auth/login as '{}'; API tokens at "
      "/api/admin/tokens",
      config.admin_id);
  spdlog::info("[Server] Dashboard: http://{}:{}/admin/analytics{}",
               config.host == "0.0.0.0" ? "localhost" : config.host, port,
               config.web_dir ? fmt::format(" (files from {})", *config.web_dir) : "");
  spdlog::info("  [Batch Sealer] Hybrid sealing ({} events OR {})", config.batch_max_events,
               human_duration(config.batch_max_age_ms));
  spdlog::info("  [Job Creator] PENDING jobs for SEALED batches (in the sealing transaction)");
}

int run_until_stopped(const Config& config, Mode mode) {
  const sigset_t signals = stop_signals();
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  Server server(config, mode);
  if (!server.start()) return kExitFailure;
  const int sig = wait_for_stop_signal();
  const char* name = sig == SIGTERM ? "SIGTERM" : "SIGINT";
  if (mode == Mode::kWork) {
    spdlog::info("[Shutdown] {} received; finishing running jobs (up to {})", name,
                 human_duration(config.shutdown_grace_ms));
  } else {
    spdlog::info("[Shutdown] {} received; stopping", name);
  }
  server.stop();
  if (mode == Mode::kWork) {
    const pipeline::StopReport& report = server.workers_report();
    spdlog::info("[Shutdown] Stopped cleanly ({} job(s) finished, {} handed back)", report.finished,
                 report.handed_back);
  } else {
    spdlog::info("[Shutdown] Stopped cleanly");
  }
  return kExitOk;
}

}  // namespace insightd::app
