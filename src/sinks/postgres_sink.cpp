// PostgresSink: the SQLite sink's tables and rules on PostgreSQL through libpq. A batch is one
// transaction: long runs go through COPY and a staging table, short ones are multi-row INSERT
// ... ON CONFLICT statements; what the server refuses is split (inside savepoints) until the
// refused record stands alone.
#include "wis2mon/sinks/postgresql.hpp"

#include <libpq-fe.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <mutex>
#include <set>
#include <unordered_map>

#include "common/compat.hpp"
#include "common/pg_schema_lock.hpp"
#include "sinks/sql_tables.hpp"
#include "wis2mon/error.hpp"

namespace wis2mon {

namespace {

std::string sql_name(const std::string& identifier) {
  return "\"" + identifier + "\"";  // only ever called with is_sql_identifier() names
}

const char* column_type(const FieldValue& v) {
  switch (type_of(v)) {
    case FieldType::boolean:
      return "BOOLEAN";
    case FieldType::integer:
      return "BIGINT";
    case FieldType::real:
      return "DOUBLE PRECISION";
    case FieldType::time:
      return "TIMESTAMPTZ";
    case FieldType::string:
    case FieldType::null:
      break;
  }
  return "TEXT";
}

struct PgResultFree {
  void operator()(PGresult* r) const noexcept { PQclear(r); }
};
using Result = std::unique_ptr<PGresult, PgResultFree>;

// What the server said, and whether trying again later can help: the connection, a server
// shutting down or overloaded, serialization failures and deadlocks (SQLSTATE classes 08, 53,
// 57P, 40) are passing; a refused value or constraint is the record's.
struct Failure {
  std::string message;
  std::string code;  // SQLSTATE
  bool transient = false;
};

Failure failure_of(PGconn* conn, const PGresult* r) {
  Failure f;
  const char* state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
  const std::string code = state ? state : "";
  f.code = code;
  f.message = r ? PQresultErrorMessage(r) : PQerrorMessage(conn);
  while (!f.message.empty() && (f.message.back() == '\n' || f.message.back() == ' ')) f.message.pop_back();
  if (f.message.empty()) f.message = PQerrorMessage(conn);
  f.transient = PQstatus(conn) != CONNECTION_OK || code.empty() || code.rfind("08", 0) == 0 ||
                code.rfind("53", 0) == 0 || code.rfind("57P", 0) == 0 || code.rfind("40", 0) == 0 || code == "55P03";
  return f;
}

struct Transient : std::runtime_error {
  using std::runtime_error::runtime_error;
};

}  // namespace

// Runs of at least this many records go through COPY (fewer: one multi-row INSERT is as quick).
constexpr std::size_t kCopyRows = 16;
// After a direct COPY met a stored key, this many runs of the table skip trying it.
constexpr int kStagedRunsAfterConflict = 8;

struct PostgresSink::Impl {
  std::string name;
  PostgresSinkOptions opt;
  std::map<std::string, SqliteTableSpec> specs;
  std::mutex mu;  // the writer connection
  std::mutex specs_mu;
  PGconn* conn = nullptr;
  bool closed = false;

  struct Table {
    std::set<std::string> columns;
    bool key_index = false;
  };
  std::unordered_map<std::string, Table> tables;
  std::set<std::string> stages;  // tables whose staging table this connection has
  // Per table: runs that go through the staging table before a direct COPY is tried again.
  std::unordered_map<std::string, int> stage_first;

  detail::PeriodicJob retention;  // on its own connection and thread

  PGconn* connect() const {
    const std::string timeout = std::to_string(opt.connect_timeout.count());
    const char* keys[] = {"dbname", "connect_timeout", "application_name", nullptr};
    const char* values[] = {opt.url.c_str(), timeout.c_str(), "wis2mon", nullptr};
    PGconn* c = PQconnectdbParams(keys, values, 1);  // 1: dbname is the URI, expanded
    PQsetNoticeProcessor(
        c, [](void*, const char*) {}, nullptr);  // "already exists, skipping"
    return c;
  }

  Result exec(const std::string& sql) {
    Result r(PQexec(conn, sql.c_str()));
    const auto status = r ? PQresultStatus(r.get()) : PGRES_FATAL_ERROR;
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
      const auto f = failure_of(conn, r.get());
      if (f.transient) throw Transient(f.message);
      throw Error(ErrorCode::database, "postgresql sink '" + name + "': " + f.message);
    }
    return r;
  }

  // Connected and set up, or false with why (the caller answers Retry).
  bool ensure_connected(std::string& why) {
    if (conn && PQstatus(conn) == CONNECTION_OK) return true;
    if (conn) PQfinish(conn);
    stages.clear();  // temporary tables go with the session
    conn = connect();
    if (PQstatus(conn) != CONNECTION_OK) {
      why = "PostgreSQL not reached: " + std::string(PQerrorMessage(conn));
      while (!why.empty() && why.back() == '\n') why.pop_back();
      PQfinish(conn);
      conn = nullptr;
      return false;
    }
    try {
      set_up();
    } catch (const Transient& e) {
      why = e.what();
      PQfinish(conn);
      conn = nullptr;
      return false;
    }
    return true;
  }

  // The schema version and the tables that exist (another monitor may have made them).
  // One transaction under the schema lock (common/pg_schema_lock.hpp): monitors starting
  // together on a new database make the tables one after the other.
  void set_up() {
    exec("BEGIN");
    try {
      exec(detail::kPostgresSchemaLock);
      exec("CREATE TABLE IF NOT EXISTS wis2mon_schema (version INTEGER NOT NULL)");
      const auto r = exec("SELECT max(version) FROM wis2mon_schema");
      const int version = PQgetisnull(r.get(), 0, 0) ? 0 : std::atoi(PQgetvalue(r.get(), 0, 0));
      if (version > schema_version)
        throw Error(ErrorCode::database, "postgresql sink '" + name + "': the database was written by schema version " +
                                             std::to_string(version) + "; this library knows up to " +
                                             std::to_string(schema_version));
      if (version < schema_version) {
        // Migrations from older versions go here, one step per version.
        exec("DELETE FROM wis2mon_schema");
        exec("INSERT INTO wis2mon_schema (version) VALUES (" + std::to_string(schema_version) + ")");
      }
      exec("COMMIT");
    } catch (...) {
      if (conn) PQclear(PQexec(conn, "ROLLBACK"));
      throw;
    }
    load_tables();
  }

  void load_tables() {
    tables.clear();
    const auto cols =
        exec("SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = current_schema()");
    for (int i = 0; i < PQntuples(cols.get()); ++i) {
      const std::string table = PQgetvalue(cols.get(), i, 0);
      if (!is_sql_identifier(table) || table == "wis2mon_schema") continue;
      tables[table].columns.insert(PQgetvalue(cols.get(), i, 1));
    }
    const auto idx = exec("SELECT tablename, indexname FROM pg_indexes WHERE schemaname = current_schema()");
    for (int i = 0; i < PQntuples(idx.get()); ++i) {
      const std::string table = PQgetvalue(idx.get(), i, 0);
      if (auto it = tables.find(table); it != tables.end() && PQgetvalue(idx.get(), i, 1) == "ux_" + table)
        it->second.key_index = true;
    }
  }

  const SqliteTableSpec* spec_of(const std::string& table) const {
    const auto it = specs.find(table);
    return it == specs.end() ? nullptr : &it->second;
  }

  // Creates the table or adds missing columns (types from the batch's first non-null value),
  // then the key index and the other indexes whose columns exist. Inside the batch's
  // transaction: rolled back with it.
  void ensure_table(const Record& r, const std::vector<Record>& batch) {
    const auto& table = r.table();
    if (const auto& h = r.schema()->hints(); !specs.count(table) && (!h.key.empty() || !h.time_field.empty())) {
      std::lock_guard lock(specs_mu);
      specs.emplace(table, SqliteTableSpec{h.key, h.indexes, h.time_field, h.valid_field});
    }
    auto it = tables.find(table);
    std::vector<std::size_t> missing;
    for (std::size_t i = 0; i < r.size(); ++i)
      if (it == tables.end() || !it->second.columns.count(r.name(i))) missing.push_back(i);
    if (it != tables.end() && missing.empty()) return;
    // Another monitor may be changing the same table right now: one after the other (the lock
    // lasts until this batch's transaction ends).
    exec(detail::kPostgresSchemaLock);
    const auto type_for = [&](const std::string& field) -> std::string {
      for (const auto& other : batch)
        if (other.table() == table)
          if (const auto* v = other.get(field); v && type_of(*v) != FieldType::null) return column_type(*v);
      return "TEXT";
    };
    if (it == tables.end()) {
      std::string sql = "CREATE TABLE IF NOT EXISTS " + sql_name(table) + " (";
      for (std::size_t k = 0; k < missing.size(); ++k)
        sql += (k ? ", " : "") + sql_name(r.name(missing[k])) + " " + type_for(r.name(missing[k]));
      exec(sql + ")");
      it = tables.emplace(table, Table{}).first;
    }
    for (const auto i : missing) {
      exec("ALTER TABLE " + sql_name(table) + " ADD COLUMN IF NOT EXISTS " + sql_name(r.name(i)) + " " +
           type_for(r.name(i)));
      it->second.columns.insert(r.name(i));
    }
    if (!missing.empty() && stages.erase(table))  // made LIKE the table before: made again
      exec("DROP TABLE IF EXISTS " + sql_name("wis2mon_stage_" + table));
    const auto* spec = spec_of(table);
    if (!spec) return;
    const auto exist = [&](const std::vector<std::string>& cols) {
      return !cols.empty() &&
             std::all_of(cols.begin(), cols.end(), [&](const auto& c) { return it->second.columns.count(c) > 0; });
    };
    const auto list = [](const std::vector<std::string>& cols) {
      std::string s;
      for (std::size_t k = 0; k < cols.size(); ++k) s += (k ? ", " : "") + sql_name(cols[k]);
      return s;
    };
    if (!it->second.key_index && exist(spec->key)) {
      exec("CREATE UNIQUE INDEX IF NOT EXISTS " + sql_name("ux_" + table) + " ON " + sql_name(table) + " (" +
           list(spec->key) + ")");
      it->second.key_index = true;
    }
    for (const auto& cols : spec->indexes) {
      std::string index = "ix_" + table;
      for (const auto& c : cols) index += "_" + c;
      if (exist(cols) && is_sql_identifier(index))
        exec("CREATE INDEX IF NOT EXISTS " + sql_name(index) + " ON " + sql_name(table) + " (" + list(cols) + ")");
    }
  }

  // INSERT of `rows` records with r's fields; ON CONFLICT on the key with the update rules.
  std::string insert_sql(const Record& r, std::size_t rows) const {
    std::string sql = "INSERT INTO " + sql_name(r.table()) + " AS stored (" + column_list(r) + ") VALUES ";
    int p = 1;
    for (std::size_t row = 0; row < rows; ++row) {
      sql += row ? ", (" : "(";
      for (std::size_t i = 0; i < r.size(); ++i) sql += (i ? ", $" : "$") + std::to_string(p++);
      sql += ")";
    }
    return sql + conflict_clause(r);
  }

  static std::string column_list(const Record& r) {
    std::string cols;
    for (std::size_t i = 0; i < r.size(); ++i) cols += (i ? ", " : "") + sql_name(r.name(i));
    return cols;
  }

  // ON CONFLICT on the table's key with the update rules; "" when the table has no key (yet).
  std::string conflict_clause(const Record& r) const {
    const auto& table = r.table();
    std::string sql;
    const auto* spec = spec_of(table);
    const auto t = tables.find(table);
    if (!spec || t == tables.end() || !t->second.key_index ||
        !std::all_of(spec->key.begin(), spec->key.end(), [&](const auto& k) { return r.get(k) != nullptr; }))
      return sql;
    sql += " ON CONFLICT (";
    for (std::size_t k = 0; k < spec->key.size(); ++k) sql += (k ? ", " : "") + sql_name(spec->key[k]);
    sql += ") DO UPDATE SET ";
    for (std::size_t i = 0; i < r.size(); ++i)
      sql += (i ? ", " : "") + sql_name(r.name(i)) + " = EXCLUDED." + sql_name(r.name(i));
    std::vector<std::string> when;
    if (r.get("pubtime")) {  // a newer or equal pubtime replaces; a stored one from a wrong clock gives way
      std::string c =
          "(EXCLUDED.pubtime IS NULL OR stored.pubtime IS NULL OR EXCLUDED.pubtime::timestamptz >= "
          "stored.pubtime::timestamptz";
      if (opt.max_pubtime_skew.count() > 0)
        c += " OR stored.pubtime::timestamptz > now() + interval '" + std::to_string(opt.max_pubtime_skew.count()) +
             " seconds'";
      when.push_back(c + ")");
    }
    if (!spec->valid_column.empty() && r.get(spec->valid_column)) {
      const auto v = sql_name(spec->valid_column);
      when.push_back("(EXCLUDED." + v + " IS NOT FALSE OR stored." + v + " IS NOT TRUE)");
    }
    for (std::size_t k = 0; k < when.size(); ++k) sql += (k ? " AND " : " WHERE ") + when[k];
    return sql;
  }

  bool is_invalid(const Record& r) const { return detail::sql_record_marked_invalid(r, spec_of(r.table())); }

  // The text of one value as a parameter; nullopt for NULL (and for NaN and infinities, as
  // the SQLite sink stores them).
  static std::optional<std::string> param_text(const FieldValue& v) {
    switch (type_of(v)) {
      case FieldType::null:
        return std::nullopt;
      case FieldType::boolean:
        return std::get<bool>(v) ? "true" : "false";
      case FieldType::integer:
        return std::to_string(std::get<std::int64_t>(v));
      case FieldType::real: {
        const double d = std::get<double>(v);
        if (!std::isfinite(d)) return std::nullopt;
        char buf[32];
        const auto r = detail::double_to_chars(buf, buf + sizeof buf, d);
        return std::string(buf, r.ptr);
      }
      case FieldType::string:
        return std::get<std::string>(v);
      case FieldType::time:
        return format_rfc3339(std::get<Timestamp>(v));
    }
    return std::nullopt;
  }

  // COPY's text format: \N for NULL; backslash, tab, newline and carriage return escaped.
  // Written straight into the COPY buffer (no text per value first): this is the hot loop.
  static void append_copy_text(std::string& out, const FieldValue& v) {
    char buf[32];
    switch (type_of(v)) {
      case FieldType::null:
        out += "\\N";
        return;
      case FieldType::boolean:
        out += std::get<bool>(v) ? "true" : "false";
        return;
      case FieldType::integer: {
        const auto r = std::to_chars(buf, buf + sizeof buf, std::get<std::int64_t>(v));
        out.append(buf, r.ptr);
        return;
      }
      case FieldType::real: {
        const double d = std::get<double>(v);
        if (!std::isfinite(d)) {
          out += "\\N";
          return;
        }
        const auto r = detail::double_to_chars(buf, buf + sizeof buf, d);
        out.append(buf, r.ptr);
        return;
      }
      case FieldType::time:
        out += format_rfc3339(std::get<Timestamp>(v));  // digits, '-', ':', 'T', 'Z' only
        return;
      case FieldType::string:
        break;
    }
    const auto& text = std::get<std::string>(v);
    std::size_t done = 0;
    for (auto at = text.find_first_of("\\\t\n\r"); at != std::string::npos; at = text.find_first_of("\\\t\n\r", done)) {
      out.append(text, done, at - done);
      out += '\\';
      const char c = text[at];
      out += c == '\t' ? 't' : c == '\n' ? 'n' : c == '\r' ? 'r' : '\\';
      done = at + 1;
    }
    out.append(text, done, std::string::npos);
  }

  // COPY of rows into target: nullopt when stored, else why not. Transient failures throw.
  std::optional<Failure> copy_rows(const std::string& target, const std::string& columns,
                                   const std::vector<Record>& batch, const std::vector<std::size_t>& rows) {
    Result start(PQexec(conn, ("COPY " + target + " (" + columns + ") FROM STDIN").c_str()));
    if (!start || PQresultStatus(start.get()) != PGRES_COPY_IN) {
      auto f = failure_of(conn, start.get());
      if (f.transient) throw Transient(f.message);
      return f;
    }
    std::string chunk;
    chunk.reserve((1u << 20) + 4096);
    bool sent = true;
    for (const auto i : rows) {
      const auto& r = batch[i];
      for (std::size_t f = 0; f < r.size(); ++f) {
        if (f) chunk += '\t';
        append_copy_text(chunk, r.value(f));
      }
      chunk += '\n';
      if (chunk.size() >= (1u << 20)) {
        sent = sent && PQputCopyData(conn, chunk.data(), static_cast<int>(chunk.size())) == 1;
        chunk.clear();
      }
    }
    if (!chunk.empty()) sent = sent && PQputCopyData(conn, chunk.data(), static_cast<int>(chunk.size())) == 1;
    if (PQputCopyEnd(conn, sent ? nullptr : "wis2mon: sending failed") != 1) throw Transient(PQerrorMessage(conn));
    Result done(PQgetResult(conn));
    while (Result more{PQgetResult(conn)}) {
    }
    if (done && PQresultStatus(done.get()) == PGRES_COMMAND_OK) return std::nullopt;
    auto f = failure_of(conn, done.get());
    if (f.transient || !sent) throw Transient(f.message);
    return f;
  }

  // A long run goes through COPY. Rows of keys not stored yet (the usual case: new items) go
  // straight into the table, where an upsert and an insert are the same thing. When a key is
  // there already (unique_violation), the run goes through COPY into a staging table instead,
  // then one INSERT ... SELECT with the ON CONFLICT rules, in input order; the next runs of
  // that table take the staging path directly for a while. False (nothing kept) when the
  // server refuses any of it: the caller then finds the refused records with insert().
  // The staging tables live as long as the connection (temporary, emptied at each commit), so
  // that a batch costs no catalog change; `used`: those filled in this transaction already.
  bool copy_run(const std::vector<Record>& batch, const std::vector<std::size_t>& rows, std::set<std::string>& used) {
    const Record& shape = batch[rows.front()];
    const std::string columns = column_list(shape);
    auto& staged_runs_left = stage_first[shape.table()];
    if (staged_runs_left > 0) {
      --staged_runs_left;
    } else {
      exec("SAVEPOINT wis2mon_direct");
      try {
        const auto refused = copy_rows(sql_name(shape.table()), columns, batch, rows);
        if (!refused) {
          exec("RELEASE SAVEPOINT wis2mon_direct");
          return true;
        }
        exec("ROLLBACK TO SAVEPOINT wis2mon_direct");
        if (refused->code != "23505") return false;  // not a stored key: the split path finds the record
        staged_runs_left = kStagedRunsAfterConflict;
      } catch (const Error&) {
        exec("ROLLBACK TO SAVEPOINT wis2mon_direct");
        return false;
      }
    }
    const std::string stage = sql_name("wis2mon_stage_" + shape.table());
    if (!is_sql_identifier("wis2mon_stage_" + shape.table())) return false;
    exec("SAVEPOINT wis2mon_copy");
    const bool create = stages.insert(shape.table()).second;
    const auto undo = [&] {  // back to the savepoint: a staging table made in it is gone too
      exec("ROLLBACK TO SAVEPOINT wis2mon_copy");
      if (create) stages.erase(shape.table());
      return false;
    };
    try {
      if (create)
        exec("CREATE TEMP TABLE IF NOT EXISTS " + stage + " (LIKE " + sql_name(shape.table()) +
             ") ON COMMIT DELETE ROWS; ALTER TABLE " + stage + " ADD COLUMN IF NOT EXISTS wis2mon_order BIGSERIAL");
      else if (used.count(shape.table()))
        exec("DELETE FROM " + stage);
      used.insert(shape.table());
      if (copy_rows(stage, columns, batch, rows)) return undo();
      Result moved(PQexec(conn, ("INSERT INTO " + sql_name(shape.table()) + " AS stored (" + columns + ") SELECT " +
                                 columns + " FROM " + stage + " ORDER BY wis2mon_order" + conflict_clause(shape))
                                    .c_str()));
      if (!moved || PQresultStatus(moved.get()) != PGRES_COMMAND_OK) {
        const auto f = failure_of(conn, moved.get());
        if (f.transient) throw Transient(f.message);
        return undo();
      }
      exec("RELEASE SAVEPOINT wis2mon_copy");
      return true;
    } catch (const Error&) {
      return undo();
    }
  }

  // Runs records [first, last) of `rows` (indices into batch, all with one field list) as one
  // statement inside a savepoint; on refusal splits the range, so a refused record ends up
  // alone and Rejected. Transient failures throw (the whole batch answers Retry).
  void insert(const std::vector<Record>& batch, const std::vector<std::size_t>& rows, std::size_t first,
              std::size_t last, std::vector<Delivery>& out) {
    const Record& shape = batch[rows[first]];
    std::vector<std::optional<std::string>> texts;
    texts.reserve((last - first) * shape.size());
    for (std::size_t k = first; k < last; ++k)
      for (std::size_t f = 0; f < shape.size(); ++f) texts.push_back(param_text(batch[rows[k]].value(f)));
    std::vector<const char*> params(texts.size());
    for (std::size_t i = 0; i < texts.size(); ++i) params[i] = texts[i] ? texts[i]->c_str() : nullptr;
    const std::string sql = insert_sql(shape, last - first);
    exec("SAVEPOINT wis2mon_rows");
    Result r(
        PQexecParams(conn, sql.c_str(), static_cast<int>(params.size()), nullptr, params.data(), nullptr, nullptr, 0));
    if (r && PQresultStatus(r.get()) == PGRES_COMMAND_OK) {
      exec("RELEASE SAVEPOINT wis2mon_rows");
      // One invalid record alone in its statement, and nothing changed: it did not replace the
      // valid (or newer) row of its key.
      if (last - first == 1 && is_invalid(shape) && std::string(PQcmdTuples(r.get())) == "0")
        out[rows[first]] = {DeliveryStatus::rejected, detail::kNotReplacedReason};
      return;
    }
    const auto f = failure_of(conn, r.get());
    if (f.transient) throw Transient(f.message);
    exec("ROLLBACK TO SAVEPOINT wis2mon_rows");
    if (last - first == 1) {
      out[rows[first]] = {DeliveryStatus::rejected, f.message};
      return;
    }
    const auto mid = first + (last - first) / 2;
    insert(batch, rows, first, mid, out);
    insert(batch, rows, mid, last, out);
  }

  std::vector<Delivery> write(const std::vector<Record>& batch) {
    std::vector<Delivery> out(batch.size());
    std::lock_guard lock(mu);
    const auto retry_all = [&](const std::string& why) {
      for (auto& d : out)
        if (d.status != DeliveryStatus::rejected) d = {DeliveryStatus::retry, why};
    };
    if (closed) {
      retry_all("sink closed");
      return out;
    }
    std::string why;
    try {
      if (!ensure_connected(why)) {
        retry_all(why);
        return out;
      }
    } catch (const std::exception& e) {  // a database of a newer schema version: kept, not lost
      retry_all(e.what());
      return out;
    }
    try {
      exec("BEGIN");
      // Runs of consecutive records with the same fields share statements; an invalid record
      // of a table with a validity column goes alone (its "not stored" must be seen).
      std::vector<std::size_t> run;
      std::set<std::string> used;  // staging tables filled in this transaction
      const auto flush_run = [&] {
        if (run.size() >= kCopyRows && copy_run(batch, run, used)) {
          run.clear();
          return;
        }
        for (std::size_t from = 0; from < run.size();) {
          const auto width = std::max<std::size_t>(1, batch[run[from]].size());
          const auto cap = std::max<std::size_t>(1, std::min(opt.rows_per_statement, 60000 / width));
          const auto to = std::min(run.size(), from + cap);
          insert(batch, run, from, to, out);
          from = to;
        }
        run.clear();
      };
      const RecordSchema* last_schema = nullptr;
      for (std::size_t i = 0; i < batch.size(); ++i) {
        const auto& r = batch[i];
        if (r.schema().get() != last_schema) {
          flush_run();
          if (auto bad = detail::sql_record_problem(r); !bad.empty()) {
            out[i] = {DeliveryStatus::rejected, bad};
            last_schema = nullptr;
            continue;
          }
          ensure_table(r, batch);
          last_schema = r.schema().get();
        }
        if (is_invalid(r)) {
          flush_run();
          run.push_back(i);
          flush_run();
          continue;
        }
        run.push_back(i);
      }
      flush_run();
      exec("COMMIT");
    } catch (const std::exception& e) {
      // Nothing of the batch is kept (DDL included: PostgreSQL's is transactional).
      if (conn && PQstatus(conn) == CONNECTION_OK) {
        Result(PQexec(conn, "ROLLBACK"));
        Result(PQexec(conn, "DISCARD TEMP"));  // staging tables made or altered in it: start afresh
        stages.clear();
        try {
          load_tables();
        } catch (const std::exception&) {
          // the next write reconnects and reads them again
        }
      } else {
        tables.clear();
      }
      retry_all(e.what());
    }
    return out;
  }

  std::size_t apply_retention(std::chrono::hours max_age) {
    if (max_age.count() <= 0) return 0;
    const auto cutoff = format_rfc3339(Timestamp{Timestamp::now().seconds - max_age.count() * 3600, 0});
    std::map<std::string, SqliteTableSpec> known;
    {
      std::lock_guard lock(specs_mu);
      known = specs;
    }
    std::unique_ptr<PGconn, void (*)(PGconn*)> own(connect(), &PQfinish);
    if (PQstatus(own.get()) != CONNECTION_OK)
      throw Error(ErrorCode::database, "postgresql sink '" + name + "': retention: " + PQerrorMessage(own.get()), true);
    std::size_t deleted = 0;
    for (const auto& [table, spec] : known) {
      if (spec.time_column.empty() || !is_sql_identifier(table) || !is_sql_identifier(spec.time_column)) continue;
      const std::string sql = "DELETE FROM " + sql_name(table) + " WHERE ctid = ANY(ARRAY(SELECT ctid FROM " +
                              sql_name(table) + " WHERE " + sql_name(spec.time_column) +
                              "::timestamptz < $1::timestamptz LIMIT " + std::to_string(opt.retention_step_rows) + "))";
      for (;;) {
        const char* params[] = {cutoff.c_str()};
        Result r(PQexecParams(own.get(), sql.c_str(), 1, nullptr, params, nullptr, nullptr, 0));
        if (!r || PQresultStatus(r.get()) != PGRES_COMMAND_OK) {
          const std::string m = r ? PQresultErrorMessage(r.get()) : PQerrorMessage(own.get());
          if (std::string(r ? PQresultErrorField(r.get(), PG_DIAG_SQLSTATE) : "") == "42P01") break;  // no table yet
          throw Error(ErrorCode::database, "postgresql sink '" + name + "': retention: " + m, true);
        }
        const auto n = static_cast<std::size_t>(std::strtoull(PQcmdTuples(r.get()), nullptr, 10));
        deleted += n;
        if (n < opt.retention_step_rows) break;
      }
    }
    return deleted;
  }

  void start_retention_thread() {
    if (opt.retention.count() > 0 && opt.retention_interval.count() > 0)
      retention.start(opt.retention_interval, [this] { apply_retention(opt.retention); });
  }
};

PostgresSink::PostgresSink(std::string name, PostgresSinkOptions options)
    : Sink(std::move(name)), impl_(std::make_unique<Impl>()) {
  const auto bad = [&](const std::string& why) {
    throw Error(ErrorCode::invalid_argument, "postgresql sink '" + this->name() + "': " + why);
  };
  if (options.url.rfind("postgresql://", 0) != 0 && options.url.rfind("postgres://", 0) != 0)
    bad("url must start with postgresql://");
  if (options.rows_per_statement == 0) bad("rows_per_statement must be at least 1");
  if (options.retention_step_rows == 0) options.retention_step_rows = 5000;
  detail::check_sql_table_specs(options.tables, "postgresql sink '" + this->name() + "'");
  impl_->specs = sqlite_builtin_tables();
  for (const auto& [table, spec] : options.tables) impl_->specs[table] = spec;
  impl_->name = this->name();
  impl_->opt = std::move(options);
  std::string why;
  impl_->ensure_connected(why);  // not reached yet: writes answer Retry until it is
  impl_->start_retention_thread();
}

PostgresSink::~PostgresSink() {
  close();
}

std::vector<Delivery> PostgresSink::write(const std::vector<Record>& batch) {
  return impl_->write(batch);
}

void PostgresSink::flush() {
  // Every batch is committed before write() returns.
}

SinkHealth PostgresSink::healthcheck() {
  std::lock_guard lock(impl_->mu);
  if (impl_->closed) return {false, "closed"};
  std::string why;
  if (!impl_->ensure_connected(why)) return {false, why};
  Result r(PQexec(impl_->conn, "SELECT 1"));
  if (!r || PQresultStatus(r.get()) != PGRES_TUPLES_OK) return {false, failure_of(impl_->conn, r.get()).message};
  return {true, std::string("postgresql ") + PQhost(impl_->conn) + ":" + PQport(impl_->conn) + "/" + PQdb(impl_->conn)};
}

void PostgresSink::close() {
  impl_->retention.stop();
  std::lock_guard lock(impl_->mu);
  if (impl_->closed) return;
  impl_->closed = true;
  if (impl_->conn) PQfinish(impl_->conn);
  impl_->conn = nullptr;
}

std::size_t PostgresSink::apply_retention(std::chrono::hours max_age) {
  return impl_->apply_retention(max_age.count() > 0 ? max_age : impl_->opt.retention);
}

}  // namespace wis2mon
