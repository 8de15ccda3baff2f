// Metrics registry and Prometheus text rendering (exposition format 0.0.4).
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>

#include "wis2mon/error.hpp"
#include "wis2mon/metrics.hpp"

namespace wis2mon {

void MetricSeries::inc(double delta) noexcept {
  double cur = value_.load(std::memory_order_relaxed);
  while (!value_.compare_exchange_weak(cur, cur + delta, std::memory_order_relaxed)) {
  }
}

void MetricSeries::set(double value) noexcept {
  if (type_ == MetricType::gauge) value_.store(value, std::memory_order_relaxed);
}

MetricHistogram::MetricHistogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), buckets_(new std::atomic<std::uint64_t>[bounds_.size() + 1]) {
  for (std::size_t i = 0; i <= bounds_.size(); ++i) buckets_[i] = 0;
}

void MetricHistogram::observe(double value) noexcept {
  std::size_t i = 0;
  while (i < bounds_.size() && value > bounds_[i]) ++i;
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  double cur = sum_.load(std::memory_order_relaxed);
  while (!sum_.compare_exchange_weak(cur, cur + value, std::memory_order_relaxed)) {
  }
}

std::uint64_t MetricHistogram::cumulative(std::size_t i) const noexcept {
  std::uint64_t n = 0;
  for (std::size_t k = 0; k <= i && k <= bounds_.size(); ++k) n += buckets_[k].load(std::memory_order_relaxed);
  return n;
}

const std::vector<MetricInfo>& metric_catalog() {
  // WIS2 Global Monitor names (wis2-metric-hierarchy) first, then the library's own.
  static const std::vector<MetricInfo> kCatalog = {
      {"wmo_wis2_gb_messages_received_total", MetricType::counter, "Notifications received, per centre"},
      {"wmo_wis2_gb_messages_invalid_format_total", MetricType::counter,
       "Notifications that failed validation, per centre"},
      {"wmo_wis2_gb_messages_invalid_topic_total", MetricType::counter,
       "Notifications received on an invalid topic, per centre"},
      {"wmo_wis2_gb_messages_no_metadata_total", MetricType::counter,
       "Notifications without a metadata_id, per centre"},
      {"wmo_wis2_gb_last_message_timestamp_seconds", MetricType::gauge,
       "Unix time of the last notification, per centre"},
      {"wmo_wis2_gb_connected_flag", MetricType::gauge, "1 while connected to the broker, else 0"},
      {"wmo_wis2_gc_downloaded_total", MetricType::counter, "Data objects downloaded and verified"},
      {"wmo_wis2_gc_downloaded_errors_total", MetricType::counter, "Failed downloads"},
      {"wmo_wis2_gc_integrity_failed_total", MetricType::counter,
       "Objects whose digest did not match the notification"},
      {"wmo_wis2_gc_last_download_timestamp_seconds", MetricType::gauge, "Unix time of the last successful download"},
      // Named by issue #3 though not (yet) in the wis2-metric-hierarchy tables.
      {"wmo_wis2_gc_dataserver_status_flag", MetricType::gauge, "1 when the data server answered last time, else 0"},
      // The WIS2 Guide's 2.7.4.2 names it (a Global Cache pipeline sets it).
      {"wmo_wis2_gc_last_metadata_timestamp_seconds", MetricType::gauge,
       "Unix time of the last metadata resource cached, per centre"},
      // Sensor Centre for Global Brokers (WIS2 Guide 3.3.2; scgb.csv names the counter
      // messages_published_total, the Guide messages_received_total: both are kept).
      {"wmo_wis2_scgb_connected_flag", MetricType::gauge, "1 while connected to the Global Broker, else 0"},
      {"wmo_wis2_scgb_messages_received_total", MetricType::counter,
       "Messages received from the Global Broker, per subscription topic (WIS2 Guide 3.3.2.1)"},
      {"wmo_wis2_scgb_messages_published_total", MetricType::counter,
       "Messages the Global Broker published to us, per subscription topic (scgb.csv)"},
      {"wmo_wis2_scgb_last_message_timestamp_seconds", MetricType::gauge,
       "Unix time of the last message from the Global Broker, per subscription topic"},
      {"wis2mon_scgb_messages_union_total", MetricType::counter,
       "Distinct messages (by id) seen on any Global Broker, per origin centre"},
      {"wis2mon_scgb_messages_missing_total", MetricType::counter,
       "Messages a Global Broker did not deliver within the window while another did, per origin centre"},
      // Sensor Centre for Global Caches (WIS2 Guide 3.3.3; wis2-metric-hierarchy scgc.csv).
      {"wmo_wis2_scgc_messages_published_total", MetricType::counter,
       "Cacheable core data items published on origin, per centre"},
      {"wmo_wis2_scgc_messages_duplicates_total", MetricType::counter,
       "Origin notifications repeating a data_id within 3 hours without rel=update"},
      {"wmo_wis2_scgc_messages_cached_total", MetricType::counter, "Items a Global Cache republished, per centre"},
      {"wmo_wis2_scgc_messages_cached_delay_total", MetricType::counter,
       "Items a Global Cache republished within each delay threshold (cumulative)"},
      {"wmo_wis2_scgc_cache_delay_seconds", MetricType::gauge, "Delay origin to cache of the last item, per cache"},
      {"wmo_wis2_scgc_messages_missed_total", MetricType::counter,
       "Items a Global Cache did not republish within the highest threshold (or with a link that failed)"},
      {"wmo_wis2_scgc_messages_missed_all_total", MetricType::counter, "Items no Global Cache cached"},
      {"wmo_wis2_scgc_messages_cache_override_total", MetricType::counter,
       "Items a Global Cache republished with the origin's links (not cached)"},
      // Station availability (wis2-metric-hierarchy scobs.csv): counts per closed hour; the
      // percentages are of the latest closed hour (gauges, though the CSV's names end in _total).
      {"wmo_wis2_sobs_basecountbystation_total", MetricType::counter, "Expected number of observations from a station"},
      {"wmo_wis2_sobs_datacountbystation_total", MetricType::counter, "Number of observations from a station received"},
      {"wmo_wis2_sobs_percentagebystation_total", MetricType::gauge,
       "Percentage of expected and received per station (latest closed hour)"},
      {"wmo_wis2_sobs_basecountbycountry_total", MetricType::counter,
       "Expected number of observations aggregated by country"},
      {"wmo_wis2_sobs_datacountbycountry_total", MetricType::counter,
       "Number of observations received aggregated by country"},
      {"wmo_wis2_sobs_percentagebycountry_total", MetricType::gauge,
       "Percentage of expected and received per country (latest closed hour)"},
      {"wis2mon_centre_latency_seconds", MetricType::gauge,
       "Median latency of a centre's notifications in the latest closed hour, per stage (data_to_pubtime, "
       "pubtime_to_receipt)"},
      {"wis2mon_downloads_total", MetricType::counter, "Download attempts, per data server"},
      {"wis2mon_download_errors_total", MetricType::counter, "Failed download attempts, per data server and status"},
      {"wis2mon_download_bytes_total", MetricType::counter, "Verified bytes downloaded, per data server"},
      {"wis2mon_download_duration_seconds", MetricType::histogram, "Duration of download attempts, per data server"},
      {"wis2mon_messages_duplicate_total", MetricType::counter, "Notifications dropped as duplicates, per centre"},
      {"wis2mon_messages_valid_total", MetricType::counter, "Notifications that passed validation, per centre"},
      {"wis2mon_validation_rule_total", MetricType::counter, "Validation findings, per rule and severity"},
  };
  return kCatalog;
}

namespace {

bool valid_name(std::string_view n, bool label) {
  if (n.empty()) return false;
  for (std::size_t i = 0; i < n.size(); ++i) {
    const char c = n[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (!label && c == ':');
    if (!(alpha || (i > 0 && c >= '0' && c <= '9'))) return false;
  }
  return !(label && n.substr(0, 2) == "__");
}

void escape_label(std::string& out, std::string_view v) {
  for (char c : v) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
}

std::string series_key(const Labels& labels) {
  std::string key;
  for (const auto& [k, v] : labels) {
    if (!valid_name(k, true)) throw Error(ErrorCode::invalid_argument, "invalid metric label name '" + k + "'");
    if (!key.empty()) key += ',';
    key += k;
    key += "=\"";
    escape_label(key, v);
    key += '"';
  }
  return key;
}

void format_value(std::string& out, double v) {
  if (std::isnan(v))
    out += "NaN";
  else if (std::isinf(v))
    out += v > 0 ? "+Inf" : "-Inf";
  else {
    char buf[32];
    if (v == std::floor(v) && std::fabs(v) < 1e15) {
      std::snprintf(buf, sizeof buf, "%.0f", v);
    } else {
      // The shortest form that reads back as the same double ("0.005", not 0.0050000000000000001).
      std::snprintf(buf, sizeof buf, "%.15g", v);
      if (std::strtod(buf, nullptr) != v) std::snprintf(buf, sizeof buf, "%.17g", v);
    }
    out += buf;
  }
}

}  // namespace

struct MetricsRegistry::Impl {
  struct Family {
    MetricType type;
    std::string help;
    std::map<std::string, std::unique_ptr<MetricSeries>> series;  // by rendered label set
    std::map<std::string, std::unique_ptr<MetricHistogram>> histograms;
  };
  mutable std::mutex mutex;
  std::map<std::string, Family, std::less<>> families;
};

MetricsRegistry::MetricsRegistry() : impl_(std::make_unique<Impl>()) {}
MetricsRegistry::~MetricsRegistry() = default;

void MetricsRegistry::declare(std::string_view name, MetricType type, std::string_view help) {
  if (!valid_name(name, false))
    throw Error(ErrorCode::invalid_argument, "invalid metric name '" + std::string(name) + "'");
  std::lock_guard lock(impl_->mutex);
  auto it = impl_->families.find(name);
  if (it != impl_->families.end()) {
    if (it->second.type != type)
      throw Error(ErrorCode::invalid_argument, "metric '" + std::string(name) + "' was declared with another type");
    return;
  }
  impl_->families.emplace(std::string(name), Impl::Family{type, std::string(help), {}, {}});
}

namespace {
// The family for name, declaring catalogue names on first use; throws when undeclared or of
// another type. Called with the registry locked.
template <typename Families>
auto& family_of(Families& families, std::string_view name, MetricType type) {
  auto fam = families.find(name);
  if (fam == families.end()) {
    for (const auto& info : metric_catalog())
      if (info.name == name) {
        fam = families
                  .emplace(std::string(name), typename Families::mapped_type{info.type, std::string(info.help), {}, {}})
                  .first;
        break;
      }
    if (fam == families.end())
      throw Error(ErrorCode::invalid_argument, "metric '" + std::string(name) + "' is not declared");
  }
  if (fam->second.type != type)
    throw Error(ErrorCode::invalid_argument, "metric '" + std::string(name) + "' has another type");
  return fam->second;
}
}  // namespace

MetricHistogram& MetricsRegistry::histogram(std::string_view name, const Labels& labels) {
  const std::string key = series_key(labels);
  std::lock_guard lock(impl_->mutex);
  auto& fam = family_of(impl_->families, name, MetricType::histogram);
  auto& slot = fam.histograms[key];
  if (!slot) slot.reset(new MetricHistogram({0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}));
  return *slot;
}

MetricSeries& MetricsRegistry::series(std::string_view name, MetricType type, const Labels& labels) {
  const std::string key = series_key(labels);
  std::lock_guard lock(impl_->mutex);
  auto& slot = family_of(impl_->families, name, type).series[key];
  if (!slot) slot.reset(new MetricSeries(type, labels));
  return *slot;
}

MetricSeries& MetricsRegistry::counter(std::string_view name, const Labels& labels) {
  return series(name, MetricType::counter, labels);
}

MetricSeries& MetricsRegistry::gauge(std::string_view name, const Labels& labels) {
  return series(name, MetricType::gauge, labels);
}

double MetricsRegistry::value(std::string_view name, const Labels& labels) const {
  const std::string key = series_key(labels);
  std::lock_guard lock(impl_->mutex);
  auto fam = impl_->families.find(name);
  if (fam == impl_->families.end()) return 0;
  auto s = fam->second.series.find(key);
  return s == fam->second.series.end() ? 0 : s->second->value();
}

std::vector<std::pair<Labels, double>> MetricsRegistry::series_values(std::string_view name) const {
  std::vector<std::pair<Labels, double>> out;
  std::lock_guard lock(impl_->mutex);
  if (auto fam = impl_->families.find(name); fam != impl_->families.end())
    for (const auto& [key, s] : fam->second.series) out.emplace_back(s->labels_, s->value());
  return out;
}

std::string MetricsRegistry::render_prometheus() const {
  std::string out;
  std::lock_guard lock(impl_->mutex);
  for (const auto& [name, fam] : impl_->families) {
    if (fam.series.empty() && fam.histograms.empty()) continue;
    out += "# HELP " + name + " ";
    for (char c : fam.help) out += c == '\n' ? std::string("\\n") : c == '\\' ? std::string("\\\\") : std::string(1, c);
    out += "\n# TYPE " + name +
           (fam.type == MetricType::counter ? " counter\n"
            : fam.type == MetricType::gauge ? " gauge\n"
                                            : " histogram\n");
    for (const auto& [key, h] : fam.histograms) {
      const std::string sep = key.empty() ? "" : key + ",";
      for (std::size_t i = 0; i <= h->bounds().size(); ++i) {
        out += name + "_bucket{" + sep + "le=\"";
        if (i < h->bounds().size())
          format_value(out, h->bounds()[i]);
        else
          out += "+Inf";
        out += "\"} ";
        format_value(out, static_cast<double>(h->cumulative(i)));
        out += '\n';
      }
      out += name + "_sum" + (key.empty() ? "" : "{" + key + "}") + " ";
      format_value(out, h->sum());
      out += "\n" + name + "_count" + (key.empty() ? "" : "{" + key + "}") + " ";
      format_value(out, static_cast<double>(h->count()));
      out += '\n';
    }
    for (const auto& [key, s] : fam.series) {
      out += name;
      if (!key.empty()) out += "{" + key + "}";
      out += ' ';
      format_value(out, s->value());
      out += '\n';
    }
  }
  return out;
}

}  // namespace wis2mon
