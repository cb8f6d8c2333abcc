#include "analysis/builtin_analyzer.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>

#include "analysis/text_util.h"

namespace insightd::analysis {
namespace {

// Below this many events a batch says little whatever it holds.
constexpr int64_t kSmallBatch = 20;
// A funnel step is a drop-off worth reporting when it loses this share of the
// sessions of the step before, and that step had at least kMinFunnelSessions.
constexpr double kFunnelDropThreshold = 0.5;
constexpr int64_t kMinFunnelSessions = 3;
// Error-like events become a finding at this share of the batch and count.
constexpr double kErrorRateThreshold = 0.05;
constexpr int64_t kMinErrors = 3;
// Findings at least this strong lead the summary.
constexpr double kHeadlineStrength = 0.3;

// How much `n` observations support a finding: 0 for none, towards 1 as n
// grows past `half_life`-ish; the same curve for sessions, errors and batches.
double support(int64_t n, double scale) {
  return 1 - std::exp(-static_cast<double>(n) / scale);
}

// A figure as people read it: at most two decimals, no trailing zeros.
std::string figure(double v) {
  std::string s = fmt::format("{:.2f}", v);
  while (s.back() == '0') s.pop_back();
  if (s.back() == '.') s.pop_back();
  return s;
}

std::string minutes(double m) {
  const std::string f = figure(m);
  return f + (f == "1" ? " minute" : " minutes");
}

std::string percent(double fraction) {
  return fmt::format("{:.1f}%", fraction * 100);
}

std::string plural(int64_t n, std::string_view one, std::string_view many) {
  return fmt::format("{} {}", n, n == 1 ? one : many);
}

std::string join_counts(const std::vector<CountEntry>& entries, size_t limit) {
  std::string out;
  for (size_t i = 0; i < entries.size() && i < limit; ++i) {
    if (!out.empty()) out += ", ";
    out += fmt::format("{} ({})", entries[i].value, entries[i].count);
  }
  return out;
}

struct Finding {
  double strength = 0;
  std::string headline;  // a sentence for the summary, without the final period
  Pattern pattern;
  std::vector<std::string> recommendations;
};

bool is_error_type(const BatchStatistics& st, std::string_view type) {
  return std::any_of(st.errors.by_event_type.begin(), st.errors.by_event_type.end(),
                     [&](const CountEntry& e) { return e.value == type; });
}

std::optional<Finding> funnel_finding(const BatchStatistics& st) {
  if (st.funnel.size() < 2) return std::nullopt;
  size_t worst = 0;
  for (size_t k = 1; k < st.funnel.size(); ++k) {
    if (st.funnel[k - 1].sessions < kMinFunnelSessions) continue;
    if (worst == 0 || st.funnel[k].drop_off > st.funnel[worst].drop_off) worst = k;
  }
  Finding f;
  if (worst == 0 || st.funnel[worst].drop_off < kFunnelDropThreshold) {
    // No collapse: describe the main path so that the funnel is still visible.
    std::string path;
    for (const auto& step : st.funnel) {
      if (!path.empty()) path += " → ";
      path += fmt::format("{} ({})", step.event_type, step.sessions);
    }
    const auto& first = st.funnel.front();
    const auto& last = st.funnel.back();
    f.strength = 0.05;
    f.headline = fmt::format("The main path {} loses no step by half or more", path);
    f.pattern = {
        "Main funnel",
        fmt::format("Sessions follow {}: {} of {} sessions that began with {} reached {}.", path,
                    last.sessions, first.sessions, first.event_type, last.event_type),
        {{"funnel[0].sessions", static_cast<double>(first.sessions)},
         {fmt::format("funnel[{}].sessions", st.funnel.size() - 1),
          static_cast<double>(last.sessions)}}};
    return f;
  }
  const FunnelStep& from = st.funnel[worst - 1];
  const FunnelStep& to = st.funnel[worst];
  f.strength = to.drop_off * support(from.sessions, 8);
  const std::string finding =
      fmt::format("{} sessions reached {} but only {} went on to {} ({} drop-off)", from.sessions,
                  from.event_type, to.sessions, to.event_type, percent(to.drop_off));
  f.headline =
      fmt::format("Funnel drop-off at {} → {}: {}", from.event_type, to.event_type, finding);
  std::string detail = finding + ".";
  std::string recommendation;
  if (to.top_exit_sessions > 0) {
    if (to.top_exit == "(session end)") {
      detail +=
          fmt::format(" Of the {} sessions that stopped, {} ended the session right after {}.",
                      to.dropped, to.top_exit_sessions, from.event_type);
      recommendation = fmt::format(
          "Review the {} step: {} of the {} sessions that did not reach {} left right after it",
          from.event_type, to.top_exit_sessions, to.dropped, to.event_type);
    } else {
      detail += fmt::format(" Of the {} sessions that stopped, {} went to {} next.", to.dropped,
                            to.top_exit_sessions, to.top_exit);
      recommendation =
          is_error_type(st, to.top_exit)
              ? fmt::format(
                    "Fix what makes sessions hit {} after {}: {} of the {} sessions that "
                    "did not reach {} did",
                    to.top_exit, from.event_type, to.top_exit_sessions, to.dropped, to.event_type)
              : fmt::format(
                    "Review the path from {} to {}: {} of the {} sessions that did not "
                    "reach {} went to {} instead",
                    from.event_type, to.event_type, to.top_exit_sessions, to.dropped, to.event_type,
                    to.top_exit);
    }
  }
  f.pattern = {fmt::format("Funnel drop-off: {} → {}", from.event_type, to.event_type),
               detail,
               {{fmt::format("funnel[{}].sessions", worst - 1), static_cast<double>(from.sessions)},
                {fmt::format("funnel[{}].sessions", worst), static_cast<double>(to.sessions)},
                {fmt::format("funnel[{}].drop_off", worst), to.drop_off}}};
  if (to.top_exit_sessions > 0) {
    f.pattern.evidence.push_back({fmt::format("funnel[{}].top_exit_sessions", worst),
                                  static_cast<double>(to.top_exit_sessions)});
  }
  if (!recommendation.empty()) f.recommendations.push_back(recommendation);
  return f;
}

std::optional<Finding> error_finding(const BatchStatistics& st) {
  const ErrorStatistics& e = st.errors;
  if (e.total == 0) return std::nullopt;
  Finding f;
  const bool spike = e.total >= kMinErrors && e.rate >= kErrorRateThreshold;
  const CountEntry& top = e.by_event_type.front();
  f.strength = spike ? std::min(1.0, e.rate / 0.15) * support(e.total, 5) : 0.1;
  const std::string finding = fmt::format("{} ({} of all events), mostly {} ({})",
                                          plural(e.total, "error-like event", "error-like events"),
                                          percent(e.rate), top.value, top.count);
  f.headline = spike ? "Error spike: " + finding : finding;
  std::string detail = fmt::format("{}. By type: {}.", finding, join_counts(e.by_event_type, 3));
  if (e.http_5xx > 0 || e.http_4xx > 0) {
    detail += fmt::format(" HTTP status 5xx: {}, 4xx: {}", e.http_5xx, e.http_4xx);
    if (!e.by_status.empty()) detail += fmt::format(" (most often {})", e.by_status.front().value);
    detail += ".";
  }
  if (!e.messages.empty()) {
    detail += fmt::format(" Most common message: \"{}\" ({}).", e.messages.front().value,
                          e.messages.front().count);
  }
  f.pattern = {spike ? "Error spike" : "A few error-like events",
               detail,
               {{"errors.total", static_cast<double>(e.total)},
                {"errors.rate", e.rate},
                {"errors.by_event_type[0].count", static_cast<double>(top.count)}}};
  if (e.http_5xx > 0)
    f.pattern.evidence.push_back({"errors.http_5xx", static_cast<double>(e.http_5xx)});
  if (spike) {
    std::string rec = fmt::format("Investigate {} first: {} of the {} error-like events", top.value,
                                  top.count, e.total);
    if (!e.messages.empty()) rec += fmt::format(", most often \"{}\"", e.messages.front().value);
    f.recommendations.push_back(rec);
    if (e.http_5xx > 0) {
      f.recommendations.push_back(fmt::format(
          "Check the server side: {} of the error-like events carry a 5xx status", e.http_5xx));
    }
  }
  return f;
}

std::string anomaly_title(const MetricAnomaly& a) {
  const bool up = a.direction == "up";
  if (a.metric == "events_per_minute") return up ? "Traffic surge" : "Traffic drop";
  if (a.metric == "event_count") return up ? "Larger batch than usual" : "Smaller batch than usual";
  if (a.metric == "error_rate")
    return up ? "Error rate above its usual range" : "Fewer errors than usual";
  if (a.metric.starts_with("type_share.")) {
    return fmt::format("{} {} events than usual", up ? "More" : "Fewer",
                       a.metric.substr(std::string_view("type_share.").size()));
  }
  return fmt::format("{} {} its usual range", a.metric, up ? "above" : "below");
}

std::string anomaly_recommendation(const BatchStatistics& st, const MetricAnomaly& a) {
  const bool up = a.direction == "up";
  if (a.metric == "events_per_minute" || a.metric == "event_count" || a.metric == "unique_users" ||
      a.metric == "unique_sessions") {
    if (!up)
      return "Check that clients still send events: a release, an SDK change or an outage upstream "
             "can cut traffic";
    std::string rec = "Find where the extra traffic comes from";
    if (!st.top_referrers.empty()) {
      rec += fmt::format(" (top referrer: {} with {})", st.top_referrers.front().value,
                         st.top_referrers.front().count);
    }
    return rec + " and make sure it is real users, not a bot or a client retry loop";
  }
  if (a.metric == "error_rate") {
    return up ? "Compare with the last release or deploy: the error rate left its usual range"
              : "Nothing to fix: fewer errors than usual";
  }
  if (a.metric.starts_with("type_share.")) {
    const auto type = a.metric.substr(std::string_view("type_share.").size());
    return up ? fmt::format("Check why {} events rose above their usual share", type)
              : fmt::format(
                    "Check the step that produces {} events: their share fell below its usual "
                    "range",
                    type);
  }
  return fmt::format("Look into {}: it left its usual range", a.metric);
}

Finding anomaly_finding(const BatchStatistics& st, size_t index) {
  const MetricAnomaly& a = st.anomalies[index];
  Finding f;
  f.strength =
      std::min(1.0, 0.5 + (std::abs(a.z) - kAnomalyZ) / 8) * support(st.history_batches, 4);
  const std::string finding = fmt::format(
      "{} is {} against an expected {}–{} over {} earlier batches", a.metric, figure(a.observed),
      figure(a.expected_low), figure(a.expected_high), st.history_batches);
  f.headline = anomaly_title(a) + ": " + finding;
  f.pattern = {anomaly_title(a),
               fmt::format("{}. Median {}, robust z-score {}.", finding, figure(a.median), a.z),
               {{fmt::format("anomalies[{}].observed", index), a.observed},
                {fmt::format("anomalies[{}].median", index), a.median},
                {fmt::format("anomalies[{}].z", index), a.z}}};
  f.recommendations.push_back(anomaly_recommendation(st, a));
  return f;
}

std::optional<Finding> single_event_finding(const BatchStatistics& st) {
  if (st.unique_sessions < 5) return std::nullopt;
  const double rate = st.snapshot.find("single_event_session_rate").value_or(0);
  if (rate < 0.6) return std::nullopt;
  Finding f;
  f.strength = 0.2;
  f.headline = fmt::format("{} of {} sessions ({}) had a single event", st.single_event_sessions,
                           st.unique_sessions, percent(rate));
  f.pattern = {"Single-event sessions",
               f.headline + ": visitors leave before doing anything else.",
               {{"sessions.single_event_sessions", static_cast<double>(st.single_event_sessions)},
                {"unique_sessions", static_cast<double>(st.unique_sessions)}}};
  f.recommendations.push_back(
      "Look at the landing pages of single-event sessions: most visitors leave at once");
  return f;
}

Pattern overview_pattern(const BatchStatistics& st) {
  std::string detail = fmt::format(
      "{} from {} in {} over {} ({} events/min).", plural(st.event_count, "event", "events"),
      plural(st.unique_users, "user", "users"), plural(st.unique_sessions, "session", "sessions"),
      minutes(st.span_minutes), figure(st.events_per_minute));
  if (!st.event_types.empty()) {
    detail += " Event types: ";
    for (size_t i = 0; i < st.event_types.size() && i < 3; ++i) {
      const auto& t = st.event_types[i];
      if (i > 0) detail += ", ";
      detail +=
          fmt::format("{} {} ({})", t.value, t.count,
                      percent(static_cast<double>(t.count) / static_cast<double>(st.event_count)));
    }
    detail += ".";
  }
  Pattern p{"Traffic overview",
            detail,
            {{"event_count", static_cast<double>(st.event_count)},
             {"unique_users", static_cast<double>(st.unique_users)},
             {"unique_sessions", static_cast<double>(st.unique_sessions)},
             {"time.events_per_minute", st.events_per_minute}}};
  if (!st.event_types.empty()) {
    p.evidence.push_back({"event_types[0].count", static_cast<double>(st.event_types[0].count)});
  }
  return p;
}

std::optional<Pattern> pages_pattern(const BatchStatistics& st) {
  if (st.top_pages.empty()) return std::nullopt;
  Pattern p{
      "Top pages", fmt::format("Most viewed: {}.", join_counts(st.top_pages, kMaxTopValues)), {}};
  for (size_t i = 0; i < st.top_pages.size() && i < 3; ++i) {
    p.evidence.push_back(
        {fmt::format("top_pages[{}].count", i), static_cast<double>(st.top_pages[i].count)});
  }
  if (!st.top_referrers.empty()) {
    p.detail += fmt::format(" Top referrers: {}.", join_counts(st.top_referrers, 3));
  }
  return p;
}

std::string history_clause(const BatchStatistics& st) {
  if (st.history_batches == 0) return "no earlier batches to compare with";
  if (st.history_batches < static_cast<int64_t>(kMinHistory)) {
    return fmt::format("too few earlier batches ({}) to compare with", st.history_batches);
  }
  return fmt::format("nothing unusual against {} earlier batches", st.history_batches);
}

}  // namespace

InsightContent interpret_statistics(const BatchStatistics& st) {
  std::vector<Finding> findings;
  if (auto f = funnel_finding(st)) findings.push_back(std::move(*f));
  if (auto f = error_finding(st)) findings.push_back(std::move(*f));
  for (size_t i = 0; i < st.anomalies.size() && i < 3; ++i)
    findings.push_back(anomaly_finding(st, i));
  if (auto f = single_event_finding(st)) findings.push_back(std::move(*f));
  std::stable_sort(findings.begin(), findings.end(),
                   [](const Finding& a, const Finding& b) { return a.strength > b.strength; });

  InsightContent c;
  const double strongest = findings.empty() ? 0.0 : findings.front().strength;
  const double sample = support(st.event_count, 40);
  c.confidence = round_to(sample * (0.5 + 0.5 * strongest), 2);

  std::string summary;
  if (st.event_count < kSmallBatch) {
    summary = fmt::format("Only {}: too few to draw firm conclusions. ",
                          plural(st.event_count, "event", "events"));
  }
  const std::string scope = fmt::format(
      "{} from {} in {}", plural(st.event_count, "event", "events"),
      plural(st.unique_users, "user", "users"), plural(st.unique_sessions, "session", "sessions"));
  if (strongest >= kHeadlineStrength) {
    summary += findings[0].headline + ".";
    if (findings.size() > 1 && findings[1].strength >= kHeadlineStrength) {
      summary += " " + findings[1].headline + ".";
    }
    summary += fmt::format(" Based on {}.", scope);
  } else {
    summary += fmt::format("Ordinary traffic: {} over {} ({} events/min)", scope,
                           minutes(st.span_minutes), figure(st.events_per_minute));
    if (!st.event_types.empty()) {
      const auto& t = st.event_types.front();
      summary +=
          fmt::format(", mostly {} ({})", t.value,
                      percent(static_cast<double>(t.count) / static_cast<double>(st.event_count)));
    }
    summary +=
        st.errors.total == 0
            ? "; no error-like events"
            : fmt::format("; {}", plural(st.errors.total, "error-like event", "error-like events"));
    if (st.funnel.size() >= 2) summary += "; no funnel step loses half its sessions";
    summary += "; " + history_clause(st) + ".";
  }
  c.summary = std::move(summary);

  for (auto& f : findings) {
    if (c.patterns.size() < kMaxPatterns) c.patterns.push_back(std::move(f.pattern));
    for (auto& r : f.recommendations) {
      if (c.recommendations.size() < kMaxRecommendations &&
          std::find(c.recommendations.begin(), c.recommendations.end(), r) ==
              c.recommendations.end()) {
        c.recommendations.push_back(std::move(r));
      }
    }
  }
  if (c.patterns.size() < kMaxPatterns) c.patterns.push_back(overview_pattern(st));
  if (auto p = pages_pattern(st); p && c.patterns.size() < kMaxPatterns)
    c.patterns.push_back(std::move(*p));

  for (size_t i = 0; i < st.anomalies.size() && c.anomalies.size() < kMaxAnomalies; ++i) {
    const MetricAnomaly& a = st.anomalies[i];
    c.anomalies.push_back({a.metric, a.observed, a.expected_low, a.expected_high, a.severity,
                           fmt::format("{} {} its usual range over {} earlier batches (median {}, "
                                       "robust z-score {})",
                                       a.metric, a.direction == "up" ? "above" : "below",
                                       st.history_batches, figure(a.median), a.z)});
  }

  if (st.event_count < kSmallBatch) {
    c.recommendations.insert(c.recommendations.begin(),
                             "Wait for a larger batch before acting on this one");
  }
  if (c.recommendations.empty()) {
    c.recommendations.push_back("No action needed: keep watching the next batches");
  }
  if (c.recommendations.size() > kMaxRecommendations) c.recommendations.resize(kMaxRecommendations);
  return c;
}

AnalysisResult BuiltinAnalyzer::analyze(std::span<const NewEvent> events,
                                        std::span<const MetricSnapshot> history) {
  if (events.empty()) {
    return AnalysisError{AnalysisErrorKind::kInvalidInput, false, std::nullopt, std::nullopt,
                         "the batch has no events to analyze"};
  }
  const auto started = std::chrono::steady_clock::now();
  const BatchStatistics stats = compute_statistics(events, history);
  Insight insight;
  insight.content = interpret_statistics(stats);
  insight.metrics = to_json(stats);
  insight.analyzer = std::string(name());
  insight.latency_ms =
      std::chrono::duration_cast<Millis>(std::chrono::steady_clock::now() - started).count();
  return insight;
}

}  // namespace insightd::analysis
