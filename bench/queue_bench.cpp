// The job queue on PostgreSQL with no-op jobs: how soon an idle worker starts a
// job after it is enqueued, and how fast worker processes drain a backlog.
// The workers are the real JobWorker (claim, lease, heartbeat, fenced
// completion that writes the insight, marks the batch ANALYZED and the
// outbox row) running a handler that does no analysis. Enqueueing a job is
// what ingestion does: a committed batch seals and creates its PENDING job,
// with one NOTIFY.
//
//   queue_bench latency    --url URL [--samples 500] [--concurrency 10]
//   queue_bench throughput --url URL [--jobs 20000] [--processes 1] [--concurrency 10]
//
// URL names a PostgreSQL database; the benchmark works in a schema of its own
// and drops it afterwards. Worker processes are this binary again
// ("queue_bench worker ..."), told when to start over stdin.
#include <fcntl.h>
#include <fmt/format.h>
#include <spawn.h>
#include <spdlog/spdlog.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "core/clock.h"
#include "core/ids.h"
#include "pipeline/job_listener.h"
#include "pipeline/job_worker.h"
#include "store/migrations.h"
#include "store/open_store.h"
#include "store/postgres/pg_connection.h"

extern char** environ;

namespace insightd::bench {
namespace {

using namespace std::chrono_literals;

int64_t unix_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// No analysis: the job's "insight" records when the handler started (µs since
// the epoch), which is what the latency run measures against.
class NoopHandler final : public pipeline::JobHandler {
 public:
  pipeline::JobOutcome run(const Job&) override {
    store::NewInsight insight;
    insight.summary = std::to_string(unix_us());
    insight.analyzer = "noop";
    return pipeline::JobSucceeded{insight};
  }
};

std::string with_schema(const std::string& url, const std::string& schema) {
  return url + (url.find('?') == std::string::npos ? "?" : "&") + "options=-csearch_path%3D" +
         schema;
}

Status admin(const std::string& url, const std::string& sql) {
  auto conn = store::open_postgres(url);
  if (!conn) return conn.error();
  return (*conn)->execute_script(sql);
}

// A sealed one-event batch and its PENDING job, committed together.
Result<std::vector<store::SealedBatch>> enqueue(store::Store& store, int n) {
  std::vector<NewEvent> events;
  const Timestamp now = SystemClock::instance().now();
  for (int i = 0; i < n; ++i) {
    NewEvent e;
    e.event_id = new_id("evt", now);
    e.event_type = "bench";
    e.timestamp = e.received_at = now;
    events.push_back(std::move(e));
  }
  auto out = store.events().append(events, store::BatchPolicy{1, 5}, now);
  if (!out) return out.error();
  return out->sealed;
}

int64_t scalar(store::ConnectionPool& pool, const std::string& sql) {
  auto conn = pool.acquire();
  if (!conn) return -1;
  auto rows = (*conn)->query(sql, {});
  return rows && !rows->empty() ? rows->front().integer(0) : -1;
}

// --- the worker process -----------------------------------------------------

int run_worker(const std::string& url, size_t concurrency) {
  spdlog::set_level(spdlog::level::warn);
  auto opened = store::open_store(url, store::StoreOptions{.pool_size = concurrency + 4});
  if (!opened) {
    std::cerr << opened.error().message << "\n";
    return 1;
  }
  NoopHandler handler;
  pipeline::WorkerOptions options;
  options.owner = fmt::format("bench:{}", getpid());
  options.concurrency = concurrency;
  options.poll_interval = 5s;
  options.lease = 30s;
  pipeline::JobWorker worker(opened->store->jobs(), handler, RealClock::instance(), options);
  pipeline::JobNotificationListener listener(url, [&] { worker.wake(); });
  if (Status s = listener.start(); !s) {
    std::cerr << s.message() << "\n";
    return 1;
  }
  fmt::print("ready\n");
  std::fflush(stdout);
  std::string line;
  if (!std::getline(std::cin, line) || line != "go") return 1;
  worker.start();
  while (std::getline(std::cin, line)) {
  }  // the parent closes stdin to stop us
  listener.stop();
  (void)worker.stop(5s);
  return 0;
}

struct Child {
  pid_t pid = -1;
  FILE* to = nullptr;    // its stdin
  FILE* from = nullptr;  // its stdout
};

Result<Child> spawn_worker(const std::string& self, const std::string& url, size_t concurrency) {
  int in[2];
  int out[2];
  // Close-on-exec, so that a later worker does not inherit this one's stdin
  // (which would keep it open after we close it).
  if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0) {
    return make_error(ErrorCode::kInternal, "pipe");
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in[0], 0);
  posix_spawn_file_actions_adddup2(&actions, out[1], 1);
  posix_spawn_file_actions_addclose(&actions, in[1]);
  posix_spawn_file_actions_addclose(&actions, out[0]);
  const std::string c = std::to_string(concurrency);
  std::vector<std::string> args = {self, "worker", "--url", url, "--concurrency", c};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  Child child;
  const int rc = posix_spawn(&child.pid, self.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(in[0]);
  close(out[1]);
  if (rc != 0) return make_error(ErrorCode::kInternal, fmt::format("posix_spawn: {}", rc));
  child.to = fdopen(in[1], "w");
  child.from = fdopen(out[0], "r");
  char buf[64] = {};
  if (fgets(buf, sizeof buf, child.from) == nullptr || std::string(buf) != "ready\n") {
    return make_error(ErrorCode::kUnavailable, "a worker did not start");
  }
  return child;
}

void go(const std::vector<Child>& children) {
  for (const Child& c : children) {
    fputs("go\n", c.to);
    fflush(c.to);
  }
}

void finish(std::vector<Child>& children) {
  for (Child& c : children) {
    fclose(c.to);
    int status = 0;
    waitpid(c.pid, &status, 0);
    fclose(c.from);
  }
}

double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  const size_t i = std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())));
  return v[i];
}

// --- the two measurements -------------------------------------------------------

int run_latency(store::OpenedStore& opened, const std::string& self, const std::string& url,
                int samples, size_t concurrency) {
  auto child = spawn_worker(self, url, concurrency);
  if (!child) {
    std::cerr << child.error().message << "\n";
    return 1;
  }
  std::vector<Child> children{*child};
  go(children);
  std::this_thread::sleep_for(200ms);
  std::vector<double> from_call;    // from the enqueue call (as graphile-worker measures)
  std::vector<double> from_commit;  // from the enqueue's commit (the job exists)
  for (int i = 0; i < samples + 20; ++i) {
    const int64_t t0 = unix_us();
    auto sealed = enqueue(*opened.store, 1);
    const int64_t t1 = unix_us();
    if (!sealed || sealed->size() != 1) {
      std::cerr << "enqueue failed\n";
      return 1;
    }
    const std::string job_id = sealed->front().job_id;
    // Wait for it to finish, so the worker is idle again for the next one.
    std::optional<store::Insight> insight;
    for (int spin = 0; spin < 20'000 && !insight; ++spin) {
      auto found = opened.store->insights().list(1, std::nullopt, sealed->front().batch_id);
      if (found && !found->empty()) insight = found->front();
      if (!insight) std::this_thread::sleep_for(500us);
    }
    if (!insight) {
      std::cerr << "job " << job_id << " never ran\n";
      return 1;
    }
    // The first runs warm up connections and prepared statements.
    if (i >= 20) {
      const int64_t started = std::stoll(insight->content.summary);
      from_call.push_back(static_cast<double>(started - t0) / 1000);
      from_commit.push_back(static_cast<double>(started - t1) / 1000);
    }
    std::this_thread::sleep_for(5ms);  // let the worker settle back into its wait
  }
  finish(children);
  fmt::print("{} jobs, one at a time, idle worker (1 process x {}):\n", samples, concurrency);
  for (const auto& [what, ms] : {std::pair{"enqueue call -> start  ", &from_call},
                                 std::pair{"enqueue commit -> start", &from_commit}}) {
    fmt::print("  {}  p50 {:.2f} ms   p90 {:.2f} ms   p99 {:.2f} ms   max {:.2f} ms\n", what,
               percentile(*ms, 0.50), percentile(*ms, 0.90), percentile(*ms, 0.99),
               percentile(*ms, 1.0));
  }
  return 0;
}

int run_throughput(store::OpenedStore& opened, const std::string& self, const std::string& url,
                   int jobs, int processes, size_t concurrency) {
  for (int done = 0; done < jobs;) {
    const int n = std::min(1000, jobs - done);
    auto sealed = enqueue(*opened.store, n);
    if (!sealed) {
      std::cerr << sealed.error().message << "\n";
      return 1;
    }
    done += n;
  }
  (void)scalar(*opened.pool, "ANALYZE");
  std::vector<Child> children;
  for (int p = 0; p < processes; ++p) {
    auto child = spawn_worker(self, url, concurrency);
    if (!child) {
      std::cerr << child.error().message << "\n";
      return 1;
    }
    children.push_back(*child);
  }
  const auto start = std::chrono::steady_clock::now();
  go(children);
  int64_t left = jobs;
  while (left > 0) {
    std::this_thread::sleep_for(20ms);
    left = scalar(*opened.pool,
                  "SELECT COUNT(*) FROM \"AnalysisJob\" WHERE status IN ('PENDING', 'RUNNING')");
    if (left < 0) {
      std::cerr << "cannot count jobs\n";
      return 1;
    }
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  finish(children);
  const int64_t succeeded =
      scalar(*opened.pool, "SELECT COUNT(*) FROM \"AnalysisJob\" WHERE status = 'SUCCESS'");
  const int64_t insights = scalar(*opened.pool, "SELECT COUNT(*) FROM \"Insight\"");
  fmt::print(
      "drained {} jobs ({} SUCCESS, {} insights) with {} process(es) x {} in {:.2f} s: {:.0f} "
      "jobs/s\n",
      jobs, succeeded, insights, processes, concurrency, seconds, jobs / seconds);
  return succeeded == jobs && insights == jobs ? 0 : 1;
}

}  // namespace
}  // namespace insightd::bench

int main(int argc, char** argv) {
  using namespace insightd;
  CLI::App app{"insightd job queue benchmark (PostgreSQL, no-op jobs)"};
  app.require_subcommand(1, 1);
  std::string url;
  int samples = 500;
  int jobs = 20'000;
  int processes = 1;
  size_t concurrency = 10;
  auto* latency = app.add_subcommand("latency", "enqueue-to-start latency with an idle worker");
  auto* throughput = app.add_subcommand("throughput", "drain a backlog of no-op jobs");
  auto* worker = app.add_subcommand("worker", "(internal) one worker process");
  for (auto* sub : {latency, throughput, worker}) {
    sub->add_option("--url", url, "postgresql:// URL")->required();
    sub->add_option("--concurrency", concurrency, "jobs at once per worker process");
  }
  latency->add_option("--samples", samples, "jobs to time");
  throughput->add_option("--jobs", jobs, "jobs in the backlog");
  throughput->add_option("--processes", processes, "worker processes");
  CLI11_PARSE(app, argc, argv);
  if (worker->parsed()) return bench::run_worker(url, concurrency);

  spdlog::set_level(spdlog::level::warn);
  char self[4096] = {};
  if (readlink("/proc/self/exe", self, sizeof self - 1) <= 0) return 1;
  const std::string schema = "bench_" + std::to_string(getpid());
  if (Status s = bench::admin(url, "CREATE SCHEMA " + schema); !s) {
    std::cerr << s.message() << "\n";
    return 1;
  }
  const std::string bench_url = bench::with_schema(url, schema);
  int rc = 1;
  {
    auto opened = store::open_store(bench_url, store::StoreOptions{});
    if (opened && store::migrate_up(*opened->pool, SystemClock::instance())) {
      rc = latency->parsed()
               ? bench::run_latency(*opened, self, bench_url, samples, concurrency)
               : bench::run_throughput(*opened, self, bench_url, jobs, processes, concurrency);
    } else {
      std::cerr << "cannot open or migrate the benchmark schema\n";
    }
  }
  (void)bench::admin(url, "DROP SCHEMA " + schema + " CASCADE");
  return rc;
}
