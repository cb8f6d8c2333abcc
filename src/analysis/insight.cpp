#include "analysis/insight.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>

#include "analysis/json_schema.h"

namespace insightd::analysis {
namespace {

namespace json = boost::json;

std::string_view view(json::string_view s) {
  return {s.data(), s.size()};
}

json::object string_field(std::string_view description) {
  return {{"type", "string"}, {"description", description}};
}

json::object number_field(std::string_view description) {
  return {{"type", "number"}, {"description", description}};
}

json::object closed_object(json::object properties) {
  json::array required;
  for (const auto& [key, unused] : properties) required.push_back(json::string(key));
  return {{"type", "object"},
          {"properties", std::move(properties)},
          {"required", std::move(required)},
          {"additionalProperties", false}};
}

json::object array_of(json::object items, std::string_view description) {
  return {{"type", "array"}, {"items", std::move(items)}, {"description", description}};
}

json::object build_schema() {
  json::object evidence = closed_object({
      {"metric", string_field("Path of the figure in the statistics, e.g. funnel[3].sessions")},
      {"value", number_field("The figure exactly as it appears in the statistics")},
  });
  json::object pattern = closed_object({
      {"title", string_field("A short name for the pattern")},
      {"detail", string_field("What happened, with the figures from the statistics")},
      {"evidence", array_of(std::move(evidence), "The figures that show it (at most 10)")},
  });
  json::object expected = closed_object({
      {"low", number_field("Low end of the expected range, from the statistics")},
      {"high", number_field("High end of the expected range, from the statistics")},
  });
  json::object anomaly = closed_object({
      {"metric", string_field("The metric that moved")},
      {"observed", number_field("Its value in this batch, from the statistics")},
      {"expected", std::move(expected)},
      {"severity",
       json::object{{"type", "string"}, {"enum", json::array{"low", "medium", "high"}}}},
      {"detail", string_field("Why it matters")},
  });
  return closed_object({
      {"summary", string_field("Two or three sentences naming the main finding and its figures")},
      {"confidence",
       number_field("How sure the analysis is, from 0 to 1: low for few events or weak effects")},
      {"patterns", array_of(std::move(pattern), "Notable patterns (at most 10)")},
      {"anomalies", array_of(std::move(anomaly), "Metrics outside their usual range (at most 20)")},
      {"recommendations",
       array_of(json::object{{"type", "string"}}, "Concrete next steps (at most 10)")},
  });
}

Status invalid(std::string message) {
  return make_error(ErrorCode::kInvalidArgument, std::move(message));
}

Status check_text(std::string_view path, const std::string& text) {
  if (text.size() > kMaxTextBytes) {
    return invalid(fmt::format("{}: longer than {} bytes", path, kMaxTextBytes));
  }
  return Status::ok();
}

std::string get_string(const json::object& o, std::string_view key) {
  return std::string(view(o.at(key).get_string()));
}

double get_number(const json::object& o, std::string_view key) {
  return o.at(key).to_number<double>();
}

// --- Grounding ------------------------------------------------------------

// A number written in text, with how many decimals it was written with.
struct WrittenNumber {
  double value;
  int decimals;
  std::string text;
};

// Letters glue digits into names ("v2", "page_2"); anything else (spaces,
// punctuation, and non-ASCII such as "–" or "→") separates numbers.
bool is_word_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

// The numbers in `text` that stand as numbers: not glued to letters ("5xx",
// "v2", "page_2"); "1,234" reads as 1234.
std::vector<WrittenNumber> numbers_in(std::string_view text) {
  std::vector<WrittenNumber> out;
  size_t i = 0;
  while (i < text.size()) {
    if (!is_digit(text[i])) {
      ++i;
      continue;
    }
    const bool glued_before = i > 0 && is_word_char(text[i - 1]);
    std::string digits;
    size_t j = i;
    int decimals = 0;
    bool dot = false;
    while (j < text.size()) {
      const bool thousands = text[j] == ',' && !dot && j + 3 < text.size() &&
                             is_digit(text[j + 1]) && is_digit(text[j + 2]) &&
                             is_digit(text[j + 3]) &&
                             (j + 4 == text.size() || !is_digit(text[j + 4]));
      if (is_digit(text[j])) {
        digits += text[j];
        if (dot) ++decimals;
      } else if (thousands) {
        // skipped: "1,234" is 1234
      } else if (text[j] == '.' && !dot && j + 1 < text.size() && is_digit(text[j + 1])) {
        digits += '.';
        dot = true;
      } else {
        break;
      }
      ++j;
    }
    const bool glued_after = j < text.size() && is_word_char(text[j]);
    if (!glued_before && !glued_after) {
      double value = 0;
      auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
      if (ec == std::errc()) out.push_back({value, decimals, digits});
    }
    i = j;  // a glued run is skipped whole: "v2.5" yields neither 2.5 nor 5
  }
  return out;
}

int decimals_of(double value) {
  // The shortest text that reads back as `value` says how it was written.
  const std::string text = fmt::format("{}", std::abs(value));
  if (text.find('e') != std::string::npos) return 12;
  const auto dot = text.find('.');
  return dot == std::string::npos ? 0 : static_cast<int>(text.size() - dot - 1);
}

bool same_figure(double cited, int decimals, double source) {
  if (cited == source) return true;
  const double scale = std::pow(10.0, std::min(decimals, 12));
  if (std::round(source * scale) / scale == cited) return true;  // rounded when cited
  return std::abs(cited - source) <= 0.005 * std::max(std::abs(cited), std::abs(source));
}

class Sources {
 public:
  explicit Sources(const json::object& statistics) { collect(statistics); }

  bool has(double cited, int decimals) const {
    for (double v : values_) {
      if (same_figure(cited, decimals, v)) return true;
      // A fraction may be cited as a percentage: 0.921 as 92.1.
      if (std::abs(v) <= 1 && same_figure(cited, decimals, v * 100)) return true;
    }
    return false;
  }

 private:
  void collect(const json::value& v) {
    switch (v.kind()) {
      case json::kind::int64:
      case json::kind::uint64:
      case json::kind::double_:
        values_.push_back(v.to_number<double>());
        values_.push_back(std::abs(v.to_number<double>()));
        break;
      case json::kind::string:
        // Figures inside texts (pages, timestamps, messages) may be quoted too.
        for (const auto& n : numbers_in(view(v.get_string()))) values_.push_back(n.value);
        break;
      case json::kind::array:
        for (const auto& item : v.get_array()) collect(item);
        break;
      case json::kind::object:
        for (const auto& [key, item] : v.get_object()) collect(item);
        break;
      default:
        break;
    }
  }

  std::vector<double> values_;
};

Status check_figure(const Sources& sources, std::string_view where, double value) {
  if (sources.has(value, decimals_of(value))) return Status::ok();
  return invalid(fmt::format("{}: {} is not a figure of the statistics", where, value));
}

Status check_written(const Sources& sources, std::string_view where, std::string_view text) {
  for (const auto& n : numbers_in(text)) {
    if (n.decimals == 0 && n.value <= 10) continue;
    if (!sources.has(n.value, n.decimals)) {
      return invalid(fmt::format("{}: \"{}\" is not a figure of the statistics", where, n.text));
    }
  }
  return Status::ok();
}

}  // namespace

const json::object& insight_content_schema() {
  static const json::object schema = build_schema();
  return schema;
}

json::object to_json(const InsightContent& c) {
  json::array patterns;
  for (const auto& p : c.patterns) {
    json::array evidence;
    for (const auto& e : p.evidence)
      evidence.push_back(json::object{{"metric", e.metric}, {"value", e.value}});
    patterns.push_back(
        json::object{{"title", p.title}, {"detail", p.detail}, {"evidence", std::move(evidence)}});
  }
  json::array anomalies;
  for (const auto& a : c.anomalies) {
    anomalies.push_back(
        json::object{{"metric", a.metric},
                     {"observed", a.observed},
                     {"expected", {{"low", a.expected_low}, {"high", a.expected_high}}},
                     {"severity", a.severity},
                     {"detail", a.detail}});
  }
  json::array recommendations;
  for (const auto& r : c.recommendations) recommendations.push_back(json::string(r));
  return {{"summary", c.summary},
          {"confidence", c.confidence},
          {"patterns", std::move(patterns)},
          {"anomalies", std::move(anomalies)},
          {"recommendations", std::move(recommendations)}};
}

json::object to_json(const Insight& insight) {
  json::object o = to_json(insight.content);
  o["metrics"] = insight.metrics;
  o["analyzer"] = insight.analyzer;
  o["model"] = insight.model ? json::value(*insight.model) : json::value(nullptr);
  o["tokens"] =
      json::object{{"prompt", insight.tokens.prompt}, {"completion", insight.tokens.completion}};
  o["latency_ms"] = insight.latency_ms;
  return o;
}

Result<InsightContent> parse_insight_content(const json::value& value) {
  INSIGHTD_TRY(validate_against_schema(value, insight_content_schema()));
  // The schema guarantees every field below exists with its type.
  const json::object& o = value.get_object();
  InsightContent c;
  c.summary = get_string(o, "summary");
  if (c.summary.find_first_not_of(" \t\r\n") == std::string::npos) {
    return invalid("$.summary: empty");
  }
  INSIGHTD_TRY(check_text("$.summary", c.summary));
  c.confidence = get_number(o, "confidence");
  if (!(c.confidence >= 0 && c.confidence <= 1)) {
    return invalid(fmt::format("$.confidence: {} is outside 0..1", c.confidence));
  }
  const auto& patterns = o.at("patterns").get_array();
  if (patterns.size() > kMaxPatterns)
    return invalid(fmt::format("$.patterns: more than {}", kMaxPatterns));
  for (size_t i = 0; i < patterns.size(); ++i) {
    const auto& p = patterns[i].get_object();
    Pattern pattern{get_string(p, "title"), get_string(p, "detail"), {}};
    INSIGHTD_TRY(check_text(fmt::format("$.patterns[{}].title", i), pattern.title));
    INSIGHTD_TRY(check_text(fmt::format("$.patterns[{}].detail", i), pattern.detail));
    const auto& evidence = p.at("evidence").get_array();
    if (evidence.size() > kMaxEvidence) {
      return invalid(fmt::format("$.patterns[{}].evidence: more than {}", i, kMaxEvidence));
    }
    for (const auto& e : evidence) {
      const auto& eo = e.get_object();
      pattern.evidence.push_back({get_string(eo, "metric"), get_number(eo, "value")});
    }
    c.patterns.push_back(std::move(pattern));
  }
  const auto& anomalies = o.at("anomalies").get_array();
  if (anomalies.size() > kMaxAnomalies) {
    return invalid(fmt::format("$.anomalies: more than {}", kMaxAnomalies));
  }
  for (size_t i = 0; i < anomalies.size(); ++i) {
    const auto& a = anomalies[i].get_object();
    const auto& expected = a.at("expected").get_object();
    Anomaly anomaly{get_string(a, "metric"),     get_number(a, "observed"),
                    get_number(expected, "low"), get_number(expected, "high"),
                    get_string(a, "severity"),   get_string(a, "detail")};
    if (anomaly.expected_low > anomaly.expected_high) {
      return invalid(fmt::format("$.anomalies[{}].expected: low is above high", i));
    }
    INSIGHTD_TRY(check_text(fmt::format("$.anomalies[{}].detail", i), anomaly.detail));
    c.anomalies.push_back(std::move(anomaly));
  }
  const auto& recommendations = o.at("recommendations").get_array();
  if (recommendations.size() > kMaxRecommendations) {
    return invalid(fmt::format("$.recommendations: more than {}", kMaxRecommendations));
  }
  for (size_t i = 0; i < recommendations.size(); ++i) {
    std::string r(view(recommendations[i].get_string()));
    INSIGHTD_TRY(check_text(fmt::format("$.recommendations[{}]", i), r));
    c.recommendations.push_back(std::move(r));
  }
  return c;
}

Status check_grounded(const InsightContent& c, const json::object& statistics) {
  const Sources sources(statistics);
  INSIGHTD_TRY(check_written(sources, "summary", c.summary));
  for (size_t i = 0; i < c.patterns.size(); ++i) {
    const Pattern& p = c.patterns[i];
    INSIGHTD_TRY(check_written(sources, fmt::format("patterns[{}].title", i), p.title));
    INSIGHTD_TRY(check_written(sources, fmt::format("patterns[{}].detail", i), p.detail));
    for (size_t j = 0; j < p.evidence.size(); ++j) {
      INSIGHTD_TRY(check_figure(
          sources, fmt::format("patterns[{}].evidence[{}] ({})", i, j, p.evidence[j].metric),
          p.evidence[j].value));
    }
  }
  for (size_t i = 0; i < c.anomalies.size(); ++i) {
    const Anomaly& a = c.anomalies[i];
    const std::string where = fmt::format("anomalies[{}] ({})", i, a.metric);
    INSIGHTD_TRY(check_figure(sources, where + ".observed", a.observed));
    INSIGHTD_TRY(check_figure(sources, where + ".expected.low", a.expected_low));
    INSIGHTD_TRY(check_figure(sources, where + ".expected.high", a.expected_high));
    INSIGHTD_TRY(check_written(sources, where + ".detail", a.detail));
  }
  for (size_t i = 0; i < c.recommendations.size(); ++i) {
    INSIGHTD_TRY(
        check_written(sources, fmt::format("recommendations[{}]", i), c.recommendations[i]));
  }
  return Status::ok();
}

}  // namespace insightd::analysis
