// Metrics of insightd: counters, gauges and histograms with labels, rendered in
// the Prometheus text exposition format 0.0.4 for GET /metrics.
//
// Who pays what:
//  - Hot paths keep a reference to one labelled child (Counter&, Gauge&,
//    Histogram&) taken once at set-up. Updating it is one or two relaxed atomic
//    operations: no lock, no allocation.
//  - Family::with() finds or makes a child by its label values under the
//    family's lock and may allocate: call it at set-up, not per event.
//  - Values that live elsewhere (counts in the database, a queue's depth) are
//    read at scrape time by collectors, which write their families straight
//    into the exposition.
//
// Everything here is thread-safe. Metric and label names are checked when they
// are registered (a malformed name is a bug and asserts); label values may be
// any text and are escaped on the way out.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace insightd::obs {

enum class MetricType { kCounter, kGauge, kHistogram };
std::string_view to_string(MetricType type);  // "counter", "gauge", "histogram"

// A value that only goes up (requests served, events stored).
class Counter {
 public:
  void inc(uint64_t n = 1) noexcept { value_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t value() const noexcept { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

// A value that goes up and down (a queue's depth).
class Gauge {
 public:
  void set(double v) noexcept { value_.store(v, std::memory_order_relaxed); }
  void add(double d) noexcept { value_.fetch_add(d, std::memory_order_relaxed); }
  double value() const noexcept { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

// Observations counted into fixed buckets, with their sum and count. Bucket i
// holds observations v <= upper_bounds[i] (and above the bucket before it); a
// last, implicit bucket holds everything up to +Inf.
class Histogram {
 public:
  // `upper_bounds`: finite and strictly increasing (asserted); may be empty.
  explicit Histogram(std::span<const double> upper_bounds);

  // Records `n` observations of `v` at once (n events acknowledged by one
  // commit). NaN is ignored.
  void observe(double v, uint64_t n = 1) noexcept;

  struct Snapshot {
    std::vector<double> upper_bounds;  // without +Inf
    std::vector<uint64_t> cumulative;  // per bound, then +Inf last (== count)
    uint64_t count = 0;
    double sum = 0;
  };
  // The buckets read one by one while observations may go on: each bucket is
  // exact for some instant; count is derived from them, so `_count` always
  // equals the +Inf bucket.
  Snapshot snapshot() const;

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> counts_;  // per bucket (not cumulative), +Inf last
  std::atomic<double> sum_{0};
};

struct Label {
  std::string_view name;
  std::string_view value;
};

// Writes the text exposition format 0.0.4: each family's `# HELP` and `# TYPE`
// lines, then its samples. Used by the registry and by collectors.
class ExpositionWriter {
 public:
  // Starts a family. A family name may appear once per exposition (asserted).
  void family(std::string_view name, std::string_view help, MetricType type);
  // One sample of the current family, named its name plus `suffix`.
  void sample(std::span<const Label> labels, double value, std::string_view suffix = {});
  void sample(std::initializer_list<Label> labels, double value) {
    sample(std::span<const Label>(labels.begin(), labels.size()), value);
  }
  // A histogram child: its `_bucket` series (cumulative, `le` added to
  // `labels`, ending with +Inf), `_sum` and `_count`.
  void histogram(std::span<const Label> labels, const Histogram::Snapshot& snapshot);

  // Appends what another writer wrote (a cached part of an exposition).
  void append(const ExpositionWriter& part);

  const std::string& text() const { return out_; }
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
  std::string name_;  // of the current family
  std::set<std::string, std::less<>> seen_;
};

// How a number is spelled in the exposition: "3", "0.25", "1e-05", "+Inf",
// "-Inf", "NaN".
std::string format_value(double v);
// Label value escaping: backslash, double quote and newline.
std::string escape_label_value(std::string_view v);
// HELP text escaping: backslash and newline.
std::string escape_help(std::string_view v);
// [a-zA-Z_:][a-zA-Z0-9_:]*
bool valid_metric_name(std::string_view name);
// [a-zA-Z_][a-zA-Z0-9_]*, not starting with "__" (reserved).
bool valid_label_name(std::string_view name);

// What every family is, whatever its children.
class FamilyBase {
 public:
  virtual ~FamilyBase() = default;
  const std::string& name() const { return name_; }
  MetricType type() const { return type_; }
  const std::vector<std::string>& label_names() const { return label_names_; }
  virtual void write(ExpositionWriter& out) const = 0;

 protected:
  FamilyBase(std::string name, std::string help, MetricType type,
             std::vector<std::string> label_names);
  const std::string& help() const { return help_; }

 private:
  std::string name_;
  std::string help_;
  MetricType type_;
  std::vector<std::string> label_names_;
};

// One metric name and its children, one per set of label values.
template <typename Metric>
class Family final : public FamilyBase {
 public:
  using Make = std::function<std::unique_ptr<Metric>()>;

  Family(std::string name, std::string help, MetricType type, std::vector<std::string> label_names,
         Make make)
      : FamilyBase(std::move(name), std::move(help), type, std::move(label_names)),
        make_(std::move(make)) {}

  // The child with these label values (as many as the family has label names,
  // in their order), made on first use. The reference stays valid as long as
  // the family: keep it for the hot path.
  Metric& with(std::span<const std::string_view> values);
  Metric& with(std::initializer_list<std::string_view> values) {
    return with(std::span<const std::string_view>(values.begin(), values.size()));
  }

  void write(ExpositionWriter& out) const override;

 private:
  Make make_;
  mutable std::mutex mu_;
  std::map<std::vector<std::string>, std::unique_ptr<Metric>> children_;  // sorted: stable output
};

extern template class Family<Counter>;
extern template class Family<Gauge>;
extern template class Family<Histogram>;

// Every metric of one process, and how to render them.
class Registry {
 public:
  // Collectors write whole families of their own at scrape time (see
  // ExpositionWriter). They run on the scraping thread, one after another, in
  // the order they were added, after the registered families; they may block
  // (a database query) but should be quick.
  using Collector = std::function<void(ExpositionWriter&)>;

  // Registers a family, or returns the one already registered under `name` when
  // its type and label names (and buckets) are the same; anything else under a
  // taken name is a bug. Families live as long as the registry.
  Family<Counter>& counter(std::string_view name, std::string_view help,
                           std::vector<std::string> label_names = {});
  Family<Gauge>& gauge(std::string_view name, std::string_view help,
                       std::vector<std::string> label_names = {});
  Family<Histogram>& histogram(std::string_view name, std::string_view help,
                               std::vector<std::string> label_names,
                               std::vector<double> upper_bounds);

  void add_collector(Collector collector);
  // A label-less gauge whose value `read` returns at scrape time.
  void add_gauge_callback(std::string_view name, std::string_view help,
                          std::function<double()> read);

  // The exposition: registered families in registration order, then the
  // collectors' families.
  std::string render() const;

 private:
  FamilyBase* find(std::string_view name, MetricType type,
                   const std::vector<std::string>& label_names,
                   const std::vector<double>& upper_bounds);

  mutable std::mutex mu_;
  std::vector<std::unique_ptr<FamilyBase>> families_;
  std::map<std::string, std::vector<double>, std::less<>> buckets_;  // of histogram families
  std::vector<std::shared_ptr<const Collector>> collectors_;
};

// The Content-Type of the text format.
inline constexpr std::string_view kExpositionContentType =
    "text/plain; version=0.0.4; charset=utf-8";

}  // namespace insightd::obs
