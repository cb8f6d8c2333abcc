// The outbox relay's throughput: a backlog of N outbox rows (batch.sealed,
// one key each, a realistic ~230-byte payload) drained by the real
// OutboxRelay into librdkafka's mock cluster in this process (the real Kafka
// protocol over local TCP, three brokers), timed from the relay's start until
// no row is unpublished. Then the rows are read back by a consumer and
// counted.
//
//   outbox_relay_bench --url URL [--rows 1000000] [--per-pass 20000]
//
// URL: a PostgreSQL database (the benchmark works in a schema of its own and
// drops it afterwards) or sqlite:///path/to/new.db.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

#include "core/clock.h"
#include "relay/outbox_relay.h"
#include "relay/testing/mock_cluster.h"
#include "store/migrations.h"
#include "store/open_store.h"

namespace insightd::bench {
namespace {

using namespace std::chrono_literals;

int run(const std::string& base_url, int64_t rows, size_t per_pass) {
  const bool postgres = base_url.starts_with("postgres");
  const std::string schema = fmt::format("relay_bench_{}", getpid());
  std::string url = base_url;
  if (postgres) {
    auto admin = store::open_store(base_url, store::StoreOptions{.pool_size = 1});
    if (!admin) return fmt::print(stderr, "{}\n", admin.error().message), 1;
    auto c = admin->pool->acquire();
    if (!c || !(*c)->execute_script(fmt::format("CREATE SCHEMA {}", schema))) return 1;
    url = base_url + (base_url.find('?') == std::string::npos ? "?" : "&") +
          "options=-csearch_path%3D" + schema;
  }
  auto cleanup = [&] {
    if (!postgres) return;
    auto admin = store::open_store(base_url, store::StoreOptions{.pool_size = 1});
    if (admin) {
      if (auto c = admin->pool->acquire()) {
        (void)(*c)->execute_script(fmt::format("DROP SCHEMA {} CASCADE", schema));
      }
    }
  };
  auto opened = store::open_store(url, store::StoreOptions{.pool_size = 4});
  if (!opened || !store::migrate_up(*opened->pool, SystemClock::instance())) {
    fmt::print(stderr, "cannot open {}\n", url);
    cleanup();
    return 1;
  }
  // The backlog, written by the database itself.
  const auto fill_start = std::chrono::steady_clock::now();
  {
    auto c = opened->pool->acquire();
    const std::string payload =
        "'{\"batch_id\":\"batch_' || g || '\",\"event_count\":100,\"seal_reason\":\"size\","
        "\"job_id\":\"job_01M96H4FN13RJWQFYEWQQJ22K1\","
        "\"sealed_at\":\"2026-12-06T20:36:11.041Z\",\"first_event_at\":\"2026-12-06T20:36:10."
        "001Z\"}'";
    const std::string sql =
        postgres ? fmt::format(
                       "INSERT INTO \"KafkaOutbox\" (topic, key, payload, created_at) "
                       "SELECT 'batch.sealed', 'batch_' || g, ({})::jsonb, now() "
                       "FROM generate_series(1, {}) g",
                       payload, rows)
                 : fmt::format(
                       "WITH RECURSIVE s(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM s WHERE g < "
                       "{}) INSERT INTO \"KafkaOutbox\" (topic, key, payload, created_at) "
                       "SELECT 'batch.sealed', 'batch_' || g, {}, "
                       "strftime('%Y-%m-%dT%H:%M:%fZ', 'now') FROM s",
                       rows, payload);
    if (!c || !(*c)->execute_script(sql)) {
      fmt::print(stderr, "cannot fill the outbox\n");
      cleanup();
      return 1;
    }
  }
  fmt::print("backlog: {} rows written in {:.1f} s\n", rows,
             std::chrono::duration<double>(std::chrono::steady_clock::now() - fill_start).count());

  relay::testing::MockCluster cluster(3);
  // The mock keeps the last 5 MB of each partition: 64 partitions hold every
  // message of a million-row backlog, so all of it can be read back.
  constexpr int kPartitions = 64;
  cluster.create_topic("bench.batches", kPartitions);
  relay::RelayOptions options;
  options.brokers = cluster.bootstraps();
  options.topic_prefix = "bench.";
  options.max_per_pass = per_pass;
  options.idle_poll = 10ms;
  relay::OutboxRelay relay(opened->store->outbox(), RealClock::instance(), options);
  const auto start = std::chrono::steady_clock::now();
  if (!relay.start()) return 1;
  while (relay.published() < static_cast<uint64_t>(rows)) std::this_thread::sleep_for(5ms);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  relay.stop();
  auto left = opened->store->outbox().count_pending();
  fmt::print("relayed {} rows in {:.2f} s: {:.0f} messages/s ({} left unpublished)\n", rows,
             seconds, static_cast<double>(rows) / seconds, left ? *left : -1);
  const auto got = relay::testing::consume(cluster.bootstraps(), {"bench.batches"}, kPartitions,
                                           static_cast<size_t>(rows), 120s);
  fmt::print("read back: {} messages\n", got.size());
  cleanup();
  return got.size() == static_cast<size_t>(rows) ? 0 : 1;
}

}  // namespace
}  // namespace insightd::bench

int main(int argc, char** argv) {
  CLI::App app{"The outbox relay's throughput into librdkafka's mock cluster"};
  std::string url;
  int64_t rows = 1'000'000;
  size_t per_pass = 50'000;
  app.add_option("--url", url, "PostgreSQL URL or sqlite:///path")->required();
  app.add_option("--rows", rows, "the backlog")->check(CLI::Range(1, 100'000'000));
  app.add_option("--per-pass", per_pass, "rows produced per relay pass");
  CLI11_PARSE(app, argc, argv);
  spdlog::set_level(spdlog::level::warn);
  return insightd::bench::run(url, rows, per_pass);
}
