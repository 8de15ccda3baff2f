// PostgresDedupStore: dedup keys and processing claims in PostgreSQL, for several monitor
// processes. Every decision is one statement, so the database orders concurrent ones.
#include <libpq-fe.h>

#include <cstdlib>
#include <mutex>

#include "common/pg_schema_lock.hpp"
#include "wis2mon/dedup.hpp"
#include "wis2mon/error.hpp"

namespace wis2mon {

namespace {
struct ResultFree {
  void operator()(PGresult* r) const noexcept { PQclear(r); }
};
using Result = std::unique_ptr<PGresult, ResultFree>;
}  // namespace

struct PostgresDedupStore::Impl {
  std::string url, owner;
  std::chrono::seconds ttl, lease;
  std::mutex mu;
  PGconn* conn = nullptr;

  ~Impl() {
    if (conn) PQfinish(conn);
  }

  void connect() {
    if (conn && PQstatus(conn) == CONNECTION_OK) return;
    if (conn) PQfinish(conn);
    const char* keys[] = {"dbname", "connect_timeout", "application_name", nullptr};
    const char* values[] = {url.c_str(), "10", "wis2mon-dedup", nullptr};
    conn = PQconnectdbParams(keys, values, 1);
    PQsetNoticeProcessor(
        conn, [](void*, const char*) {}, nullptr);  // "already exists, skipping"
    if (PQstatus(conn) != CONNECTION_OK) {
      std::string why = PQerrorMessage(conn);
      while (!why.empty() && why.back() == '\n') why.pop_back();
      PQfinish(conn);
      conn = nullptr;
      throw Error(ErrorCode::database, "dedup store: PostgreSQL not reached: " + why, true);
    }
  }

  // One statement with text parameters; throws Error(database, retriable) when it fails.
  Result run(const char* sql, std::initializer_list<std::string> params) {
    connect();
    std::vector<const char*> p;
    for (const auto& s : params) p.push_back(s.c_str());
    Result r(PQexecParams(conn, sql, static_cast<int>(p.size()), nullptr, p.data(), nullptr, nullptr, 0));
    const auto status = r ? PQresultStatus(r.get()) : PGRES_FATAL_ERROR;
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
      std::string why = r ? PQresultErrorMessage(r.get()) : PQerrorMessage(conn);
      while (!why.empty() && why.back() == '\n') why.pop_back();
      throw Error(ErrorCode::database, "dedup store: " + why, true);
    }
    return r;
  }
};

PostgresDedupStore::PostgresDedupStore(const std::string& url, std::chrono::seconds ttl, std::string owner,
                                       std::chrono::seconds lease)
    : impl_(std::make_unique<Impl>()) {
  if (url.rfind("postgresql://", 0) != 0 && url.rfind("postgres://", 0) != 0)
    throw Error(ErrorCode::invalid_argument, "dedup store: url must start with postgresql://");
  if (owner.empty()) throw Error(ErrorCode::invalid_argument, "dedup store: an owner name is needed");
  impl_->url = url;
  impl_->owner = std::move(owner);
  impl_->ttl = ttl;
  impl_->lease = lease;
  std::lock_guard lock(impl_->mu);
  // Under the schema lock: several monitors starting together on a new database.
  impl_->run("BEGIN", {});
  try {
    impl_->run(detail::kPostgresSchemaLock, {});
    impl_->run(
        "CREATE TABLE IF NOT EXISTS wis2mon_dedup (key TEXT PRIMARY KEY, seconds BIGINT NOT NULL, nanos INTEGER NOT "
        "NULL, expires BIGINT NOT NULL)",
        {});
    impl_->run(
        "CREATE TABLE IF NOT EXISTS wis2mon_dedup_claims (key TEXT PRIMARY KEY, owner TEXT NOT NULL, expires BIGINT "
        "NOT NULL)",
        {});
    impl_->run("COMMIT", {});
  } catch (...) {
    if (impl_->conn) PQclear(PQexec(impl_->conn, "ROLLBACK"));
    throw;
  }
}

PostgresDedupStore::~PostgresDedupStore() = default;

std::optional<Timestamp> PostgresDedupStore::get(std::string_view key, Timestamp now) {
  std::lock_guard lock(impl_->mu);
  const auto r = impl_->run("SELECT seconds, nanos FROM wis2mon_dedup WHERE key = $1 AND expires > $2",
                            {std::string(key), std::to_string(now.seconds)});
  if (PQntuples(r.get()) == 0) return std::nullopt;
  return Timestamp{std::strtoll(PQgetvalue(r.get(), 0, 0), nullptr, 10),
                   static_cast<std::int32_t>(std::strtol(PQgetvalue(r.get(), 0, 1), nullptr, 10))};
}

void PostgresDedupStore::put(std::string_view key, Timestamp value, Timestamp now) {
  std::lock_guard lock(impl_->mu);
  // An older value never rolls back a newer one another process recorded (an expired one
  // gives way). The claim is left to run out: deleting it could let a process whose check
  // read the table just before this commit take the item again.
  impl_->run(
      "INSERT INTO wis2mon_dedup AS d (key, seconds, nanos, expires) VALUES ($1, $2, $3, $4) ON CONFLICT (key) DO "
      "UPDATE SET seconds = EXCLUDED.seconds, nanos = EXCLUDED.nanos, expires = EXCLUDED.expires WHERE "
      "(EXCLUDED.seconds, EXCLUDED.nanos) >= (d.seconds, d.nanos) OR d.expires <= $5",
      {std::string(key), std::to_string(value.seconds), std::to_string(value.nanos),
       std::to_string(now.seconds + impl_->ttl.count()), std::to_string(now.seconds)});
}

bool PostgresDedupStore::try_claim(std::string_view key, Timestamp value, Timestamp now) {
  std::lock_guard lock(impl_->mu);
  // One statement: no claim when a value at least this one is recorded; else a new claim, or
  // one taken over when it ran out or is this owner's own (a restarted monitor).
  const auto r = impl_->run(
      "INSERT INTO wis2mon_dedup_claims AS c (key, owner, expires) SELECT $1, $2, $3 WHERE NOT EXISTS (SELECT 1 FROM "
      "wis2mon_dedup d WHERE d.key = $1 AND d.expires > $4 AND (d.seconds, d.nanos) >= ($5::bigint, $6::integer)) "
      "ON CONFLICT (key) DO UPDATE SET owner = EXCLUDED.owner, expires = EXCLUDED.expires WHERE c.expires <= $4 OR "
      "c.owner = EXCLUDED.owner RETURNING c.key",
      {std::string(key), impl_->owner, std::to_string(now.seconds + impl_->lease.count()), std::to_string(now.seconds),
       std::to_string(value.seconds), std::to_string(value.nanos)});
  return PQntuples(r.get()) == 1;
}

void PostgresDedupStore::release_claim(std::string_view key) {
  std::lock_guard lock(impl_->mu);
  impl_->run("DELETE FROM wis2mon_dedup_claims WHERE key = $1 AND owner = $2", {std::string(key), impl_->owner});
}

std::size_t PostgresDedupStore::purge_expired(Timestamp now) {
  std::lock_guard lock(impl_->mu);
  const auto a = impl_->run("DELETE FROM wis2mon_dedup WHERE expires <= $1", {std::to_string(now.seconds)});
  impl_->run("DELETE FROM wis2mon_dedup_claims WHERE expires <= $1", {std::to_string(now.seconds)});
  return static_cast<std::size_t>(std::strtoull(PQcmdTuples(a.get()), nullptr, 10));
}

std::size_t PostgresDedupStore::size() {
  std::lock_guard lock(impl_->mu);
  const auto r = impl_->run("SELECT count(*) FROM wis2mon_dedup", {});
  return static_cast<std::size_t>(std::strtoull(PQgetvalue(r.get(), 0, 0), nullptr, 10));
}

}  // namespace wis2mon
