// OutboxRelay: publishes the outbox ("KafkaOutbox", written in the same
// transactions as what it reports) to Kafka, at least once and in order per
// key, with librdkafka's idempotent producer (acks=all).
//
// One relay at a time publishes: each node's relay takes the "outbox" lease
// (store's RelayLease, renewed every third of its length) and only the holder
// works; the others wait for it to expire or be released. The holder works in
// passes: it reads the unpublished rows in id order and produces the first of
// each key only (a key whose first row waits for its retry is skipped whole),
// waits for every delivery report, then marks the delivered rows published in
// one transaction and the failed ones for a retry after a pause with jitter.
// So a key never has two rows in flight: its order holds across retries,
// restarts and relays, and a row is sent again only when its delivery was
// not recorded (a crash, a lost lease): consumers drop duplicates by the
// `outbox-id` header. Per key, ids follow commit order: a key's next row is
// only ever written by a transaction that starts after the one that wrote its
// previous row committed (docs/ARCHITECTURE.md, "The outbox relay").
//
// A broker that is down makes the pass wait (librdkafka reconnects with
// exponential backoff and jitter; messages never time out), with one warning
// when it starts and one line when deliveries resume; the rows stay in the
// outbox meanwhile. Ingestion and the workers never wait on it.
//
// With KAFKA_EVENTS the lease holder also streams every committed event, on a
// thread and a producer of its own (its cursor commits are not queued behind
// the outbox's, nor its deliveries behind the outbox's marks), so an event
// reaches the broker a stream pause plus one delivery after its commit.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "core/clock.h"
#include "core/result.h"
#include "obs/log_throttle.h"
#include "store/store.h"

namespace insightd::obs {
class Registry;
}  // namespace insightd::obs

namespace insightd::relay {

// Where each outbox kind goes: `${prefix}batches` for everything keyed by a
// batch (batch.sealed, insight.created, job.dead_lettered), so one batch's
// messages share a partition and arrive in order; `${prefix}breaker` for
// circuit.state_changed. nullopt for a kind the relay does not know.
std::optional<std::string> topic_for(std::string_view kind, std::string_view prefix);

struct RelayOptions {
  std::string brokers;  // bootstrap.servers: host:port,host:port
  std::string client_id = "insightd";
  std::string topic_prefix = "insightd.";
  std::string owner;  // this node's name for the lease (host:pid:random when empty)
  Millis lease{10'000};
  Millis idle_poll{200};         // between passes that found nothing to send
  Millis stream_poll{20};        // between event stream passes (KAFKA_EVENTS)
  size_t max_per_pass = 50'000;  // rows produced per pass at most
  Millis retry_base{1'000};      // a failed row's first pause; doubles per attempt
  Millis retry_max{60'000};
  Millis outage_warning{5'000};  // no delivery report this long: warn (once)
  // KAFKA_EVENTS: every committed event also goes to `${prefix}events`, read
  // from the event log after a saved position (no second copy in the outbox).
  bool events = false;
  // librdkafka properties set last (tests: shorter timeouts); key=value.
  std::vector<std::pair<std::string, std::string>> extra;
};

class OutboxRelay {
 public:
  // `store` and `clock` must outlive the relay; `metrics` may be null.
  OutboxRelay(store::OutboxStore& store, const WaitClock& clock, RelayOptions options,
              obs::Registry* metrics = nullptr);
  ~OutboxRelay();
  OutboxRelay(const OutboxRelay&) = delete;
  OutboxRelay& operator=(const OutboxRelay&) = delete;

  // Creates the producer (a bad property fails here) and starts the thread.
  Status start();
  // Ends the pass in progress (waiting at most ~2 s for reports in flight, then
  // marking what was delivered), gives the lease back and joins. Idempotent.
  void stop();

  // Rows published since start (delivery reported).
  uint64_t published() const { return published_.load(); }
  // Events published since start (KAFKA_EVENTS).
  uint64_t events_published() const { return events_published_.load(); }
  // Whether this node holds the lease now.
  bool leader() const { return leader_.load(); }

 private:
  struct Producer;
  struct Pass;
  // One message to produce (views into what the pass read, which outlives
  // the delivery): the id header (outbox-id or event-id) lets a consumer drop
  // duplicates.
  struct Outgoing {
    std::string_view topic;
    std::string_view key;
    std::string_view value;
    const char* id_header = "outbox-id";
    std::string_view id;
    std::string_view kind;
    int64_t row_id = 0;  // the outbox row's or the event's id
  };

  Result<std::unique_ptr<Producer>> make_producer() const;
  void run();
  // The event stream's thread (KAFKA_EVENTS): passes while this node leads.
  void stream_run();
  // One pass; returns how many rows it produced (0: nothing to do).
  Result<size_t> pass();
  Result<size_t> events_pass();
  Status save_event_cursor(bool now_or_never);
  // `renew`: this is the relay thread, which keeps the lease.
  void deliver(Producer& producer, Pass& pass, const std::vector<Outgoing>& out, bool renew);
  bool renew_lease();
  void sleep_for(Millis d);
  Millis retry_pause(int64_t attempts);

  store::OutboxStore& store_;
  const WaitClock& clock_;
  RelayOptions options_;
  std::unique_ptr<Producer> producer_;         // relay thread only
  std::unique_ptr<Producer> stream_producer_;  // stream thread only
  std::mutex mu_;
  std::condition_variable_any cv_;
  bool stopping_ = false;
  bool stream_running_ = false;  // the relay keeps the lease until the stream saved its position
  std::atomic<bool> leader_{false};
  // Counts the times this node took the lease: the stream reloads its position
  // when it changed (another node may have moved it meanwhile).
  std::atomic<uint64_t> leader_terms_{0};
  std::atomic<uint64_t> published_{0};
  std::atomic<uint64_t> events_published_{0};
  std::optional<int64_t> event_cursor_;        // the stream's position (stream thread only)
  std::optional<int64_t> saved_event_cursor_;  // ... and the last one saved
  WaitClock::SteadyTime event_cursor_saved_at_{};
  WaitClock::SteadyTime lease_renewed_at_{};
  std::thread thread_;
  std::thread stream_thread_;
  // A broker refusing every row, or a database that is down, is one line per
  // 10 s, not one per row or per retry.
  obs::LogThrottle delivery_log_;
  obs::LogThrottle db_log_;
  // Metrics (null without a registry).
  struct Meters;
  std::unique_ptr<Meters> meters_;
};

}  // namespace insightd::relay
