#include "relay/outbox_relay.h"

#include <fmt/format.h>
#include <librdkafka/rdkafka.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <boost/json.hpp>
#include <deque>
#include <future>
#include <map>
#include <random>
#include <set>
#include <utility>

#include "core/backoff.h"
#include "core/event_json.h"
#include "core/thread_name.h"
#include "obs/metrics.h"
#include "runtime/node_name.h"

namespace insightd::relay {

namespace {

constexpr std::string_view kLeaseName = "outbox";
constexpr std::string_view kEventsCursor = "events";

}  // namespace

std::optional<std::string> topic_for(std::string_view kind, std::string_view prefix) {
  if (kind == "batch.sealed" || kind == "insight.created" || kind == "job.dead_lettered") {
    return fmt::format("{}batches", prefix);
  }
  if (kind == "circuit.state_changed") return fmt::format("{}breaker", prefix);
  return std::nullopt;
}

struct OutboxRelay::Meters {
  obs::Counter& published;
  obs::Counter& failed;
  obs::Gauge& leader;
  obs::Gauge& broker_up;
  obs::Counter& events_published;
  obs::Histogram& event_lag;
};

// What one pass produced and what the broker said about each row. Written by
// librdkafka's delivery-report callback, which runs inside rd_kafka_poll() on
// the relay's own thread: no lock needed.
struct OutboxRelay::Pass {
  struct Sent {
    int64_t id = 0;
    int64_t attempts = 0;
    bool reported = false;
    rd_kafka_resp_err_t error = RD_KAFKA_RESP_ERR_NO_ERROR;
  };
  std::vector<Sent> sent;
  size_t waiting = 0;  // produced, not reported yet
  size_t reports = 0;  // reports received (progress, for the outage warning)
};

// The librdkafka producer handle and its callbacks.
struct OutboxRelay::Producer {
  rd_kafka_t* rk = nullptr;
  Pass* pass = nullptr;    // the pass being reported on
  bool fatal = false;      // the idempotent producer hit a fatal error
  std::string last_error;  // the last broker-level error, for the warning
  // Topic handles by name: looked up once, not for every message.
  std::map<std::string, rd_kafka_topic_t*, std::less<>> topics;
  ~Producer() {
    if (rk == nullptr) return;
    rd_kafka_purge(rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    rd_kafka_poll(rk, 0);
    for (auto& [name, rkt] : topics) rd_kafka_topic_destroy(rkt);
    rd_kafka_destroy(rk);
  }
  rd_kafka_topic_t* topic(std::string_view name) {
    auto it = topics.find(name);
    if (it != topics.end()) return it->second;
    rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk, std::string(name).c_str(), nullptr);
    if (rkt != nullptr) topics.emplace(std::string(name), rkt);
    return rkt;
  }

  static void on_delivery(rd_kafka_t* /*rk*/, const rd_kafka_message_t* m, void* opaque) {
    auto* self = static_cast<Producer*>(opaque);
    if (self->pass == nullptr) return;
    const auto index = reinterpret_cast<uintptr_t>(m->_private);
    if (index >= self->pass->sent.size()) return;
    Pass::Sent& s = self->pass->sent[index];
    if (s.reported) return;
    s.reported = true;
    s.error = m->err;
    --self->pass->waiting;
    ++self->pass->reports;
  }
  static void on_error(rd_kafka_t* rk, int err, const char* reason, void* opaque) {
    auto* self = static_cast<Producer*>(opaque);
    self->last_error = reason;
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
      std::array<char, 512> why{};
      rd_kafka_fatal_error(rk, why.data(), why.size());
      self->last_error = why.data();
      self->fatal = true;
    }
  }
  static void on_log(const rd_kafka_t* /*rk*/, int level, const char* fac, const char* buf) {
    // librdkafka's own lines are detail (reconnects say so every few seconds):
    // debug only; the relay logs the outage itself, once.
    if (level <= 3) spdlog::debug("[Kafka] {}: {}", fac, buf);
  }
};

OutboxRelay::OutboxRelay(store::OutboxStore& store, const WaitClock& clock, RelayOptions options,
                         obs::Registry* metrics)
    : store_(store), clock_(clock), options_(std::move(options)) {
  if (options_.owner.empty()) options_.owner = runtime::node_name();
  if (metrics != nullptr) {
    meters_ = std::make_unique<Meters>(Meters{
        .published = metrics
                         ->counter("insightd_kafka_published_total",
                                   "Outbox rows the broker acknowledged (this node's relay).")
                         .with({}),
        .failed = metrics
                      ->counter("insightd_kafka_failed_total",
                                "Outbox rows the broker refused; each is retried after a pause.")
                      .with({}),
        .leader = metrics
                      ->gauge("insightd_kafka_relay_leader",
                              "1 when this node holds the outbox relay's lease.")
                      .with({}),
        .broker_up = metrics
                         ->gauge("insightd_kafka_up",
                                 "0 while the relay's deliveries are stalled (broker unreachable).")
                         .with({}),
        .events_published = metrics
                                ->counter("insightd_kafka_events_published_total",
                                          "Events the broker acknowledged (KAFKA_EVENTS).")
                                .with({}),
        .event_lag = metrics
                         ->histogram("insightd_kafka_event_lag_seconds",
                                     "From an event's receipt to the broker's acknowledgement "
                                     "(KAFKA_EVENTS).",
                                     {}, {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10})
                         .with({})});
    meters_->broker_up.set(1);
  }
}

OutboxRelay::~OutboxRelay() {
  stop();
}

Result<std::unique_ptr<OutboxRelay::Producer>> OutboxRelay::make_producer() const {
  auto producer = std::make_unique<Producer>();
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  std::array<char, 512> err{};
  std::vector<std::pair<std::string, std::string>> props = {
      {"bootstrap.servers", options_.brokers},
      {"client.id", options_.client_id},
      {"enable.idempotence", "true"},
      {"acks", "all"},
      // Never give up on a message: while the broker is down, rows wait here
      // and in the outbox, in order. librdkafka reconnects with exponential
      // backoff and jitter between these bounds.
      {"message.timeout.ms", "0"},
      {"reconnect.backoff.ms", "100"},
      {"reconnect.backoff.max.ms", "10000"},
      {"retry.backoff.ms", "100"},
      {"linger.ms", "10"},
  };
  for (const auto& kv : options_.extra) props.push_back(kv);
  for (const auto& [name, value] : props) {
    if (rd_kafka_conf_set(conf, name.c_str(), value.c_str(), err.data(), err.size()) !=
        RD_KAFKA_CONF_OK) {
      rd_kafka_conf_destroy(conf);
      return make_error(ErrorCode::kInvalidArgument,
                        fmt::format("Kafka setting {}: {}", name, err.data()));
    }
  }
  rd_kafka_conf_set_opaque(conf, producer.get());
  rd_kafka_conf_set_dr_msg_cb(conf, &Producer::on_delivery);
  rd_kafka_conf_set_error_cb(conf, &Producer::on_error);
  rd_kafka_conf_set_log_cb(conf, &Producer::on_log);
  producer->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err.data(), err.size());
  if (producer->rk == nullptr) {
    rd_kafka_conf_destroy(conf);
    return make_error(ErrorCode::kInvalidArgument, fmt::format("Kafka producer: {}", err.data()));
  }
  return producer;
}

Status OutboxRelay::start() {
  if (thread_.joinable()) return Status::ok();
  {
    std::lock_guard lock(mu_);
    stopping_ = false;
  }
  // The producer is made on the relay's own thread (a fatal error makes a new
  // one there too); start() waits for the first one to report a bad setting.
  std::promise<Status> made;
  auto ready = made.get_future();
  thread_ = start_named_thread("kafka-relay", [this, &made] {
    auto producer = make_producer();
    if (!producer) {
      made.set_value(producer.error());
      return;
    }
    producer_ = std::move(*producer);
    made.set_value(Status::ok());
    run();
  });
  Status s = ready.get();
  if (!s) {
    thread_.join();
    return s;
  }
  if (options_.events) {
    {
      std::lock_guard lock(mu_);
      stream_running_ = true;
    }
    stream_thread_ = start_named_thread("kafka-events", [this] { stream_run(); });
  }
  spdlog::info("[Kafka] Outbox relay started: brokers {}, topics {}batches and {}breaker{}, as {}",
               options_.brokers, options_.topic_prefix, options_.topic_prefix,
               options_.events ? fmt::format(" and {}events", options_.topic_prefix) : "",
               options_.owner);
  return Status::ok();
}

void OutboxRelay::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (stream_thread_.joinable()) stream_thread_.join();
  if (thread_.joinable()) thread_.join();
  producer_.reset();
}

void OutboxRelay::sleep_for(Millis d) {
  std::unique_lock lock(mu_);
  clock_.wait_for(lock, cv_, d, [this] { return stopping_; });
}

Millis OutboxRelay::retry_pause(int64_t attempts) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  std::uniform_real_distribution<double> random01(0.0, 1.0);
  // Exponential with equal jitter (core/backoff.h): relays retrying together spread out.
  return retry_delay(static_cast<int>(std::min<int64_t>(attempts, 1000)), options_.retry_base,
                     options_.retry_max, random01(rng));
}

bool OutboxRelay::renew_lease() {
  const Timestamp now = clock_.now();
  auto held = store_.take_lease(kLeaseName, options_.owner, now, now + options_.lease);
  const bool is_leader = held.is_ok() && *held;
  if (!held.is_ok()) {
    if (auto left_out = db_log_.admit()) {
      spdlog::warn("[Kafka] Cannot renew the relay lease: {}{}", held.error().message,
                   db_log_.suffix(*left_out));
    }
  }
  if (is_leader != leader_.load()) {
    if (is_leader) {
      spdlog::info("[Kafka] This node relays the outbox now");
    } else if (held.is_ok()) {
      spdlog::info("[Kafka] Another node relays the outbox now");
    }
  }
  // Another node may have moved the event stream while this one did not lead.
  if (is_leader && !leader_.load()) ++leader_terms_;
  leader_ = is_leader;
  if (meters_) meters_->leader.set(is_leader ? 1 : 0);
  if (is_leader) lease_renewed_at_ = clock_.steady_now();
  return is_leader;
}

void OutboxRelay::run() {
  Millis db_backoff{0};
  for (;;) {
    {
      std::lock_guard lock(mu_);
      if (stopping_) break;
    }
    if (!producer_) {
      auto made = make_producer();
      if (!made) {
        spdlog::error("[Kafka] Cannot start a new producer: {}", made.error().message);
        sleep_for(options_.retry_max);
        continue;
      }
      producer_ = std::move(*made);
    }
    if (!renew_lease()) {
      sleep_for(options_.lease / 3);
      continue;
    }
    auto produced = pass();
    if (!produced) {
      db_backoff = std::clamp(db_backoff * 2, Millis(200), Millis(10'000));
      if (auto left_out = db_log_.admit()) {
        spdlog::warn("[Kafka] Relay pass failed (retrying in {} ms): {}{}", db_backoff.count(),
                     produced.error().message, db_log_.suffix(*left_out));
      }
      sleep_for(db_backoff);
      continue;
    }
    db_backoff = Millis(0);
    if (producer_->fatal) {
      // The idempotent producer cannot go on after a fatal error: a new one
      // starts a new producer id; what was not delivered is still unpublished.
      spdlog::warn("[Kafka] Producer failed ({}); starting a new one", producer_->last_error);
      producer_.reset();
      continue;
    }
    if (*produced == 0) sleep_for(options_.idle_poll);
  }
  {
    // The stream saves its position as the lease holder: the lease waits for it.
    std::unique_lock lock(mu_);
    cv_.wait(lock, [this] { return !stream_running_; });
  }
  if (leader_.load()) {
    (void)store_.release_lease(kLeaseName, options_.owner);
    leader_ = false;
    if (meters_) meters_->leader.set(0);
  }
}

void OutboxRelay::stream_run() {
  Millis db_backoff{0};
  uint64_t term = 0;
  for (;;) {
    {
      std::lock_guard lock(mu_);
      if (stopping_) break;
    }
    if (!stream_producer_) {
      auto made = make_producer();
      if (!made) {
        spdlog::error("[Kafka] Cannot start a new producer for the event stream: {}",
                      made.error().message);
        sleep_for(options_.retry_max);
        continue;
      }
      stream_producer_ = std::move(*made);
    }
    if (!leader_.load()) {
      sleep_for(options_.idle_poll);
      continue;
    }
    if (const uint64_t t = leader_terms_.load(); t != term) {
      term = t;
      event_cursor_.reset();
      saved_event_cursor_.reset();
    }
    auto streamed = events_pass();
    if (!streamed) {
      db_backoff = std::clamp(db_backoff * 2, Millis(200), Millis(10'000));
      if (auto left_out = db_log_.admit()) {
        spdlog::warn("[Kafka] Event stream pass failed (retrying in {} ms): {}{}",
                     db_backoff.count(), streamed.error().message, db_log_.suffix(*left_out));
      }
      sleep_for(db_backoff);
      continue;
    }
    db_backoff = Millis(0);
    if (stream_producer_->fatal) {
      spdlog::warn("[Kafka] Event stream producer failed ({}); starting a new one",
                   stream_producer_->last_error);
      stream_producer_.reset();
      continue;
    }
    // A steady stream is read in pieces every stream_poll rather than one
    // event at a time; a backlog (a full pass) goes on at once.
    if (*streamed < options_.max_per_pass) sleep_for(options_.stream_poll);
  }
  if (leader_.load()) (void)save_event_cursor(/*now_or_never=*/true);
  stream_producer_.reset();
  {
    std::lock_guard lock(mu_);
    stream_running_ = false;
  }
  cv_.notify_all();
}

// Produces `out` in order (each with its outbox id or event id as a header),
// then waits for every delivery report, renewing the lease meanwhile; a stop
// ends the wait ~2 s later. Fills pass.sent (one entry per message).
void OutboxRelay::deliver(Producer& producer, Pass& pass, const std::vector<Outgoing>& out,
                          bool renew) {
  pass.sent.assign(out.size(), Pass::Sent{});
  producer.pass = &pass;
  for (size_t index = 0; index < out.size(); ++index) {
    const Outgoing& m = out[index];
    for (;;) {
      rd_kafka_topic_t* rkt = producer.topic(m.topic);
      if (rkt == nullptr) {
        pass.sent[index].reported = true;
        pass.sent[index].error = rd_kafka_last_error();
        break;
      }
      const rd_kafka_resp_err_t err = rd_kafka_producev(
          producer.rk, RD_KAFKA_V_RKT(rkt), RD_KAFKA_V_KEY(m.key.data(), m.key.size()),
          RD_KAFKA_V_VALUE(const_cast<char*>(m.value.data()), m.value.size()),
          RD_KAFKA_V_HEADER(m.id_header, m.id.data(), static_cast<ssize_t>(m.id.size())),
          RD_KAFKA_V_HEADER("kind", m.kind.data(), static_cast<ssize_t>(m.kind.size())),
          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
          RD_KAFKA_V_OPAQUE(reinterpret_cast<void*>(static_cast<uintptr_t>(index))),
          RD_KAFKA_V_END);
      if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
        rd_kafka_poll(producer.rk, 50);
        continue;
      }
      if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        // Refused before it left (too large, ...): a delivery failure.
        pass.sent[index].reported = true;
        pass.sent[index].error = err;
      } else {
        ++pass.waiting;
      }
      break;
    }
  }

  auto last_progress = clock_.steady_now();
  size_t reports_seen = 0;
  bool warned = false;
  std::optional<WaitClock::SteadyTime> stop_deadline;
  while (pass.waiting > 0) {
    rd_kafka_poll(producer.rk, 100);
    const auto t = clock_.steady_now();
    if (pass.reports != reports_seen) {
      reports_seen = pass.reports;
      last_progress = t;
      if (warned) {
        spdlog::info("[Kafka] Deliveries resumed; {} messages of this pass still waiting",
                     pass.waiting);
        warned = false;
        if (meters_) meters_->broker_up.set(1);
      }
    } else if (!warned && t - last_progress >= options_.outage_warning) {
      spdlog::warn(
          "[Kafka] No delivery report for {:.1f} s ({}): {} messages waiting; the {} keeps "
          "them and the relay goes on trying",
          std::chrono::duration<double>(t - last_progress).count(),
          producer.last_error.empty() ? "broker unreachable?" : producer.last_error, pass.waiting,
          renew ? "outbox" : "event log");
      warned = true;
      if (meters_) meters_->broker_up.set(0);
    }
    if (renew && t - lease_renewed_at_ >= options_.lease / 3) (void)renew_lease();
    if (producer.fatal) break;
    {
      std::lock_guard lock(mu_);
      if (stopping_ && !stop_deadline) stop_deadline = t + std::chrono::seconds(2);
    }
    if (stop_deadline && t >= *stop_deadline) break;
  }
  producer.pass = nullptr;
  if (warned && pass.waiting == 0) {
    spdlog::info("[Kafka] Deliveries resumed");
    if (meters_) meters_->broker_up.set(1);
  }
}

Result<size_t> OutboxRelay::pass() {
  const Timestamp now = clock_.now();
  std::set<std::string, std::less<>> keys_seen;  // topic + key: the first row of each only
  std::deque<store::OutboxMessage> rows_kept;    // what `out` points into (stable on push_back)
  std::deque<std::string> topics;                // the topic names `out` points into
  std::deque<std::string> ids;                   // the outbox ids as text, likewise
  std::vector<Outgoing> out;
  std::vector<int64_t> attempts;
  int64_t after = 0;
  while (out.size() < options_.max_per_pass) {
    auto rows = store_.unpublished(after, 5'000);
    if (!rows) return rows.error();
    if (rows->empty()) break;
    for (store::OutboxMessage& row : *rows) {
      after = row.id;
      auto topic = topic_for(row.kind, options_.topic_prefix);
      const std::string order_key = fmt::format("{}\n{}", topic.value_or(row.kind), row.key);
      if (!keys_seen.insert(order_key).second) continue;  // an earlier row of its key waits
      if (row.next_attempt_at && *row.next_attempt_at > now) continue;  // waits for its retry
      if (!topic) {
        (void)store_.mark_failed(row.id,
                                 fmt::format("no Kafka topic for outbox kind '{}'", row.kind),
                                 now + options_.retry_max);
        continue;
      }
      if (topics.empty() || topics.back() != *topic) topics.push_back(std::move(*topic));
      const store::OutboxMessage& m = rows_kept.emplace_back(std::move(row));
      out.push_back({.topic = topics.back(),
                     .key = m.key,
                     .value = m.payload_json,
                     .id_header = "outbox-id",
                     .id = ids.emplace_back(std::to_string(m.id)),
                     .kind = m.kind,
                     .row_id = m.id});
      attempts.push_back(m.attempts);
      if (out.size() >= options_.max_per_pass) break;
    }
  }
  if (out.empty()) return size_t{0};
  Pass pass;
  deliver(*producer_, pass, out, /*renew=*/true);

  std::vector<int64_t> delivered;
  delivered.reserve(out.size());
  size_t failed = 0;
  for (size_t i = 0; i < out.size(); ++i) {
    const Pass::Sent& s = pass.sent[i];
    if (!s.reported) continue;  // still in flight (stopping): sent again later
    if (s.error == RD_KAFKA_RESP_ERR_NO_ERROR) {
      delivered.push_back(out[i].row_id);
      continue;
    }
    ++failed;
    const Millis pause = retry_pause(attempts[i] + 1);
    if (auto left_out = delivery_log_.admit()) {
      spdlog::warn(
          "[Kafka] Outbox row {} was not delivered ({}); its key waits {} ms for a retry{}",
          out[i].row_id, rd_kafka_err2str(s.error), pause.count(), delivery_log_.suffix(*left_out));
    }
    if (Status st =
            store_.mark_failed(out[i].row_id, rd_kafka_err2str(s.error), clock_.now() + pause);
        !st) {
      return st.error();
    }
  }
  if (!delivered.empty()) {
    if (Status st = store_.mark_published(delivered, clock_.now()); !st) return st.error();
    published_ += delivered.size();
  }
  if (meters_) {
    meters_->published.inc(delivered.size());
    meters_->failed.inc(failed);
  }
  return out.size();
}

// Saves the stream's position at most once a second (each save is a commit):
// after a crash the next relay sends again what followed the saved position,
// which the promise (at least once) allows. `now_or_never`: save if moved.
Status OutboxRelay::save_event_cursor(bool now_or_never) {
  if (!event_cursor_ || event_cursor_ == saved_event_cursor_) return Status::ok();
  const auto t = clock_.steady_now();
  if (!now_or_never && t - event_cursor_saved_at_ < std::chrono::seconds(1)) return Status::ok();
  if (Status st = store_.save_cursor(kEventsCursor, *event_cursor_); !st) return st;
  saved_event_cursor_ = event_cursor_;
  event_cursor_saved_at_ = t;
  return Status::ok();
}

// The event stream: the events after the saved position, in id (= commit)
// order, keyed by user (else session, else event id); the position moves to
// the last event before the first one not delivered.
Result<size_t> OutboxRelay::events_pass() {
  if (!event_cursor_) {
    auto saved = store_.cursor(kEventsCursor);
    if (!saved) return saved.error();
    if (!*saved) {
      // First run with KAFKA_EVENTS: the stream starts now, not with the history.
      auto last = store_.last_event_id();
      if (!last) return last.error();
      if (Status st = store_.save_cursor(kEventsCursor, *last); !st) return st.error();
      spdlog::info("[Kafka] Event stream starts after event #{}", *last);
      *saved = *last;
    }
    event_cursor_ = **saved;
    saved_event_cursor_ = event_cursor_;
  }
  auto events = store_.events_after(*event_cursor_, options_.max_per_pass);
  if (!events) return events.error();
  if (events->empty()) return size_t{0};
  std::vector<Outgoing> out;
  std::vector<std::string> texts;  // what `out` points into
  out.reserve(events->size());
  texts.reserve(events->size());
  const std::string topic = fmt::format("{}events", options_.topic_prefix);
  for (const auto& [id, e] : *events) {
    const NewEvent& ev = e.event;
    const std::string& key = ev.user_id      ? *ev.user_id
                             : ev.session_id ? *ev.session_id
                                             : ev.event_id;
    out.push_back({.topic = topic,
                   .key = key,
                   .value = texts.emplace_back(event_json_text(e)),
                   .id_header = "event-id",
                   .id = ev.event_id,
                   .kind = "event",
                   .row_id = id});
  }
  Pass pass;
  deliver(*stream_producer_, pass, out, /*renew=*/false);
  size_t ok = 0;
  while (ok < out.size() && pass.sent[ok].reported &&
         pass.sent[ok].error == RD_KAFKA_RESP_ERR_NO_ERROR) {
    ++ok;
  }
  if (ok < out.size() && pass.sent[ok].reported) {
    if (auto left_out = delivery_log_.admit()) {
      spdlog::warn("[Kafka] Event {} was not delivered ({}); the stream resends from it{}",
                   out[ok].id, rd_kafka_err2str(pass.sent[ok].error),
                   delivery_log_.suffix(*left_out));
    }
    sleep_for(retry_pause(1));
  }
  if (ok > 0) {
    event_cursor_ = out[ok - 1].row_id;
    if (Status st = save_event_cursor(/*now_or_never=*/false); !st) return st.error();
    events_published_ += ok;
    if (meters_) {
      meters_->events_published.inc(ok);
      const Timestamp now = clock_.now();
      for (size_t i = 0; i < ok; ++i) {
        const auto lag = now - (*events)[i].second.event.received_at;
        meters_->event_lag.observe(std::chrono::duration<double>(lag).count());
      }
    }
  }
  return out.size();
}

}  // namespace insightd::relay
