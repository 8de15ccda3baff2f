# Every third-party library comes from a Debian 12 package (scripts/install-deps.sh).
# They are linked PRIVATE: none of their types appear in public headers.
find_package(PkgConfig REQUIRED)
find_package(Threads REQUIRED)
find_package(OpenSSL 3 REQUIRED)          # digests for inline-content integrity (EVP)
find_package(ZLIB REQUIRED)
find_package(CURL REQUIRED)               # `wis2mon topics sync`
find_package(SQLite3 REQUIRED)            # durable dedup store
pkg_check_modules(LIBZIP REQUIRED IMPORTED_TARGET libzip)   # reading the topic bundle zip
find_path(RAPIDJSON_INCLUDE_DIR rapidjson/document.h REQUIRED)
find_path(CLI11_INCLUDE_DIR CLI/CLI.hpp REQUIRED)
if(WIS2MON_BUILD_TESTS)
  find_path(DOCTEST_INCLUDE_DIR doctest/doctest.h REQUIRED)
  pkg_check_modules(HTTPLIB REQUIRED IMPORTED_TARGET cpp-httplib)  # the tests' HTTP(S) fault server
endif()
