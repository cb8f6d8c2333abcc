// The composition root of insightd's long-running modes. A Server builds the
// components its Mode has, in dependency order (the store and its pools, admin
// sign-in, the metrics registry, the workers, the live hub, the group-commit
// writer, ingestion, Socket.IO, the dashboard's live stream, the age sealer,
// the routes and the HTTP server), starts them, and stops them. The order of
// start-up and shutdown is written once, as the Lifecycle table in server.cpp;
// a failed start stops what had started, and the shutdown runs once.
#pragma once

#include <memory>
#include <string_view>

#include "api/health.h"
#include "app/config.h"
#include "app/lifecycle.h"
#include "core/result.h"
#include "pipeline/job_worker.h"

namespace insightd::app {

// Which components a process runs.
enum class Mode {
  kAllInOne,  // `insightd`: ingestion, the HTTP API and dashboard, and the workers
  kServe,     // `insightd serve`: ingestion and HTTP; no workers
  kWork,      // `insightd work`: the workers and stuck-job recovery; no HTTP
};

// "all-in-one", "serve", "work": the mode as the start-up line names it.
std::string_view mode_name(Mode mode);

class Server {
 public:
  // `config` must outlive the server. Nothing is opened before start().
  Server(const Config& config, Mode mode);
  // Stops what is still running.
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Logs the configuration, opens the database (applying pending migrations),
  // builds the mode's components and starts them in order, then logs where to
  // reach them. A failure is logged, whatever had started is stopped, and the
  // failure is returned. Called at most once.
  Status start();

  // Stops the started components in the shutdown order, once; later calls do
  // nothing. When the workers' stop leaves analyzer calls running, the process
  // ends here (exit 0): their threads still use the store and the analyzer, so
  // no destructor may run.
  void stop();

  // What the workers' stop reported: all zero before stop() or without workers.
  const pipeline::StopReport& workers_report() const { return workers_report_; }

 private:
  struct Parts;

  bool has_http() const { return mode_ != Mode::kWork; }
  bool has_workers() const { return mode_ != Mode::kServe; }
  Status build();
  void build_shared_limits();
  void build_private_listener(const api::HealthOptions& health);
  void plan_lifecycle();
  void log_where_to_reach() const;

  const Config& config_;
  const Mode mode_;
  std::unique_ptr<Parts> parts_;
  // After parts_: its stages use them, and it goes first.
  Lifecycle lifecycle_;
  pipeline::StopReport workers_report_;
};

// `insightd`, `insightd serve` and `insightd work`: blocks SIGINT and SIGTERM
// (before any thread starts, so every thread inherits the mask), starts a
// Server, waits for one of them, stops it. Returns the exit code.
int run_until_stopped(const Config& config, Mode mode);

}  // namespace insightd::app
