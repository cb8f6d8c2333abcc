// The facts of one batch, computed before any analyzer words them: counts per
// event type, users and sessions, time span and rate, top pages, referrers and
// metadata values, error-like events, the common per-session paths and the main
// funnel with its drop-offs, and the metrics that moved against recent batches.
//
// Deterministic: the same events and history give the same statistics, whatever
// the order of hash maps (every list is sorted, ties by name). Pure: no I/O, no
// clock. Everything an analyzer cites must come from here.
#pragma once

#include <boost/json/object.hpp>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/model.h"
#include "core/time.h"

namespace insightd::analysis {

// A batch's headline metrics, kept with its statistics so that later batches can
// be compared with it: "event_count", "events_per_minute", "unique_users",
// "unique_sessions", "events_per_session", "error_rate", "single_event_session_rate",
// and "type_share.<event type>" for each event type.
struct MetricSnapshot {
  std::vector<std::pair<std::string, double>> values;  // sorted by name, names unique
  // False when the batch had more event types than a snapshot keeps: a type
  // missing from `values` is then unknown rather than absent (share 0).
  bool all_types = true;

  std::optional<double> find(std::string_view name) const;
};

struct CountEntry {
  std::string value;
  int64_t count = 0;
};

struct MetadataField {
  std::string key;
  int64_t events = 0;           // events whose metadata has the key with a scalar value
  int64_t distinct = 0;         // distinct values (values past a bound count as one)
  std::vector<CountEntry> top;  // values seen at least twice, most frequent first
};

struct ErrorStatistics {
  int64_t total = 0;  // error-like events
  double rate = 0;    // total / events
  std::vector<CountEntry> by_event_type;
  int64_t http_4xx = 0;  // error-like events whose metadata carries a 4xx status
  int64_t http_5xx = 0;
  std::vector<CountEntry> by_status;  // "503": 12
  std::vector<CountEntry> messages;   // metadata error / message / reason texts
};

// One session path: the session's event types in time order, repeats in a row
// collapsed ("page_view, page_view, cart" is "page_view > cart").
struct SequenceCount {
  std::vector<std::string> steps;
  bool truncated = false;  // the sessions went on past the last step shown
  int64_t sessions = 0;
};

// One step of the main funnel. Error-like events are never steps: they are what
// sessions run into when they leave.
struct FunnelStep {
  std::string event_type;
  int64_t sessions = 0;   // sessions that reached this step after all earlier ones
  double conversion = 1;  // sessions / the previous step's sessions
  double drop_off = 0;    // 1 - conversion
  int64_t dropped = 0;    // previous step's sessions - sessions
  // For the sessions that reached the previous step but not this one: what they
  // did next most often (an event type, or "(session end)"), and how many did.
  std::string top_exit;
  int64_t top_exit_sessions = 0;
};

// A metric far outside its range over recent batches (robust z-score: distance
// from the median in units of 1.4826 × the median absolute deviation, with a
// floor so that a perfectly steady history does not make every change "infinite").
struct MetricAnomaly {
  std::string metric;  // a MetricSnapshot name
  double observed = 0;
  double median = 0;
  double expected_low = 0;  // median ± kAnomalyZ × scale, clipped to the metric's domain
  double expected_high = 0;
  double z = 0;
  std::string direction;  // "up" or "down"
  std::string severity;   // "low", "medium", "high"
};

struct BatchStatistics {
  int64_t event_count = 0;
  int64_t unique_users = 0;
  int64_t unique_sessions = 0;
  int64_t events_without_session = 0;
  double events_per_session_mean = 0;
  double events_per_session_median = 0;
  int64_t events_per_session_max = 0;
  int64_t single_event_sessions = 0;

  std::optional<Timestamp> first_event;
  std::optional<Timestamp> last_event;
  int64_t span_ms = 0;
  double span_minutes = 0;
  double events_per_minute = 0;  // over the span, at least one second

  std::vector<CountEntry> event_types;  // the most frequent kMaxEventTypes
  int64_t distinct_event_types = 0;
  std::vector<CountEntry> top_pages;
  std::vector<CountEntry> top_referrers;
  std::vector<MetadataField> metadata;
  ErrorStatistics errors;
  std::vector<SequenceCount> top_sequences;
  std::vector<FunnelStep> funnel;  // empty when no path has two steps

  int64_t history_batches = 0;
  std::vector<MetricAnomaly> anomalies;  // strongest first
  MetricSnapshot snapshot;
};

// Bounds that keep the statistics (and so a prompt) small whatever the batch holds.
inline constexpr size_t kMaxEventTypes = 20;
inline constexpr size_t kMaxTopValues = 5;
inline constexpr size_t kMaxMetadataFields = 8;
inline constexpr size_t kMaxSequences = 5;
inline constexpr size_t kMaxSequenceSteps = 8;
inline constexpr size_t kMaxFunnelSteps = 6;
inline constexpr size_t kMaxValueChars = 100;  // longer texts are cut, with "…"
inline constexpr size_t kMaxSnapshotTypes = 50;
// Anomaly detection needs this many earlier batches, and flags |z| at or above kAnomalyZ.
inline constexpr size_t kMinHistory = 3;
inline constexpr double kAnomalyZ = 3.5;

// True for an event that reports a failure: its type names one ("error",
// "exception", "fail", "crash", "fatal", "declined", "timeout"), or its
// metadata does (an HTTP status of 400–599, a non-empty "error", "success" or
// "ok" false, a "status" of failed/error/declined, a "level" of error/fatal).
// `metadata` is the event's parsed metadata object (nullptr when unparsable).
bool is_error_like(std::string_view event_type, const boost::json::object* metadata);

// Computes the statistics of `events` (any order) against `history`, the
// snapshots of recent earlier batches (any order; kMinHistory or more enable
// anomaly detection).
BatchStatistics compute_statistics(std::span<const NewEvent> events,
                                   std::span<const MetricSnapshot> history);

// The statistics as JSON: snake_case fields, fractions in 0..1 rounded to four
// decimals, lists as arrays of objects. Includes the snapshot under "snapshot".
boost::json::object to_json(const BatchStatistics& stats);

// Reads the snapshot back from statistics JSON (an insight's stored
// statistics_json), so that the pipeline can build the history from earlier
// insights. nullopt when the text is not statistics JSON.
std::optional<MetricSnapshot> snapshot_from_statistics_json(std::string_view statistics_json);

}  // namespace insightd::analysis
