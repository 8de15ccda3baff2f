// Metrics: counters and gauges with labels, rendered as Prometheus text. Names follow the
// WIS2 Global Monitor metric hierarchy where one exists (wmo_wis2_gb_*, wmo_wis2_gc_*);
// the library's own metrics use the wis2mon_ prefix.
//
//   MetricsRegistry m;
//   m.counter("wmo_wis2_gb_messages_received_total", {{"centre_id", "de-dwd"}}).inc();
//   std::string text = m.render_prometheus();
//
// Thread safety: every member may be called from any thread; series updates are lock-free.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "wis2mon/export.hpp"

namespace wis2mon {

enum class MetricType { counter, gauge, histogram };

using Labels = std::vector<std::pair<std::string, std::string>>;

/// One labelled time series. Obtain it once, keep the reference, update it often.
class WIS2MON_API MetricSeries {
 public:
  void inc(double delta = 1) noexcept;
  /// Gauges only (a counter ignores set()).
  void set(double value) noexcept;
  double value() const noexcept { return value_.load(std::memory_order_relaxed); }

 private:
  friend class MetricsRegistry;
  MetricSeries(MetricType type, Labels labels) : type_(type), labels_(std::move(labels)) {}
  MetricType type_;
  Labels labels_;
  std::atomic<double> value_{0};
};

/// A labelled histogram: observations counted into cumulative buckets (Prometheus style).
class WIS2MON_API MetricHistogram {
 public:
  void observe(double value) noexcept;
  std::uint64_t count() const noexcept { return count_.load(std::memory_order_relaxed); }
  double sum() const noexcept { return sum_.load(std::memory_order_relaxed); }
  const std::vector<double>& bounds() const noexcept { return bounds_; }
  /// Observations <= bounds()[i] (cumulative, as exposed).
  std::uint64_t cumulative(std::size_t i) const noexcept;

 private:
  friend class MetricsRegistry;
  explicit MetricHistogram(std::vector<double> bounds);
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> buckets_;  // per bucket (not cumulative)
  std::atomic<std::uint64_t> count_{0};
  std::atomic<double> sum_{0};
};

/// A metric name the library knows, with its type and help text.
struct MetricInfo {
  std::string_view name;
  MetricType type;
  std::string_view help;
};

/// The metric names the library emits (WIS2 Global Monitor names and wis2mon_* ones).
WIS2MON_API const std::vector<MetricInfo>& metric_catalog();

class WIS2MON_API MetricsRegistry {
 public:
  MetricsRegistry();
  ~MetricsRegistry();
  MetricsRegistry(const MetricsRegistry&) = delete;
  MetricsRegistry& operator=(const MetricsRegistry&) = delete;

  /// Declares a family. Names in metric_catalog() are declared on first use; others must be
  /// declared first. Throws Error(invalid_argument) for invalid names or a type clash.
  void declare(std::string_view name, MetricType type, std::string_view help);

  /// The series for name + labels (created at 0). Label names must be valid Prometheus
  /// label names. References stay valid for the registry's lifetime.
  MetricSeries& counter(std::string_view name, const Labels& labels = {});
  MetricSeries& gauge(std::string_view name, const Labels& labels = {});
  /// Latency buckets in seconds (5 ms to 60 s) unless the family was declared with others.
  MetricHistogram& histogram(std::string_view name, const Labels& labels = {});

  /// Current value, or 0 when the series does not exist.
  double value(std::string_view name, const Labels& labels = {}) const;
  /// Every series of a counter or gauge with its labels and current value (none: empty).
  std::vector<std::pair<Labels, double>> series_values(std::string_view name) const;

  /// Prometheus text exposition format 0.0.4, families and series sorted by name.
  std::string render_prometheus() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  MetricSeries& series(std::string_view name, MetricType type, const Labels& labels);
};

}  // namespace wis2mon
