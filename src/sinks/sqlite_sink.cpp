// SqliteSink: tables from record schemas, one transaction per batch, upserts by key,
// retention in small steps on its own connection.
#include "wis2mon/decoder.hpp"
#include "wis2mon/sinks/sqlite.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <condition_variable>
#include <mutex>
#include <set>
#include <thread>
#include <unordered_map>

#include "common/sqlite.hpp"
#include "common/time_text.hpp"
#include "sinks/sql_tables.hpp"
#include "wis2mon/error.hpp"

namespace wis2mon {

bool is_sql_identifier(const std::string& name) noexcept {
  return detail::is_sql_identifier(name);
}

namespace {
SqliteTableSpec sqlite_table_spec(const SchemaHints& h) {
  return {h.key, h.indexes, h.time_field, h.valid_field};
}
}  // namespace

std::map<std::string, SqliteTableSpec> sqlite_builtin_tables() {
  std::map<std::string, SqliteTableSpec> tables;
  for (const auto& s : known_record_schemas()) tables.emplace(s->table(), sqlite_table_spec(s->hints()));
  return tables;
}

namespace {

using detail::SqliteDatabase;
using detail::SqliteStatement;

std::string sql_name(const std::string& identifier) {
  return "\"" + identifier + "\"";  // only ever called with is_sql_identifier() names
}

const char* column_type(const FieldValue& v) {
  switch (type_of(v)) {
    case FieldType::boolean:
    case FieldType::integer:
      return "INTEGER";
    case FieldType::real:
      return "REAL";
    case FieldType::string:
    case FieldType::time:
      return "TEXT";
    case FieldType::null:
      break;
  }
  return "";
}

using TimeText = std::array<char, detail::rfc3339_buffer_size>;

// Binds without copies: text points into the record (or into time_text, one slot per
// parameter), all of which outlive the statement's step.
void bind_value(sqlite3_stmt* st, int index, const FieldValue& v, TimeText& time_text) {
  switch (type_of(v)) {
    case FieldType::null:
      sqlite3_bind_null(st, index);
      break;
    case FieldType::boolean:
      sqlite3_bind_int64(st, index, std::get<bool>(v) ? 1 : 0);
      break;
    case FieldType::integer:
      sqlite3_bind_int64(st, index, std::get<std::int64_t>(v));
      break;
    case FieldType::real: {
      const double d = std::get<double>(v);
      if (std::isfinite(d))
        sqlite3_bind_double(st, index, d);
      else
        sqlite3_bind_null(st, index);
      break;
    }
    case FieldType::string: {
      const auto& text = std::get<std::string>(v);
      sqlite3_bind_text(st, index, text.data(), static_cast<int>(text.size()), SQLITE_STATIC);
      break;
    }
    case FieldType::time: {
      const auto n = detail::format_rfc3339_into(std::get<Timestamp>(v), time_text.data());
      sqlite3_bind_text(st, index, time_text.data(), static_cast<int>(n), SQLITE_STATIC);
      break;
    }
  }
}

}  // namespace

struct SqliteSink::Impl {
  SqliteSinkOptions opt;
  std::map<std::string, SqliteTableSpec> specs;
  std::mutex mu;        // the writer connection
  std::mutex specs_mu;  // specs: learned on the writer thread, read by the retention job
  std::unique_ptr<SqliteDatabase> db;
  bool closed = false;

  struct Table {
    std::set<std::string> columns;
    std::set<std::string> indexed;  // index names made
    bool key_index = false;         // the UNIQUE index on spec.key exists
  };
  std::unordered_map<std::string, Table> tables;
  // Prepared INSERTs by table + field names; the last schema pointer short-cuts the lookup.
  std::unordered_map<std::string, std::unique_ptr<SqliteStatement>> statements;
  RecordSchemaPtr last_schema;
  SqliteStatement* last_statement = nullptr;
  std::vector<TimeText> time_text;  // per parameter, see bind_value

  detail::PeriodicJob retention;  // on its own connection and thread

  void open() {
    db = std::make_unique<SqliteDatabase>(opt.path, opt.synchronous_full, static_cast<int>(opt.page_size));
    sqlite3_busy_timeout(db->handle(), static_cast<int>(opt.busy_timeout.count()));
    // A 64 MB page cache and memory-mapped reads keep the indexes' pages out of read() calls.
    db->exec("PRAGMA cache_size=-65536");
    db->exec("PRAGMA mmap_size=268435456");
    db->exec("CREATE TABLE IF NOT EXISTS wis2mon_schema (version INTEGER NOT NULL)");
    SqliteStatement get(db->handle(), "SELECT max(version) FROM wis2mon_schema");
    const bool has_row = get.step();
    const auto version = has_row ? get.column_int64(0) : 0;
    if (version > schema_version)
      throw Error(ErrorCode::database, opt.path.string() + " was written by schema version " + std::to_string(version) +
                                           "; this library knows up to " + std::to_string(schema_version));
    if (version < schema_version) {
      // Migrations from older versions go here, one step per version.
      db->exec("DELETE FROM wis2mon_schema");
      SqliteStatement put(db->handle(), "INSERT INTO wis2mon_schema (version) VALUES (?)");
      put.bind(1, static_cast<sqlite3_int64>(schema_version));
      put.step();
    }
    load_tables();
  }

  // Existing tables and their columns, so a reopened database is extended, not recreated.
  void load_tables() {
    tables.clear();
    SqliteStatement list(db->handle(), "SELECT name FROM sqlite_master WHERE type = 'table'");
    while (list.step()) {
      const auto name = list.column_text(0);
      if (!is_sql_identifier(name) || name == "wis2mon_schema") continue;
      Table t;
      SqliteStatement cols(db->handle(), "SELECT name FROM pragma_table_info(?)");
      cols.bind(1, name);
      while (cols.step()) t.columns.insert(cols.column_text(0));
      SqliteStatement idx(db->handle(), "SELECT name FROM pragma_index_list(?)");
      idx.bind(1, name);
      while (idx.step()) t.indexed.insert(idx.column_text(0));
      t.key_index = t.indexed.count("ux_" + name) > 0;
      tables.emplace(name, std::move(t));
    }
  }

  const SqliteTableSpec* spec_of(const std::string& table) const {
    const auto it = specs.find(table);
    return it == specs.end() ? nullptr : &it->second;
  }

  // Creates the table or adds missing columns (types from the first non-null value in the
  // batch), then any index whose columns now all exist.
  void ensure_table(const Record& r, const std::vector<Record>& batch) {
    const auto& name = r.table();
    // A table neither configured nor known: its producer's hints, when it gave any.
    if (const auto& h = r.schema()->hints(); !specs.count(name) && (!h.key.empty() || !h.time_field.empty())) {
      std::lock_guard lock(specs_mu);
      specs.emplace(name, sqlite_table_spec(h));
    }
    auto it = tables.find(name);
    const bool exists = it != tables.end();
    std::vector<std::size_t> missing;
    for (std::size_t i = 0; i < r.size(); ++i)
      if (!exists || !it->second.columns.count(r.name(i))) missing.push_back(i);
    if (exists && missing.empty()) return;

    const auto type_for = [&](const std::string& field) -> std::string {
      for (const auto& other : batch) {
        if (other.table() != name) continue;
        if (const auto* v = other.get(field); v && type_of(*v) != FieldType::null) return column_type(*v);
      }
      return "";
    };
    if (!exists) {
      std::string sql = "CREATE TABLE IF NOT EXISTS " + sql_name(name) + " (";
      for (std::size_t k = 0; k < missing.size(); ++k) {
        const auto& f = r.name(missing[k]);
        sql += (k ? ", " : "") + sql_name(f);
        if (const auto t = type_for(f); !t.empty()) sql += " " + t;
      }
      sql += ")";
      db->exec(sql);
      it = tables.emplace(name, Table{}).first;
    } else {
      for (const auto i : missing) {
        const auto& f = r.name(i);
        std::string sql = "ALTER TABLE " + sql_name(name) + " ADD COLUMN " + sql_name(f);
        if (const auto t = type_for(f); !t.empty()) sql += " " + t;
        db->exec(sql);
      }
    }
    for (const auto i : missing) it->second.columns.insert(r.name(i));
    statements_for_table_changed(name);
    ensure_indexes(name, it->second);
  }

  void ensure_indexes(const std::string& name, Table& t) {
    const auto* spec = spec_of(name);
    if (!spec) return;
    const auto all_exist = [&](const std::vector<std::string>& cols) {
      return !cols.empty() && std::all_of(cols.begin(), cols.end(), [&](const auto& c) { return t.columns.count(c); });
    };
    const auto column_list = [&](const std::vector<std::string>& cols) {
      std::string s;
      for (std::size_t k = 0; k < cols.size(); ++k) s += (k ? ", " : "") + sql_name(cols[k]);
      return s;
    };
    if (!t.key_index && all_exist(spec->key)) {
      db->exec("CREATE UNIQUE INDEX IF NOT EXISTS " + sql_name("ux_" + name) + " ON " + sql_name(name) + " (" +
               column_list(spec->key) + ")");
      t.key_index = true;
      t.indexed.insert("ux_" + name);
    }
    for (const auto& cols : spec->indexes) {
      std::string idx = "ix_" + name;
      for (const auto& c : cols) idx += "_" + c;
      if (t.indexed.count(idx) || !all_exist(cols) || !is_sql_identifier(idx)) continue;
      db->exec("CREATE INDEX IF NOT EXISTS " + sql_name(idx) + " ON " + sql_name(name) + " (" + column_list(cols) +
               ")");
      t.indexed.insert(idx);
    }
  }

  void statements_for_table_changed(const std::string& table) {
    // The ON CONFLICT clause depends on whether the key index exists: rebuild lazily.
    for (auto it = statements.begin(); it != statements.end();) {
      if (it->first.compare(0, table.size() + 1, table + '\x1f') == 0)
        it = statements.erase(it);
      else
        ++it;
    }
    last_schema.reset();
    last_statement = nullptr;
  }

  SqliteStatement& statement_for(const Record& r) {
    if (last_statement && last_schema == r.schema()) return *last_statement;
    std::string cache_key = r.table();
    for (std::size_t i = 0; i < r.size(); ++i) cache_key += '\x1f' + r.name(i);
    auto& slot = statements[cache_key];
    if (!slot) slot = std::make_unique<SqliteStatement>(db->handle(), insert_sql(r));
    last_schema = r.schema();
    last_statement = slot.get();
    return *slot;
  }

  std::string insert_sql(const Record& r) {
    const auto& table = r.table();
    std::string cols, params;
    for (std::size_t i = 0; i < r.size(); ++i) {
      cols += (i ? ", " : "") + sql_name(r.name(i));
      params += i ? ", ?" : "?";
    }
    std::string sql = "INSERT INTO " + sql_name(table) + " (" + cols + ") VALUES (" + params + ")";
    const auto* spec = spec_of(table);
    const auto& t = tables[table];
    if (spec && t.key_index &&
        std::all_of(spec->key.begin(), spec->key.end(), [&](const auto& k) { return r.get(k) != nullptr; })) {
      sql += " ON CONFLICT (";
      for (std::size_t k = 0; k < spec->key.size(); ++k) sql += (k ? ", " : "") + sql_name(spec->key[k]);
      sql += ") DO UPDATE SET ";
      for (std::size_t i = 0; i < r.size(); ++i)
        sql += (i ? ", " : "") + sql_name(r.name(i)) + " = excluded." + sql_name(r.name(i));
      // Update semantics: a newer (or equal) pubtime replaces, an older one does not.
      std::vector<std::string> when;
      // A stored pubtime far in the future (a wrong clock) gives way, or it would win forever.
      if (r.get("pubtime")) {
        const auto stored = sql_name(table) + ".pubtime";
        std::string c = "(excluded.pubtime IS NULL OR " + stored +
                        " IS NULL OR julianday(excluded.pubtime) >= julianday(" + stored + ")";
        if (opt.max_pubtime_skew.count() > 0)
          c += " OR julianday(" + stored + ") > julianday('now', '+" + std::to_string(opt.max_pubtime_skew.count()) +
               " seconds')";
        when.push_back(c + ")");
      }
      // An invalid copy of an item (WIS2 carries each one from the origin and several
      // caches) never replaces the valid row; write() turns the skipped row into Rejected.
      if (!spec->valid_column.empty() && r.get(spec->valid_column)) {
        const auto v = sql_name(spec->valid_column);
        when.push_back("(excluded." + v + " IS NOT 0 OR " + sql_name(table) + "." + v + " IS NOT 1)");
      }
      for (std::size_t k = 0; k < when.size(); ++k) sql += (k ? " AND " : " WHERE ") + when[k];
    }
    return sql;
  }

  bool is_invalid(const Record& r) const { return detail::sql_record_marked_invalid(r, spec_of(r.table())); }

  std::vector<Delivery> write(const std::vector<Record>& batch) {
    std::vector<Delivery> out(batch.size());
    std::lock_guard lock(mu);
    if (closed || !db) {
      for (auto& d : out) d = {DeliveryStatus::retry, "sink closed"};
      return out;
    }
    const auto retry_all = [&](const std::string& why) {
      for (auto& d : out)
        if (d.status != DeliveryStatus::rejected) d = {DeliveryStatus::retry, why};
    };
    try {
      db->exec("BEGIN IMMEDIATE");
    } catch (const std::exception& e) {
      retry_all(e.what());
      return out;
    }
    try {
      for (std::size_t i = 0; i < batch.size(); ++i) {
        const auto& r = batch[i];
        // Records of the schema just written skip the name checks and the table lookup.
        if (!last_statement || last_schema != r.schema()) {
          if (auto why = detail::sql_record_problem(r); !why.empty()) {
            out[i] = {DeliveryStatus::rejected, why};
            continue;
          }
          ensure_table(r, batch);
        }
        sqlite3_stmt* st = statement_for(r).handle();
        if (time_text.size() < r.size()) time_text.resize(r.size());
        for (std::size_t f = 0; f < r.size(); ++f) bind_value(st, static_cast<int>(f + 1), r.value(f), time_text[f]);
        const int rc = sqlite3_step(st);
        // Every parameter is bound again for the next row, so no clear_bindings here; the
        // statement's own changes are undone when it fails.
        if (rc == SQLITE_DONE || rc == SQLITE_ROW) {
          sqlite3_reset(st);
          if (sqlite3_changes(db->handle()) == 0 && is_invalid(r))
            out[i] = {DeliveryStatus::rejected, detail::kNotReplacedReason};
        } else {
          const std::string m = sqlite3_errmsg(db->handle());
          sqlite3_reset(st);
          if (detail::sqlite_is_transient(rc)) throw Error(ErrorCode::database, m, true);
          out[i] = {DeliveryStatus::rejected, m};
        }
      }
      db->exec("COMMIT");
    } catch (const std::exception& e) {
      // Transient (busy, I/O) or a failed CREATE/ALTER: nothing of the batch is kept. DDL
      // inside the rolled-back transaction is gone too, so re-read what exists.
      sqlite3_exec(db->handle(), "ROLLBACK", nullptr, nullptr, nullptr);
      statements.clear();
      last_schema.reset();
      last_statement = nullptr;
      load_tables();
      retry_all(e.what());
    }
    return out;
  }

  std::size_t apply_retention(std::chrono::hours max_age) {
    if (max_age.count() <= 0) return 0;
    const auto now = Timestamp::now();
    const auto cutoff = format_rfc3339(Timestamp{now.seconds - max_age.count() * 3600, 0});
    SqliteDatabase conn(opt.path, opt.synchronous_full);
    std::size_t deleted = 0;
    std::map<std::string, SqliteTableSpec> known;
    {
      std::lock_guard lock(specs_mu);
      known = specs;
    }
    for (const auto& [table, spec] : known) {
      if (spec.time_column.empty() || !is_sql_identifier(table) || !is_sql_identifier(spec.time_column)) continue;
      {
        SqliteStatement has(conn.handle(), "SELECT count(*) FROM pragma_table_info(?) WHERE name = ?");
        has.bind(1, table).bind(2, spec.time_column);
        if (!has.step() || has.column_int64(0) == 0) continue;
      }
      SqliteStatement del(conn.handle(), "DELETE FROM " + sql_name(table) + " WHERE rowid IN (SELECT rowid FROM " +
                                             sql_name(table) + " WHERE " + sql_name(spec.time_column) +
                                             " < ? LIMIT ?)");
      for (;;) {
        std::size_t n = 0;
        {
          // Steps take turns with this sink's batches: a writer in a tight loop would
          // otherwise starve the step's busy handler until it gives up (seen under load).
          std::lock_guard lock(mu);
          del.reset();
          del.bind(1, cutoff).bind(2, static_cast<sqlite3_int64>(opt.retention_step_rows));
          del.step();  // autocommit: one short write transaction per step
          n = static_cast<std::size_t>(conn.changes());
        }
        deleted += n;
        if (n < opt.retention_step_rows) break;
        std::this_thread::yield();  // let a waiting writer in between steps
      }
    }
    return deleted;
  }

  void start_retention_thread() {
    if (opt.retention.count() > 0 && opt.retention_interval.count() > 0)
      retention.start(opt.retention_interval, [this] { apply_retention(opt.retention); });
  }
};

SqliteSink::SqliteSink(std::string name, SqliteSinkOptions options)
    : Sink(std::move(name)), impl_(std::make_unique<Impl>()) {
  if (options.path.empty()) throw Error(ErrorCode::invalid_argument, "sqlite sink '" + this->name() + "': no path");
  if (options.retention_step_rows == 0) options.retention_step_rows = 500;
  if (options.page_size < 512 || options.page_size > 65536 || (options.page_size & (options.page_size - 1)) != 0)
    throw Error(ErrorCode::invalid_argument,
                "sqlite sink '" + this->name() + "': page_size must be a power of two from 512 to 65536");
  detail::check_sql_table_specs(options.tables, "sqlite sink '" + this->name() + "'");
  impl_->specs = sqlite_builtin_tables();
  for (const auto& [table, spec] : options.tables) impl_->specs[table] = spec;
  impl_->opt = std::move(options);
  impl_->open();
  impl_->start_retention_thread();
}

SqliteSink::~SqliteSink() {
  close();
}

std::vector<Delivery> SqliteSink::write(const std::vector<Record>& batch) {
  return impl_->write(batch);
}

void SqliteSink::flush() {
  // Every batch is committed before write() returns; nothing is buffered.
}

SinkHealth SqliteSink::healthcheck() {
  std::lock_guard lock(impl_->mu);
  if (impl_->closed) return {false, "closed"};
  try {
    SqliteStatement st(impl_->db->handle(), "SELECT count(*) FROM sqlite_master");
    st.step();
    return {true, impl_->opt.path.string()};
  } catch (const std::exception& e) {
    return {false, e.what()};
  }
}

void SqliteSink::close() {
  impl_->retention.stop();
  std::lock_guard lock(impl_->mu);
  if (impl_->closed) return;
  impl_->closed = true;
  impl_->statements.clear();
  impl_->last_statement = nullptr;
  impl_->last_schema.reset();
  impl_->db.reset();
}

std::size_t SqliteSink::apply_retention(std::chrono::hours max_age) {
  return impl_->apply_retention(max_age.count() > 0 ? max_age : impl_->opt.retention);
}

}  // namespace wis2mon
