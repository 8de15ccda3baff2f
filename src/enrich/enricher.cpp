// Enricher: an in-memory lookup table keyed by text, and the step that adds its columns to
// records. See wis2mon/enrich.hpp.
#include "wis2mon/enrich.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <map>
#include <mutex>
#include <unordered_map>

#include "common/compat.hpp"
#include "common/csv.hpp"
#include "common/file.hpp"
#include "common/sqlite.hpp"
#include "wis2mon/error.hpp"

namespace wis2mon {

namespace {

// The text a key value is matched by; empty when the value cannot be a key.
std::string key_text(const FieldValue& v) {
  switch (type_of(v)) {
    case FieldType::string:
      return std::get<std::string>(v);
    case FieldType::integer:
      return std::to_string(std::get<std::int64_t>(v));
    default:
      return {};
  }
}

bool is_canonical_integer(const std::string& s, std::int64_t& out) {
  const char* b = s.data();
  const char* e = b + s.size();
  const char* digits = (b != e && *b == '-') ? b + 1 : b;
  if (digits == e || (*digits == '0' && e - digits > 1)) return false;  // "06260" is an identifier
  const auto r = std::from_chars(b, e, out);
  return r.ec == std::errc() && r.ptr == e;
}

bool is_number(const std::string& s, double& out) {
  const auto digits = s.find_first_not_of('-');
  if (digits == std::string::npos) return false;
  if (s[digits] == '0' && digits + 1 < s.size() && s[digits + 1] >= '0' && s[digits + 1] <= '9') return false;
  const auto r = detail::double_from_chars(s.data(), s.data() + s.size(), out);
  // from_chars takes "inf" and "nan"; a station table means text by those.
  return r.ec == std::errc() && r.ptr == s.data() + s.size() && s.find_first_of("iInN") == std::string::npos;
}

// CSV cells to typed values, one type per column (see from_csv).
std::vector<std::vector<FieldValue>> typed_columns(const std::vector<detail::CsvRow>& rows, std::size_t width) {
  std::vector<std::vector<FieldValue>> out(rows.size() - 1, std::vector<FieldValue>(width));
  for (std::size_t c = 0; c < width; ++c) {
    bool integer = true, real = true, any = false;
    std::int64_t i = 0;
    double d = 0;
    for (std::size_t r = 1; r < rows.size(); ++r) {
      const auto& cell = rows[r][c];
      if (cell.empty()) continue;
      any = true;
      integer = integer && is_canonical_integer(cell, i);
      real = real && is_number(cell, d);
    }
    for (std::size_t r = 1; r < rows.size(); ++r) {
      const auto& cell = rows[r][c];
      auto& v = out[r - 1][c];
      if (cell.empty()) continue;  // null
      if (any && integer && is_canonical_integer(cell, i))
        v = i;
      else if (any && real && is_number(cell, d))
        v = d;
      else
        v = cell;
    }
  }
  return out;
}

}  // namespace

struct Enricher::Impl {
  EnrichOptions options;
  std::vector<std::string> added;                                 // field names added, prefix included
  std::unordered_map<std::string, std::vector<FieldValue>> rows;  // key -> values of `added`
  mutable std::atomic<std::uint64_t> hits{0}, misses{0}, no_key{0};

  // Shared input schema -> the extended schema its records move to, and where each added
  // field lands in it.
  struct Plan {
    std::weak_ptr<const RecordSchema> source;
    RecordSchemaPtr extended;
    std::vector<std::size_t> target;
  };
  mutable std::mutex plans_mutex;
  mutable std::map<const RecordSchema*, std::shared_ptr<const Plan>> plans;

  // Shared, not copied, per record: the cache may be cleared by another thread meanwhile.
  std::shared_ptr<const Plan> plan_for(const RecordSchemaPtr& schema) const {
    std::lock_guard lock(plans_mutex);
    auto it = plans.find(schema.get());
    if (it != plans.end() && it->second->source.lock() == schema) return it->second;
    if (plans.size() > 64) plans.clear();  // schemas come and go; keep the cache small
    auto made = std::make_shared<Plan>();
    auto& p = *made;
    p.source = schema;
    auto names = schema->names();
    for (const auto& name : added) {
      const auto at = std::find(names.begin(), names.end(), name);
      p.target.push_back(static_cast<std::size_t>(at - names.begin()));
      if (at == names.end()) names.push_back(name);
    }
    p.extended = std::make_shared<const RecordSchema>(schema->table(), std::move(names), schema->hints());
    plans[schema.get()] = made;
    return made;
  }

  bool wanted(const FieldValue* current) const {
    return options.overwrite || !current || type_of(*current) == FieldType::null;
  }
};

Enricher::Enricher(std::vector<std::string> columns, std::vector<std::vector<FieldValue>> rows, EnrichOptions options)
    : impl_(std::make_unique<Impl>()) {
  auto& o = options;
  const auto bad = [](const std::string& why) { throw Error(ErrorCode::invalid_argument, "enrichment: " + why); };
  if (o.key_field.empty()) bad("key_field is required");
  if (o.lookup_key.empty()) o.lookup_key = o.key_field;
  const auto index = [&](const std::string& name) {
    const auto it = std::find(columns.begin(), columns.end(), name);
    if (it == columns.end()) bad("the lookup table has no column '" + name + "'");
    return static_cast<std::size_t>(it - columns.begin());
  };
  const auto key = index(o.lookup_key);
  std::vector<std::size_t> picked;
  if (o.columns.empty()) {
    for (std::size_t i = 0; i < columns.size(); ++i)
      if (i != key) picked.push_back(i);
  } else {
    for (const auto& c : o.columns) picked.push_back(index(c));
  }
  for (auto i : picked) impl_->added.push_back(o.prefix + columns[i]);
  for (auto& row : rows) {
    if (row.size() != columns.size())
      bad("a row has " + std::to_string(row.size()) + " values for " + std::to_string(columns.size()) + " columns");
    auto k = key_text(row[key]);
    if (k.empty()) continue;  // no key: cannot be looked up
    std::vector<FieldValue> values;
    values.reserve(picked.size());
    for (auto i : picked) values.push_back(std::move(row[i]));
    impl_->rows[std::move(k)] = std::move(values);
  }
  impl_->options = std::move(options);
}

Enricher::~Enricher() = default;
Enricher::Enricher(Enricher&&) noexcept = default;
Enricher& Enricher::operator=(Enricher&&) noexcept = default;

Enricher Enricher::from_csv(const std::filesystem::path& file, EnrichOptions options) {
  const std::string text = detail::read_file(file);  // Error(io) names the file
  auto rows = detail::parse_csv(text);
  if (rows.empty()) throw Error(ErrorCode::parse, "enrichment: " + file.string() + " has no header row");
  // A row of the wrong width would put values under the wrong names.
  const auto width = rows[0].size();
  for (std::size_t r = 1; r < rows.size(); ++r)
    if (rows[r].size() != width)
      throw Error(ErrorCode::parse, "enrichment: " + file.string() + " row " + std::to_string(r + 1) + " has " +
                                        std::to_string(rows[r].size()) + " fields, the header " +
                                        std::to_string(width));
  auto values = typed_columns(rows, width);
  return Enricher(std::move(rows[0]), std::move(values), std::move(options));
}

Enricher Enricher::from_sqlite(const std::filesystem::path& database, const std::string& table, EnrichOptions options) {
  if (!detail::is_sql_identifier(table))
    throw Error(ErrorCode::invalid_argument, "enrichment: '" + table + "' is not a table name");
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(database.c_str(), &db, SQLITE_OPEN_READONLY, nullptr);
  std::unique_ptr<sqlite3, int (*)(sqlite3*)> guard(db, sqlite3_close);
  if (rc != SQLITE_OK) detail::throw_sqlite(db, rc, "opening " + database.string());
  detail::SqliteStatement select(db, "SELECT * FROM \"" + table + "\"");
  std::vector<std::string> columns;
  const int n = sqlite3_column_count(select.handle());
  for (int i = 0; i < n; ++i) columns.emplace_back(sqlite3_column_name(select.handle(), i));
  std::vector<std::vector<FieldValue>> rows;
  while (select.step()) {
    auto& row = rows.emplace_back(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) {
      auto& v = row[static_cast<std::size_t>(i)];
      switch (sqlite3_column_type(select.handle(), i)) {
        case SQLITE_INTEGER:
          v = static_cast<std::int64_t>(select.column_int64(i));
          break;
        case SQLITE_FLOAT:
          v = sqlite3_column_double(select.handle(), i);
          break;
        case SQLITE_TEXT:
          v = select.column_text(i);
          break;
        default:  // NULL; a BLOB has no record type
          break;
      }
    }
  }
  return Enricher(std::move(columns), std::move(rows), std::move(options));
}

bool Enricher::apply(Record& record) const {
  const auto& o = impl_->options;
  if (!o.tables.empty() && std::find(o.tables.begin(), o.tables.end(), record.table()) == o.tables.end()) return false;
  const FieldValue* key = record.get(o.key_field);
  const auto k = key ? key_text(*key) : std::string();
  if (k.empty()) {
    ++impl_->no_key;
    return false;
  }
  const auto it = impl_->rows.find(k);
  if (it == impl_->rows.end()) {
    ++impl_->misses;
    return false;
  }
  ++impl_->hits;
  const auto& found = it->second;
  if (record.schema().use_count() == 1) {  // the record's own schema: extend it in place
    for (std::size_t j = 0; j < found.size(); ++j)
      if (impl_->wanted(record.get(impl_->added[j]))) record.set(impl_->added[j], found[j]);
    return true;
  }
  const auto plan = impl_->plan_for(record.schema());
  Record out(plan->extended);
  for (std::size_t i = 0; i < record.size(); ++i) out.value(i) = std::move(record.value(i));
  for (std::size_t j = 0; j < found.size(); ++j) {
    auto& slot = out.value(plan->target[j]);
    if (impl_->wanted(&slot)) slot = found[j];
  }
  record = std::move(out);
  return true;
}

std::size_t Enricher::apply(std::vector<Record>& batch) const {
  std::size_t hits = 0;
  for (auto& r : batch) hits += apply(r) ? 1 : 0;
  return hits;
}

const std::vector<std::string>& Enricher::added_fields() const noexcept {
  return impl_->added;
}
std::size_t Enricher::size() const noexcept {
  return impl_->rows.size();
}

EnrichStats Enricher::stats() const noexcept {
  return {impl_->hits.load(), impl_->misses.load(), impl_->no_key.load()};
}

const ConfigBinding<EnrichSettings>& enrich_config() {
  static const auto b =
      ConfigBinding<EnrichSettings>("enrich")
          .add("source", &EnrichSettings::source, "lookup table: a .csv file, or a SQLite database (with 'table')",
               {{}, {}, true})
          .add("table", &EnrichSettings::table, "table of the SQLite database")
          .add("key", &EnrichSettings::options, &EnrichOptions::key_field, "record field looked up")
          .add("lookup_key", &EnrichSettings::options, &EnrichOptions::lookup_key,
               "key column of the lookup table (empty: same as key)")
          .add("columns", &EnrichSettings::options, &EnrichOptions::columns, "columns to add (empty: all but the key)")
          .add("prefix", &EnrichSettings::options, &EnrichOptions::prefix, "put before each added field name")
          .add("tables", &EnrichSettings::options, &EnrichOptions::tables,
               "record tables to enrich (empty: every record with the key)")
          .add("overwrite", &EnrichSettings::options, &EnrichOptions::overwrite,
               "replace fields the record already has");
  return b;
}

const ConfigTable& enrich_config_table() {
  return enrich_config().table();
}

Enricher make_enricher(const EnrichSettings& s) {
  if (!s.table.empty()) return Enricher::from_sqlite(s.source, s.table, s.options);
  if (s.source.extension() != ".csv")
    throw Error(ErrorCode::invalid_argument,
                "enrichment: source " + s.source.string() + " is not a .csv file; for a SQLite database set 'table'");
  return Enricher::from_csv(s.source, s.options);
}

Enricher make_enricher(const ConfigValues& c) {
  EnrichSettings s;
  enrich_config().apply(c, s);
  return make_enricher(s);
}

}  // namespace wis2mon
