#include "analysis/statistics.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <boost/json/monotonic_resource.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <cmath>
#include <map>
#include <numeric>
#include <unordered_map>

#include "analysis/text_util.h"

namespace insightd::analysis {
namespace {

namespace json = boost::json;

std::string_view view(json::string_view s) {
  return {s.data(), s.size()};
}

// Per metadata key, at most this many distinct values are told apart (more would
// only grow memory on ids and timestamps); the rest count as one "other" value.
constexpr size_t kMaxTrackedValues = 1000;
constexpr size_t kMaxTrackedKeys = 200;
constexpr std::string_view kSessionEnd = "(session end)";

constexpr std::array<std::string_view, 4> kPageKeys = {"page", "path", "pathname", "url"};
constexpr std::array<std::string_view, 3> kReferrerKeys = {"referrer", "referer", "ref"};
constexpr std::array<std::string_view, 5> kStatusKeys = {"status", "status_code", "statusCode",
                                                         "http_status", "httpStatus"};
constexpr std::array<std::string_view, 6> kMessageKeys = {
    "error", "error_message", "errorMessage", "message", "reason", "code"};

bool is_page_or_referrer_key(std::string_view key) {
  return std::find(kPageKeys.begin(), kPageKeys.end(), key) != kPageKeys.end() ||
         std::find(kReferrerKeys.begin(), kReferrerKeys.end(), key) != kReferrerKeys.end();
}

// The text of a scalar metadata value, written into `out` (one buffer reused
// for every value: most values are counted, not kept); false for null, objects
// and arrays.
bool scalar_text(const json::value& v, std::string& out) {
  out.clear();
  switch (v.kind()) {
    case json::kind::string: {
      const std::string_view s = view(v.get_string());
      if (s.size() <= kMaxValueChars) {
        out.assign(s);  // short enough in bytes, so in characters too
      } else {
        out = truncate_chars(s, kMaxValueChars);
      }
      return true;
    }
    case json::kind::bool_:
      out = v.get_bool() ? "true" : "false";
      return true;
    case json::kind::int64:
      fmt::format_to(std::back_inserter(out), "{}", v.get_int64());
      return true;
    case json::kind::uint64:
      fmt::format_to(std::back_inserter(out), "{}", v.get_uint64());
      return true;
    case json::kind::double_:
      fmt::format_to(std::back_inserter(out), "{}", v.get_double());
      return true;
    default:
      return false;
  }
}

// True when `text` contains `lower_word` (lower-case ASCII), ignoring ASCII case.
bool contains_word(std::string_view text, std::string_view lower_word) {
  if (lower_word.size() > text.size()) return false;
  for (size_t i = 0; i + lower_word.size() <= text.size(); ++i) {
    size_t k = 0;
    while (k < lower_word.size()) {
      char c = text[i + k];
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
      if (c != lower_word[k]) break;
      ++k;
    }
    if (k == lower_word.size()) return true;
  }
  return false;
}

const json::value* first_present(const json::object& o, std::span<const std::string_view> keys) {
  for (auto key : keys) {
    if (const auto* v = o.if_contains(key); v != nullptr && !v->is_null()) return v;
  }
  return nullptr;
}

// An HTTP status in a metadata value: 200, or "503".
std::optional<int> http_status(const json::value& v) {
  int64_t n = -1;
  if (v.is_int64()) {
    n = v.get_int64();
  } else if (v.is_uint64()) {
    n = v.get_uint64() < 1000 ? static_cast<int64_t>(v.get_uint64()) : -1;
  } else if (v.is_string()) {
    const auto s = view(v.get_string());
    if (s.size() == 3 &&
        std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      n = std::stoi(std::string(s));
    }
  }
  if (n >= 100 && n <= 599) return static_cast<int>(n);
  return std::nullopt;
}

std::optional<int> status_of(const json::object* md) {
  if (md == nullptr) return std::nullopt;
  for (auto key : kStatusKeys) {
    if (const auto* v = md->if_contains(key)) {
      if (auto s = http_status(*v)) return s;
    }
  }
  return std::nullopt;
}

bool is_failure_word(std::string_view s) {
  const std::string lower = ascii_lower(s);
  return lower == "failed" || lower == "failure" || lower == "fail" || lower == "error" ||
         lower == "declined" || lower == "fatal" || lower == "critical";
}

// Counts of texts, reported most frequent first, ties by text.
class Counter {
 public:
  void add(std::string_view value, int64_t n = 1) {
    auto it = counts_.find(value);
    if (it != counts_.end()) {
      it->second += n;
    } else {
      counts_.emplace(std::string(value), n);
    }
  }
  size_t distinct() const { return counts_.size(); }
  bool contains(std::string_view value) const { return counts_.find(value) != counts_.end(); }

  std::vector<CountEntry> top(size_t limit, int64_t min_count = 1) const {
    std::vector<CountEntry> all;
    all.reserve(counts_.size());
    for (const auto& [value, count] : counts_) {
      if (count >= min_count) all.push_back({value, count});
    }
    const size_t n = std::min(limit, all.size());
    std::partial_sort(all.begin(), all.begin() + static_cast<ptrdiff_t>(n), all.end(),
                      [](const CountEntry& a, const CountEntry& b) {
                        return a.count != b.count ? a.count > b.count : a.value < b.value;
                      });
    all.resize(n);
    return all;
  }

 private:
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::unordered_map<std::string, int64_t, Hash, std::equal_to<>> counts_;
};

struct FieldCounter {
  int64_t events = 0;
  bool overflow = false;
  Counter values;
};

// One event as the session analysis sees it.
struct Step {
  int type;  // interned event type
  bool error;
};

double median_of(std::vector<double> values) {
  if (values.empty()) return 0;
  const size_t mid = values.size() / 2;
  std::nth_element(values.begin(), values.begin() + static_cast<ptrdiff_t>(mid), values.end());
  const double upper = values[mid];
  if (values.size() % 2 == 1) return upper;
  const double lower =
      *std::max_element(values.begin(), values.begin() + static_cast<ptrdiff_t>(mid));
  return (lower + upper) / 2;
}

enum class MetricKind { kCount, kRate, kRatio, kFraction };

MetricKind kind_of(std::string_view metric) {
  if (metric == "event_count" || metric == "unique_users" || metric == "unique_sessions") {
    return MetricKind::kCount;
  }
  if (metric == "events_per_minute") return MetricKind::kRate;
  if (metric == "events_per_session") return MetricKind::kRatio;
  return MetricKind::kFraction;
}

// The smallest spread a metric is measured against. A history that never moved
// (MAD 0) would otherwise turn the smallest change into an infinite z-score;
// these floors are the change too small to matter for each kind of metric.
double scale_floor(MetricKind kind, double median) {
  switch (kind) {
    case MetricKind::kCount:
      return std::max(1.0, std::sqrt(std::abs(median)));  // Poisson noise
    case MetricKind::kRate:
      return std::max(0.5, 0.1 * std::abs(median));
    case MetricKind::kRatio:
      return std::max(0.25, 0.1 * std::abs(median));
    case MetricKind::kFraction:
      return 0.02;
  }
  return 1;
}

std::optional<MetricAnomaly> check_metric(std::string_view name, double observed,
                                          const std::vector<double>& history) {
  if (history.size() < kMinHistory) return std::nullopt;
  const double median = median_of(history);
  std::vector<double> deviations;
  deviations.reserve(history.size());
  for (double h : history) deviations.push_back(std::abs(h - median));
  const double mad = median_of(std::move(deviations));
  const MetricKind kind = kind_of(name);
  const double scale = std::max(1.4826 * mad, scale_floor(kind, median));
  const double z = (observed - median) / scale;
  if (std::abs(z) < kAnomalyZ) return std::nullopt;
  MetricAnomaly a;
  a.metric = std::string(name);
  a.observed = observed;
  a.median = round_to(median, 4);
  a.expected_low = std::max(0.0, median - kAnomalyZ * scale);
  a.expected_high = median + kAnomalyZ * scale;
  if (kind == MetricKind::kFraction) a.expected_high = std::min(1.0, a.expected_high);
  a.expected_low = round_to(a.expected_low, 4);
  a.expected_high = round_to(a.expected_high, 4);
  a.z = round_to(z, 2);
  a.direction = z > 0 ? "up" : "down";
  const double size = std::abs(z);
  a.severity = size >= 8 ? "high" : size >= 5 ? "medium" : "low";
  return a;
}

std::vector<MetricAnomaly> find_anomalies(const MetricSnapshot& current,
                                          std::span<const MetricSnapshot> history) {
  // Metrics to check: every current one, plus event types that most earlier
  // batches had and this one lacks (a step of the funnel that vanished).
  std::map<std::string, int> candidates;
  for (const auto& [name, value] : current.values) candidates[name] = 0;
  for (const auto& snap : history) {
    for (const auto& [name, value] : snap.values) {
      if (name.starts_with("type_share.")) ++candidates[name];
    }
  }
  std::vector<MetricAnomaly> found;
  for (const auto& [name, seen_in] : candidates) {
    std::optional<double> observed = current.find(name);
    if (!observed) {
      if (!current.all_types || static_cast<size_t>(seen_in) * 2 < history.size()) continue;
      observed = 0.0;
    }
    std::vector<double> past;
    past.reserve(history.size());
    for (const auto& snap : history) {
      if (auto v = snap.find(name)) {
        past.push_back(*v);
      } else if (name.starts_with("type_share.") && snap.all_types) {
        past.push_back(0.0);
      }
    }
    if (auto a = check_metric(name, *observed, past)) found.push_back(std::move(*a));
  }
  std::sort(found.begin(), found.end(), [](const MetricAnomaly& a, const MetricAnomaly& b) {
    const double za = std::abs(a.z);
    const double zb = std::abs(b.z);
    return za != zb ? za > zb : a.metric < b.metric;
  });
  constexpr size_t kMaxAnomalies = 10;
  if (found.size() > kMaxAnomalies) found.resize(kMaxAnomalies);
  return found;
}

// The main funnel, built greedily: the most common first step, then at each
// step the event type that most of the sessions still in the funnel go on to
// (anywhere later in the session), until no session goes further.
std::vector<FunnelStep> build_funnel(const std::vector<std::vector<Step>>& paths,
                                     const std::vector<std::string_view>& type_names) {
  const size_t type_count = type_names.size();
  std::vector<int64_t> counts(type_count, 0);
  auto best_type = [&]() -> int {
    int best = -1;
    for (size_t t = 0; t < type_count; ++t) {
      // Type ids are interned in name order, so the lower id wins a tie by name.
      if (counts[t] > 0 && (best < 0 || counts[t] > counts[static_cast<size_t>(best)])) {
        best = static_cast<int>(t);
      }
    }
    return best;
  };

  std::vector<long> pos(paths.size(), -1);  // index of the last matched step; -1: out
  for (const auto& path : paths) {
    for (const Step& s : path) {
      if (!s.error) {
        ++counts[static_cast<size_t>(s.type)];
        break;
      }
    }
  }
  int current = best_type();
  if (current < 0) return {};
  std::vector<FunnelStep> funnel;
  std::vector<bool> in_funnel(type_count, false);
  int64_t reached = 0;
  for (size_t i = 0; i < paths.size(); ++i) {
    for (size_t j = 0; j < paths[i].size(); ++j) {
      if (paths[i][j].error) continue;
      if (paths[i][j].type == current) {
        pos[i] = static_cast<long>(j);
        ++reached;
      }
      break;
    }
  }
  funnel.push_back(
      {std::string(type_names[static_cast<size_t>(current)]), reached, 1, 0, 0, {}, 0});
  in_funnel[static_cast<size_t>(current)] = true;

  std::vector<int> seen_stamp(type_count, -1);
  while (funnel.size() < kMaxFunnelSteps) {
    std::fill(counts.begin(), counts.end(), 0);
    for (size_t i = 0; i < paths.size(); ++i) {
      if (pos[i] < 0) continue;
      for (size_t j = static_cast<size_t>(pos[i]) + 1; j < paths[i].size(); ++j) {
        const Step& s = paths[i][j];
        const auto t = static_cast<size_t>(s.type);
        if (s.error || in_funnel[t] || seen_stamp[t] == static_cast<int>(i)) continue;
        seen_stamp[t] = static_cast<int>(i);
        ++counts[t];
      }
    }
    const int next = best_type();
    if (next < 0) break;
    std::fill(seen_stamp.begin(), seen_stamp.end(), -1);
    const int64_t previous = funnel.back().sessions;
    Counter exits;
    int64_t now_reached = 0;
    for (size_t i = 0; i < paths.size(); ++i) {
      if (pos[i] < 0) continue;
      const auto from = static_cast<size_t>(pos[i]);
      long found = -1;
      for (size_t j = from + 1; j < paths[i].size(); ++j) {
        if (!paths[i][j].error && paths[i][j].type == next) {
          found = static_cast<long>(j);
          break;
        }
      }
      if (found >= 0) {
        pos[i] = found;
        ++now_reached;
      } else {
        pos[i] = -1;
        exits.add(from + 1 < paths[i].size()
                      ? type_names[static_cast<size_t>(paths[i][from + 1].type)]
                      : kSessionEnd);
      }
    }
    FunnelStep step;
    step.event_type = std::string(type_names[static_cast<size_t>(next)]);
    step.sessions = now_reached;
    step.conversion =
        previous > 0 ? round_to(static_cast<double>(now_reached) / static_cast<double>(previous), 4)
                     : 0;
    step.drop_off = round_to(1 - step.conversion, 4);
    step.dropped = previous - now_reached;
    if (auto top = exits.top(1); !top.empty()) {
      step.top_exit = top[0].value;
      step.top_exit_sessions = top[0].count;
    }
    funnel.push_back(std::move(step));
    in_funnel[static_cast<size_t>(next)] = true;
  }
  if (funnel.size() < 2) return {};
  return funnel;
}

}  // namespace

std::optional<double> MetricSnapshot::find(std::string_view name) const {
  auto it = std::lower_bound(values.begin(), values.end(), name,
                             [](const auto& entry, std::string_view n) { return entry.first < n; });
  if (it == values.end() || it->first != name) return std::nullopt;
  return it->second;
}

bool is_error_like(std::string_view event_type, const json::object* metadata) {
  for (std::string_view word :
       {"error", "exception", "fail", "crash", "fatal", "declined", "timeout"}) {
    if (contains_word(event_type, word)) return true;
  }
  if (metadata == nullptr) return false;
  if (auto status = status_of(metadata); status && *status >= 400) return true;
  if (const auto* e = metadata->if_contains("error")) {
    if (e->is_object() || e->is_array() || (e->is_bool() && e->get_bool()) ||
        (e->is_string() && !e->get_string().empty())) {
      return true;
    }
  }
  for (std::string_view key : {"success", "ok"}) {
    if (const auto* v = metadata->if_contains(key);
        v != nullptr && v->is_bool() && !v->get_bool()) {
      return true;
    }
  }
  for (std::string_view key : {"status", "result", "outcome", "level", "severity"}) {
    if (const auto* v = metadata->if_contains(key); v != nullptr && v->is_string()) {
      if (is_failure_word(view(v->get_string()))) return true;
    }
  }
  return false;
}

BatchStatistics compute_statistics(std::span<const NewEvent> events,
                                   std::span<const MetricSnapshot> history) {
  BatchStatistics st;
  st.event_count = static_cast<int64_t>(events.size());
  st.history_batches = static_cast<int64_t>(history.size());

  Counter types;
  Counter users;
  Counter pages;
  Counter referrers;
  Counter error_types;
  Counter error_statuses;
  Counter error_messages;
  std::map<std::string, FieldCounter, std::less<>> fields;
  std::vector<bool> error_flags(events.size(), false);
  std::string text;  // scratch for metadata values

  for (size_t i = 0; i < events.size(); ++i) {
    const NewEvent& e = events[i];
    types.add(e.event_type);
    if (e.user_id) users.add(*e.user_id);
    if (!st.first_event || e.timestamp < *st.first_event) st.first_event = e.timestamp;
    if (!st.last_event || e.timestamp > *st.last_event) st.last_event = e.timestamp;

    // Metadata is parsed into a small arena that lives for this event only.
    std::array<unsigned char, 4096> arena{};
    json::monotonic_resource mr(arena.data(), arena.size());
    boost::system::error_code ec;
    json::value parsed = json::parse(e.metadata_json, ec, &mr);
    const json::object* md = !ec ? parsed.if_object() : nullptr;

    const bool error = is_error_like(e.event_type, md);
    error_flags[i] = error;
    if (error) {
      ++st.errors.total;
      error_types.add(e.event_type);
    }
    if (md == nullptr) continue;
    if (const auto* page = first_present(*md, kPageKeys); page && scalar_text(*page, text)) {
      pages.add(text);
    }
    if (const auto* ref = first_present(*md, kReferrerKeys); ref && scalar_text(*ref, text)) {
      referrers.add(text);
    }
    if (error) {
      if (auto status = status_of(md); status && *status >= 400) {
        ++(*status >= 500 ? st.errors.http_5xx : st.errors.http_4xx);
        error_statuses.add(std::to_string(*status));
      }
      if (const auto* msg = first_present(*md, kMessageKeys)) {
        const json::value* text = msg;
        if (msg->is_object()) text = msg->get_object().if_contains("message");
        if (text != nullptr && text->is_string() && !text->get_string().empty()) {
          error_messages.add(truncate_chars(view(text->get_string()), kMaxValueChars));
        }
      }
    }
    for (const auto& [key, value] : *md) {
      if (is_page_or_referrer_key(view(key))) continue;
      if (!scalar_text(value, text)) continue;
      auto it = fields.find(view(key));
      if (it == fields.end()) {
        if (fields.size() >= kMaxTrackedKeys) continue;
        it = fields.emplace(truncate_chars(view(key), kMaxValueChars), FieldCounter{}).first;
      }
      FieldCounter& f = it->second;
      ++f.events;
      if (f.values.distinct() < kMaxTrackedValues || f.values.contains(text)) {
        f.values.add(text);
      } else {
        f.overflow = true;
      }
    }
  }

  st.unique_users = static_cast<int64_t>(users.distinct());
  st.distinct_event_types = static_cast<int64_t>(types.distinct());
  st.event_types = types.top(kMaxEventTypes);
  st.top_pages = pages.top(kMaxTopValues);
  st.top_referrers = referrers.top(kMaxTopValues);
  st.errors.rate =
      st.event_count > 0
          ? round_to(static_cast<double>(st.errors.total) / static_cast<double>(st.event_count), 4)
          : 0;
  st.errors.by_event_type = error_types.top(kMaxTopValues);
  st.errors.by_status = error_statuses.top(kMaxTopValues);
  st.errors.messages = error_messages.top(kMaxTopValues);

  // Metadata fields: the keys most events carry, ties by name.
  std::vector<MetadataField> all_fields;
  for (const auto& [key, f] : fields) {
    MetadataField mf;
    mf.key = key;
    mf.events = f.events;
    mf.distinct = static_cast<int64_t>(f.values.distinct()) + (f.overflow ? 1 : 0);
    mf.top = f.values.top(kMaxTopValues, 2);
    all_fields.push_back(std::move(mf));
  }
  std::stable_sort(
      all_fields.begin(), all_fields.end(),
      [](const MetadataField& a, const MetadataField& b) { return a.events > b.events; });
  if (all_fields.size() > kMaxMetadataFields) all_fields.resize(kMaxMetadataFields);
  st.metadata = std::move(all_fields);

  if (st.first_event) {
    st.span_ms = to_unix_ms(*st.last_event) - to_unix_ms(*st.first_event);
    st.span_minutes = round_to(static_cast<double>(st.span_ms) / 60000.0, 4);
    // Under a second the span says more about clock resolution than about rate.
    const double minutes = static_cast<double>(std::max<int64_t>(st.span_ms, 1000)) / 60000.0;
    st.events_per_minute = round_to(static_cast<double>(st.event_count) / minutes, 4);
  }

  // Sessions: each session's events in time order (ties in input order).
  std::map<std::string_view, std::vector<size_t>> sessions;
  for (size_t i = 0; i < events.size(); ++i) {
    if (events[i].session_id) {
      sessions[*events[i].session_id].push_back(i);
    } else {
      ++st.events_without_session;
    }
  }
  st.unique_sessions = static_cast<int64_t>(sessions.size());

  // Event types interned in name order, so that id order is name order.
  std::vector<std::string_view> type_names;
  for (const auto& e : events) type_names.push_back(e.event_type);
  std::sort(type_names.begin(), type_names.end());
  type_names.erase(std::unique(type_names.begin(), type_names.end()), type_names.end());
  auto type_id = [&](std::string_view t) {
    return static_cast<int>(std::lower_bound(type_names.begin(), type_names.end(), t) -
                            type_names.begin());
  };

  std::vector<std::vector<Step>> paths;
  paths.reserve(sessions.size());
  std::vector<double> sizes;
  sizes.reserve(sessions.size());
  std::map<std::vector<std::string_view>, std::pair<int64_t, bool>> sequences;
  for (auto& [id, indices] : sessions) {
    std::stable_sort(indices.begin(), indices.end(),
                     [&](size_t a, size_t b) { return events[a].timestamp < events[b].timestamp; });
    sizes.push_back(static_cast<double>(indices.size()));
    st.events_per_session_max =
        std::max<int64_t>(st.events_per_session_max, static_cast<int64_t>(indices.size()));
    if (indices.size() == 1) ++st.single_event_sessions;
    std::vector<Step> path;
    for (size_t i : indices) {
      const Step s{type_id(events[i].event_type), error_flags[i]};
      if (path.empty() || path.back().type != s.type || path.back().error != s.error)
        path.push_back(s);
    }
    std::vector<std::string_view> seq;
    for (const Step& s : path) {
      if (seq.empty() || seq.back() != type_names[static_cast<size_t>(s.type)]) {
        seq.push_back(type_names[static_cast<size_t>(s.type)]);
      }
    }
    const bool truncated = seq.size() > kMaxSequenceSteps;
    if (truncated) seq.resize(kMaxSequenceSteps);
    auto& entry = sequences[seq];
    ++entry.first;
    entry.second = entry.second || truncated;
    paths.push_back(std::move(path));
  }
  if (!sizes.empty()) {
    st.events_per_session_mean = round_to(
        std::accumulate(sizes.begin(), sizes.end(), 0.0) / static_cast<double>(sizes.size()), 4);
    st.events_per_session_median = round_to(median_of(sizes), 4);
  }
  std::vector<SequenceCount> seqs;
  for (const auto& [steps, entry] : sequences) {
    SequenceCount sc;
    sc.steps.assign(steps.begin(), steps.end());
    sc.truncated = entry.second;
    sc.sessions = entry.first;
    seqs.push_back(std::move(sc));
  }
  // std::map iterated the sequences in order, so a stable sort keeps ties in it.
  std::stable_sort(seqs.begin(), seqs.end(), [](const SequenceCount& a, const SequenceCount& b) {
    return a.sessions > b.sessions;
  });
  if (seqs.size() > kMaxSequences) seqs.resize(kMaxSequences);
  st.top_sequences = std::move(seqs);
  st.funnel = build_funnel(paths, type_names);

  // The snapshot: what the next batches compare themselves with.
  std::map<std::string, double> snap;
  snap["event_count"] = static_cast<double>(st.event_count);
  snap["events_per_minute"] = st.events_per_minute;
  snap["unique_users"] = static_cast<double>(st.unique_users);
  snap["unique_sessions"] = static_cast<double>(st.unique_sessions);
  snap["events_per_session"] = st.events_per_session_mean;
  snap["error_rate"] = st.errors.rate;
  snap["single_event_session_rate"] = st.unique_sessions > 0
                                          ? round_to(static_cast<double>(st.single_event_sessions) /
                                                         static_cast<double>(st.unique_sessions),
                                                     4)
                                          : 0;
  const auto share_types = types.top(kMaxSnapshotTypes);
  for (const auto& t : share_types) {
    snap["type_share." + t.value] =
        round_to(static_cast<double>(t.count) / static_cast<double>(st.event_count), 4);
  }
  st.snapshot.values.assign(snap.begin(), snap.end());
  st.snapshot.all_types = types.distinct() <= kMaxSnapshotTypes;
  st.anomalies = find_anomalies(st.snapshot, history);
  return st;
}

namespace {

json::array to_json(const std::vector<CountEntry>& entries) {
  json::array out;
  out.reserve(entries.size());
  for (const auto& e : entries) out.push_back(json::object{{"value", e.value}, {"count", e.count}});
  return out;
}

}  // namespace

json::object to_json(const BatchStatistics& st) {
  json::object o;
  o["event_count"] = st.event_count;
  o["unique_users"] = st.unique_users;
  o["unique_sessions"] = st.unique_sessions;
  o["events_without_session"] = st.events_without_session;
  o["sessions"] = json::object{{"events_per_session_mean", st.events_per_session_mean},
                               {"events_per_session_median", st.events_per_session_median},
                               {"events_per_session_max", st.events_per_session_max},
                               {"single_event_sessions", st.single_event_sessions}};
  json::object time;
  time["first_event"] = st.first_event ? json::value(format_timestamp(*st.first_event)) : nullptr;
  time["last_event"] = st.last_event ? json::value(format_timestamp(*st.last_event)) : nullptr;
  time["span_ms"] = st.span_ms;
  time["span_minutes"] = st.span_minutes;
  time["events_per_minute"] = st.events_per_minute;
  o["time"] = std::move(time);

  json::array types;
  for (const auto& t : st.event_types) {
    types.push_back(json::object{
        {"value", t.value},
        {"count", t.count},
        {"share",
         st.event_count > 0
             ? round_to(static_cast<double>(t.count) / static_cast<double>(st.event_count), 4)
             : 0.0}});
  }
  o["event_types"] = std::move(types);
  o["distinct_event_types"] = st.distinct_event_types;
  o["top_pages"] = to_json(st.top_pages);
  o["top_referrers"] = to_json(st.top_referrers);
  json::array md;
  for (const auto& f : st.metadata) {
    md.push_back(json::object{
        {"key", f.key}, {"events", f.events}, {"distinct", f.distinct}, {"top", to_json(f.top)}});
  }
  o["metadata"] = std::move(md);
  o["errors"] = json::object{{"total", st.errors.total},
                             {"rate", st.errors.rate},
                             {"by_event_type", to_json(st.errors.by_event_type)},
                             {"http_4xx", st.errors.http_4xx},
                             {"http_5xx", st.errors.http_5xx},
                             {"by_status", to_json(st.errors.by_status)},
                             {"messages", to_json(st.errors.messages)}};
  json::array seqs;
  for (const auto& s : st.top_sequences) {
    json::array steps;
    for (const auto& step : s.steps) steps.push_back(json::string(step));
    seqs.push_back(json::object{
        {"steps", std::move(steps)}, {"truncated", s.truncated}, {"sessions", s.sessions}});
  }
  o["top_sequences"] = std::move(seqs);
  json::array funnel;
  for (size_t i = 0; i < st.funnel.size(); ++i) {
    const FunnelStep& f = st.funnel[i];
    json::object step{{"step", static_cast<int64_t>(i + 1)},
                      {"event_type", f.event_type},
                      {"sessions", f.sessions},
                      {"conversion", f.conversion},
                      {"drop_off", f.drop_off},
                      {"dropped", f.dropped}};
    if (!f.top_exit.empty()) {
      step["top_exit"] = f.top_exit;
      step["top_exit_sessions"] = f.top_exit_sessions;
    }
    funnel.push_back(std::move(step));
  }
  o["funnel"] = std::move(funnel);
  o["history_batches"] = st.history_batches;
  json::array anomalies;
  for (const auto& a : st.anomalies) {
    anomalies.push_back(json::object{{"metric", a.metric},
                                     {"observed", a.observed},
                                     {"median", a.median},
                                     {"expected_low", a.expected_low},
                                     {"expected_high", a.expected_high},
                                     {"z", a.z},
                                     {"direction", a.direction},
                                     {"severity", a.severity}});
  }
  o["anomalies"] = std::move(anomalies);
  json::object metrics;
  for (const auto& [name, value] : st.snapshot.values) metrics[name] = value;
  o["snapshot"] =
      json::object{{"metrics", std::move(metrics)}, {"all_types", st.snapshot.all_types}};
  return o;
}

std::optional<MetricSnapshot> snapshot_from_statistics_json(std::string_view statistics_json) {
  boost::system::error_code ec;
  json::value v = json::parse(statistics_json, ec);
  if (ec || !v.is_object()) return std::nullopt;
  const auto* snap = v.get_object().if_contains("snapshot");
  if (snap == nullptr || !snap->is_object()) return std::nullopt;
  const auto* metrics = snap->get_object().if_contains("metrics");
  if (metrics == nullptr || !metrics->is_object()) return std::nullopt;
  std::map<std::string, double> sorted;
  for (const auto& [name, value] : metrics->get_object()) {
    if (!value.is_number()) return std::nullopt;
    sorted[std::string(view(name))] = value.to_number<double>();
  }
  MetricSnapshot out;
  out.values.assign(sorted.begin(), sorted.end());
  const auto* all = snap->get_object().if_contains("all_types");
  out.all_types = all == nullptr || !all->is_bool() || all->get_bool();
  return out;
}

}  // namespace insightd::analysis
