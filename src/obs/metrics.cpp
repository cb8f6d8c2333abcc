#include "obs/metrics.h"

#include <fmt/format.h>

#include <algorithm>
#include <cassert>
#include <cmath>
#include <type_traits>

namespace insightd::obs {

std::string_view to_string(MetricType type) {
  switch (type) {
    case MetricType::kCounter:
      return "counter";
    case MetricType::kGauge:
      return "gauge";
    case MetricType::kHistogram:
      return "histogram";
  }
  return "untyped";
}

// ---------------------------------------------------------------------------

Histogram::Histogram(std::span<const double> upper_bounds)
    : bounds_(upper_bounds.begin(), upper_bounds.end()),
      counts_(std::make_unique<std::atomic<uint64_t>[]>(upper_bounds.size() + 1)) {
  for (size_t i = 0; i < bounds_.size(); ++i) {
    assert(std::isfinite(bounds_[i]) && "histogram bounds are finite (+Inf is implicit)");
    assert((i == 0 || bounds_[i - 1] < bounds_[i]) && "histogram bounds strictly increase");
  }
}

void Histogram::observe(double v, uint64_t n) noexcept {
  if (std::isnan(v) || n == 0) return;
  // The first bound >= v: buckets are "less than or equal".
  const auto i =
      static_cast<size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin());
  counts_[i].fetch_add(n, std::memory_order_relaxed);
  sum_.fetch_add(v * static_cast<double>(n), std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::snapshot() const {
  Snapshot s;
  s.upper_bounds = bounds_;
  s.cumulative.reserve(bounds_.size() + 1);
  uint64_t running = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    running += counts_[i].load(std::memory_order_relaxed);
    s.cumulative.push_back(running);
  }
  s.count = running;
  s.sum = sum_.load(std::memory_order_relaxed);
  return s;
}

// ---------------------------------------------------------------------------

std::string format_value(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  // Shortest text that reads back as the same double; Prometheus parses it
  // with Go's ParseFloat ("3", "0.25", "1e-05").
  return fmt::format("{}", v);
}

std::string escape_label_value(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '"':
        out += "\\\"";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string escape_help(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

namespace {

bool is_alpha_(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

}  // namespace

bool valid_metric_name(std::string_view name) {
  if (name.empty() || !(is_alpha_(name[0]) || name[0] == ':')) return false;
  return std::all_of(name.begin(), name.end(),
                     [](char c) { return is_alpha_(c) || is_digit(c) || c == ':'; });
}

bool valid_label_name(std::string_view name) {
  if (name.empty() || !is_alpha_(name[0]) || name.starts_with("__")) return false;
  return std::all_of(name.begin(), name.end(), [](char c) { return is_alpha_(c) || is_digit(c); });
}

void ExpositionWriter::family(std::string_view name, std::string_view help, MetricType type) {
  assert(valid_metric_name(name) && "metric names are [a-zA-Z_:][a-zA-Z0-9_:]*");
  [[maybe_unused]] const bool fresh = seen_.emplace(name).second;
  assert(fresh && "a metric family appears once per exposition");
  name_ = name;
  fmt::format_to(std::back_inserter(out_), "# HELP {} {}\n# TYPE {} {}\n", name, escape_help(help),
                 name, to_string(type));
}

void ExpositionWriter::append(const ExpositionWriter& part) {
  for (const auto& name : part.seen_) {
    [[maybe_unused]] const bool fresh = seen_.emplace(name).second;
    assert(fresh && "a metric family appears once per exposition");
  }
  out_ += part.out_;
  name_.clear();  // samples need a family() of their own after this
}

void ExpositionWriter::sample(std::span<const Label> labels, double value,
                              std::string_view suffix) {
  assert(!name_.empty() && "family() comes before its samples");
  out_ += name_;
  out_ += suffix;
  if (!labels.empty()) {
    out_ += '{';
    for (size_t i = 0; i < labels.size(); ++i) {
      assert(valid_label_name(labels[i].name) || labels[i].name == "le");
      if (i > 0) out_ += ',';
      out_ += labels[i].name;
      out_ += "=\"";
      out_ += escape_label_value(labels[i].value);
      out_ += '"';
    }
    out_ += '}';
  }
  out_ += ' ';
  out_ += format_value(value);
  out_ += '\n';
}

void ExpositionWriter::histogram(std::span<const Label> labels,
                                 const Histogram::Snapshot& snapshot) {
  std::vector<Label> with_le(labels.begin(), labels.end());
  with_le.push_back({"le", ""});
  for (size_t i = 0; i < snapshot.cumulative.size(); ++i) {
    const std::string le = i < snapshot.upper_bounds.size() ? format_value(snapshot.upper_bounds[i])
                                                            : std::string("+Inf");
    with_le.back().value = le;
    sample(with_le, static_cast<double>(snapshot.cumulative[i]), "_bucket");
  }
  sample(labels, snapshot.sum, "_sum");
  sample(labels, static_cast<double>(snapshot.count), "_count");
}

// ---------------------------------------------------------------------------

FamilyBase::FamilyBase(std::string name, std::string help, MetricType type,
                       std::vector<std::string> label_names)
    : name_(std::move(name)),
      help_(std::move(help)),
      type_(type),
      label_names_(std::move(label_names)) {
  assert(valid_metric_name(name_) && "metric names are [a-zA-Z_:][a-zA-Z0-9_:]*");
  for ([[maybe_unused]] const std::string& l : label_names_) {
    assert(valid_label_name(l) && "label names are [a-zA-Z_][a-zA-Z0-9_]*, not __*");
    assert((type_ != MetricType::kHistogram || l != "le") && "`le` is the histogram's own label");
  }
}

template <typename Metric>
Metric& Family<Metric>::with(std::span<const std::string_view> values) {
  assert(values.size() == label_names().size() && "one value per label name");
  std::vector<std::string> key(values.begin(), values.end());
  std::lock_guard lock(mu_);
  auto it = children_.find(key);
  if (it == children_.end()) it = children_.emplace(std::move(key), make_()).first;
  return *it->second;
}

template <typename Metric>
void Family<Metric>::write(ExpositionWriter& out) const {
  out.family(name(), help(), type());
  std::vector<Label> labels(label_names().size());
  for (size_t i = 0; i < labels.size(); ++i) labels[i].name = label_names()[i];
  std::lock_guard lock(mu_);
  for (const auto& [values, child] : children_) {
    for (size_t i = 0; i < labels.size(); ++i) labels[i].value = values[i];
    if constexpr (std::is_same_v<Metric, Histogram>) {
      out.histogram(labels, child->snapshot());
    } else {
      out.sample(labels, static_cast<double>(child->value()));
    }
  }
}

template class Family<Counter>;
template class Family<Gauge>;
template class Family<Histogram>;

// ---------------------------------------------------------------------------

FamilyBase* Registry::find(std::string_view name, MetricType type,
                           const std::vector<std::string>& label_names,
                           const std::vector<double>& upper_bounds) {
  for (const auto& f : families_) {
    if (f->name() != name) continue;
    [[maybe_unused]] const bool same =
        f->type() == type && f->label_names() == label_names &&
        (type != MetricType::kHistogram || buckets_.find(name)->second == upper_bounds);
    assert(same && "a metric name is registered again with another type, labels or buckets");
    return f.get();
  }
  return nullptr;
}

Family<Counter>& Registry::counter(std::string_view name, std::string_view help,
                                   std::vector<std::string> label_names) {
  std::lock_guard lock(mu_);
  if (FamilyBase* f = find(name, MetricType::kCounter, label_names, {})) {
    return static_cast<Family<Counter>&>(*f);
  }
  auto family = std::make_unique<Family<Counter>>(std::string(name), std::string(help),
                                                  MetricType::kCounter, std::move(label_names),
                                                  [] { return std::make_unique<Counter>(); });
  auto& ref = *family;
  families_.push_back(std::move(family));
  return ref;
}

Family<Gauge>& Registry::gauge(std::string_view name, std::string_view help,
                               std::vector<std::string> label_names) {
  std::lock_guard lock(mu_);
  if (FamilyBase* f = find(name, MetricType::kGauge, label_names, {})) {
    return static_cast<Family<Gauge>&>(*f);
  }
  auto family = std::make_unique<Family<Gauge>>(std::string(name), std::string(help),
                                                MetricType::kGauge, std::move(label_names),
                                                [] { return std::make_unique<Gauge>(); });
  auto& ref = *family;
  families_.push_back(std::move(family));
  return ref;
}

Family<Histogram>& Registry::histogram(std::string_view name, std::string_view help,
                                       std::vector<std::string> label_names,
                                       std::vector<double> upper_bounds) {
  std::lock_guard lock(mu_);
  if (FamilyBase* f = find(name, MetricType::kHistogram, label_names, upper_bounds)) {
    return static_cast<Family<Histogram>&>(*f);
  }
  buckets_.emplace(std::string(name), upper_bounds);
  auto family = std::make_unique<Family<Histogram>>(
      std::string(name), std::string(help), MetricType::kHistogram, std::move(label_names),
      [bounds = std::move(upper_bounds)] { return std::make_unique<Histogram>(bounds); });
  auto& ref = *family;
  families_.push_back(std::move(family));
  return ref;
}

void Registry::add_collector(Collector collector) {
  std::lock_guard lock(mu_);
  collectors_.push_back(std::make_shared<const Collector>(std::move(collector)));
}

void Registry::add_gauge_callback(std::string_view name, std::string_view help,
                                  std::function<double()> read) {
  add_collector([name = std::string(name), help = std::string(help),
                 read = std::move(read)](ExpositionWriter& out) {
    out.family(name, help, MetricType::kGauge);
    out.sample({}, read());
  });
}

std::string Registry::render() const {
  // Families are never removed, so their pointers outlive the lock; collectors
  // are shared so that one added meanwhile does not disturb this render.
  std::vector<const FamilyBase*> families;
  std::vector<std::shared_ptr<const Collector>> collectors;
  {
    std::lock_guard lock(mu_);
    families.reserve(families_.size());
    for (const auto& f : families_) families.push_back(f.get());
    collectors = collectors_;
  }
  ExpositionWriter out;
  for (const FamilyBase* f : families) f->write(out);
  for (const auto& c : collectors) (*c)(out);
  return out.take();
}

}  // namespace insightd::obs
