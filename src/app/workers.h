// The analysis side of a process, wired from the configuration: the analyzer
// (built-in, or OpenAI-compatible when OPENAI_API_KEY is set), the shared
// circuit breaker guarding an external analyzer, the job worker, stuck-job
// recovery and, on PostgreSQL, the LISTEN session that wakes the worker when
// another process makes a job runnable. `insightd work` runs only this; the
// all-in-one `insightd` runs it beside ingestion and wakes it on every seal.
#pragma once

#include <memory>
#include <string>

#include "analysis/analyzer.h"
#include "app/config.h"
#include "core/clock.h"
#include "pipeline/analysis_job.h"
#include "pipeline/circuit_breaker.h"
#include "pipeline/job_listener.h"
#include "pipeline/job_worker.h"
#include "pipeline/stuck_job_recovery.h"
#include "store/store.h"

namespace insightd::app {

class Workers {
 public:
  // `store` and `clock` (and `metrics`, when given: job durations) must outlive
  // this. The worker, recovery and the LISTEN reconnects wait on `clock`.
  Workers(const Config& config, store::Store& store, const WaitClock& clock,
          obs::Registry* metrics = nullptr);
  ~Workers();
  Workers(const Workers&) = delete;
  Workers& operator=(const Workers&) = delete;

  // Starts everything and prints the seed's start-up lines. Fails when the
  // LISTEN session cannot be opened.
  Status start();
  // A job may be runnable now (a batch was sealed in this process).
  void wake();
  // SIGTERM: stop claiming, let running jobs finish within SHUTDOWN_GRACE_MS,
  // hand back the rest without using their attempts.
  pipeline::StopReport stop();

 private:
  const Config& config_;
  store::Store& store_;
  const WaitClock& clock_;
  std::unique_ptr<analysis::Analyzer> analyzer_;
  std::unique_ptr<pipeline::CircuitBreaker> breaker_;
  std::unique_ptr<pipeline::AnalysisJobHandler> handler_;
  std::unique_ptr<pipeline::JobWorker> worker_;
  std::unique_ptr<pipeline::StuckJobRecovery> recovery_;
  std::unique_ptr<pipeline::JobNotificationListener> listener_;
};

// "10 min", "5 seconds", "1500 ms": a duration as the seed's start-up lines show it.
std::string human_duration(int64_t ms);

}  // namespace insightd::app
