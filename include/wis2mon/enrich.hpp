// Enrichment: the step before the sinks that adds looked-up columns to records, e.g. station
// metadata (name, territory, elevation) by wigos_station_identifier from a CSV file or a
// SQLite table. The added columns are ordinary fields; name them as tags in an InfluxDB table
// spec to write them as tags. A record whose key has no entry is counted as a miss and passes
// on unchanged: a miss is never an error.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "wis2mon/config.hpp"
#include "wis2mon/export.hpp"
#include "wis2mon/record.hpp"

namespace wis2mon {

struct EnrichOptions {
  std::string key_field;             ///< the record field looked up (required)
  std::string lookup_key;            ///< the lookup table's key column; empty: same as key_field
  std::vector<std::string> columns;  ///< lookup columns to add; empty: all but the key
  std::string prefix;                ///< put before each added field name, e.g. "station_"
  std::vector<std::string> tables;   ///< record tables to enrich; empty: every record with the key
  bool overwrite = false;            ///< replace a non-null field the record already has
};

struct EnrichStats {
  std::uint64_t hits = 0;    ///< records that got columns added
  std::uint64_t misses = 0;  ///< records whose key is not in the lookup table
  std::uint64_t no_key = 0;  ///< records of an enriched table without a (non-null) key
};

/// A loaded lookup table and what to add from it. apply() may be called from several threads.
class WIS2MON_API Enricher {
 public:
  /// From a CSV file with a header row (RFC 4180). Each column gets one type: integer when
  /// every non-empty cell is an integer, else real when every one is a number, else text; a
  /// number with a leading zero ("06260") makes its column text. Empty cells are null. Throws
  /// Error on a missing file, a ragged row or a key/column not in the header.
  static Enricher from_csv(const std::filesystem::path& file, EnrichOptions options);
  /// From a table of a SQLite database (opened read-only); values keep their SQLite types.
  static Enricher from_sqlite(const std::filesystem::path& database, const std::string& table, EnrichOptions options);
  /// From rows in memory: column names, then one value per column per row.
  Enricher(std::vector<std::string> columns, std::vector<std::vector<FieldValue>> rows, EnrichOptions options);
  ~Enricher();
  Enricher(Enricher&&) noexcept;
  Enricher& operator=(Enricher&&) noexcept;

  /// Adds the looked-up columns to one record; true on a hit. Records of a shared schema
  /// (decoder output) move to one extended shared schema, not a copy per record.
  bool apply(Record& record) const;
  /// apply() for each record of a batch; returns the hits.
  std::size_t apply(std::vector<Record>& batch) const;

  /// The names the added fields get (prefix included), in order.
  const std::vector<std::string>& added_fields() const noexcept;
  /// Entries in the lookup table (a key seen twice keeps its last row).
  std::size_t size() const noexcept;
  EnrichStats stats() const noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// Configuration keys of an enrichment step: source, table, key, lookup_key, columns, prefix,
/// tables, overwrite.
WIS2MON_API const ConfigTable& enrich_config_table();

/// What a pipeline's `enrich` section configures: the lookup table's source and the options.
struct EnrichSettings {
  std::filesystem::path source;           ///< a .csv file, or a SQLite database (with `table`)
  std::string table;                      ///< table of the SQLite database
  EnrichOptions options = station_key();  ///< key_field: wigos_station_identifier

  static EnrichOptions station_key() {
    EnrichOptions o;
    o.key_field = "wigos_station_identifier";
    return o;
  }
};
/// The `enrich` keys bound to EnrichSettings (enrich_config_table() is its table).
WIS2MON_API const ConfigBinding<EnrichSettings>& enrich_config();
/// Loads the lookup table the settings name.
WIS2MON_API Enricher make_enricher(const EnrichSettings& settings);
/// Loads the lookup table named by validated configuration (a .csv file, or a SQLite database
/// with "table").
WIS2MON_API Enricher make_enricher(const ConfigValues& config);

}  // namespace wis2mon
