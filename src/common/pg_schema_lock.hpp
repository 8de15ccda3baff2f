// The transaction-scoped advisory lock every wis2mon process takes before changing the schema
// of a shared PostgreSQL database (tables, columns, indexes). CREATE ... IF NOT EXISTS is not
// safe against a second session doing the same at the same moment (one of them fails on the
// catalog's unique index), which several monitors starting together on a new database do.
#pragma once

namespace wis2mon::detail {

inline constexpr const char* kPostgresSchemaLock = "SELECT pg_advisory_xact_lock(2037604658)";  // "wis2"

}  // namespace wis2mon::detail
