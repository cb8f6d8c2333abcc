#include "app/workers.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include "analysis/builtin_analyzer.h"
#include "analysis/openai_analyzer.h"

namespace insightd::app {
namespace {

// "host:pid": who holds a lease, readable in the AnalysisJob table and logs.
std::string lease_owner() {
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) != 0) host[0] = '\0';
  return fmt::format("{}:{}", host[0] != '\0' ? host : "localhost", getpid());
}

}  // namespace

std::string human_duration(int64_t ms) {
  if (ms >= 60'000 && ms % 60'000 == 0) return fmt::format("{} min", ms / 60'000);
  if (ms >= 1'000 && ms % 1'000 == 0) {
    return fmt::format("{} second{}", ms / 1'000, ms == 1'000 ? "" : "s");
  }
  return fmt::format("{} ms", ms);
}

Workers::Workers(const Config& config, store::Store& store, const WaitClock& clock,
                 obs::Registry* metrics)
    : config_(config), store_(store), clock_(clock) {
  if (config.openai_api_key) {
    analysis::OpenAiOptions options;
    options.base_url = config.openai_base_url;
    options.api_key = *config.openai_api_key;
    options.model = config.openai_model;
    analyzer_ = std::make_unique<analysis::OpenAiAnalyzer>(options, clock);
    pipeline::BreakerPolicy policy;
    policy.failure_threshold = config.breaker_failure_threshold;
    policy.cooldown = Millis(config.breaker_cooldown_ms);
    policy.probe_timeout = Millis(config.breaker_probe_timeout_ms);
    policy.probe_recheck = Millis(config.worker_poll_interval_ms);
    breaker_ =
        std::make_unique<pipeline::CircuitBreaker>(store.breakers(), "analyzer", policy, clock);
  } else {
    analyzer_ = std::make_unique<analysis::BuiltinAnalyzer>();
  }
  handler_ = std::make_unique<pipeline::AnalysisJobHandler>(store, *analyzer_, breaker_.get());
  pipeline::WorkerOptions options;
  options.owner = lease_owner();
  options.concurrency = static_cast<size_t>(config.worker_concurrency);
  options.poll_interval = Millis(config.worker_poll_interval_ms);
  options.lease = Millis(config.job_lease_ms);
  options.retry = {Millis(config.retry_backoff_base_ms), Millis(config.retry_backoff_max_ms)};
  options.metrics = metrics;
  worker_ = std::make_unique<pipeline::JobWorker>(store.jobs(), *handler_, clock, options);
  recovery_ = std::make_unique<pipeline::StuckJobRecovery>(
      store.jobs(), clock, Millis(config.recovery_interval_ms), Millis(config.stuck_job_timeout_ms),
      [this] { worker_->wake(); });
  if (config.database_kind == DatabaseKind::kPostgres) {
    listener_ = std::make_unique<pipeline::JobNotificationListener>(
        config.database_url, [this] { worker_->wake(); }, clock);
  }
}

Workers::~Workers() {
  (void)stop();
}

Status Workers::start() {
  spdlog::info("[Startup] Initializing production-grade analytics workers...");
  if (listener_) {
    if (Status s = listener_->start(); !s) return s;
  }
  worker_->start();
  recovery_->start();
  spdlog::info("✓ All workers started successfully");
  spdlog::info("  [Worker] Up to {} jobs at once; woken by {}, polling every {} as a fallback",
               config_.worker_concurrency,
               listener_ ? "PostgreSQL LISTEN/NOTIFY" : "each batch sealed in this process",
               human_duration(config_.worker_poll_interval_ms));
  spdlog::info("  [Recovery] Stuck job detection every {} (lease {}, stuck after {})",
               human_duration(config_.recovery_interval_ms), human_duration(config_.job_lease_ms),
               human_duration(config_.stuck_job_timeout_ms));
  spdlog::info("  [AI] Analyzer: {}",
               analyzer_->name() == "openai"
                   ? fmt::format("OpenAI-compatible, model {}", config_.openai_model)
                   : std::string("built-in statistics"));
  if (breaker_) {
    auto state = breaker_->current();
    spdlog::info("  [Circuit Breaker] Protects AI API ({} failures → {} cooldown); now {}",
                 config_.breaker_failure_threshold, human_duration(config_.breaker_cooldown_ms),
                 state ? std::string(to_string(state->state)) : "unknown");
  } else {
    spdlog::info("  [Circuit Breaker] Not needed: the built-in analyzer calls no external API");
  }
  spdlog::info("  [Dead Letter] Jobs move to the dead-letter queue after {} attempts",
               config_.max_attempts);
  return Status::ok();
}

void Workers::wake() {
  worker_->wake();
}

pipeline::StopReport Workers::stop() {
  if (listener_) listener_->stop();
  recovery_->stop();
  return worker_->stop(Millis(config_.shutdown_grace_ms));
}

}  // namespace insightd::app
