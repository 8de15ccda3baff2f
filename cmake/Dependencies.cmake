# Every third-party library comes from a Debian 12 package (scripts/install-deps.sh); the
# portable wheels are built against Debian 11's (scripts/build-wheels.sh), so nothing here may
# need more than those have (OpenSSL 1.1.1, curl 7.74, SQLite 3.34).
# They are linked PRIVATE: none of their types appear in public headers.
find_package(PkgConfig REQUIRED)
find_package(Threads REQUIRED)
find_package(OpenSSL 1.1.1 REQUIRED)      # digests for inline-content integrity (EVP)
find_package(ZLIB REQUIRED)
find_package(CURL REQUIRED)               # `wis2mon topics sync`
find_package(SQLite3 REQUIRED)            # durable dedup store
pkg_check_modules(LIBZIP REQUIRED IMPORTED_TARGET libzip)   # reading the topic bundle zip
pkg_check_modules(LIBPQ REQUIRED IMPORTED_TARGET libpq)     # the postgresql sink
# BUFR decoding. Debian's eccodes.pc points at a non-existent include directory, so find the
# header (in the multiarch include directory) and the library directly.
find_path(ECCODES_INCLUDE_DIR eccodes.h PATH_SUFFIXES ${CMAKE_LIBRARY_ARCHITECTURE} REQUIRED)
find_library(ECCODES_LIBRARY eccodes REQUIRED)
add_library(wis2mon_eccodes INTERFACE IMPORTED)
target_include_directories(wis2mon_eccodes SYSTEM INTERFACE ${ECCODES_INCLUDE_DIR})
target_link_libraries(wis2mon_eccodes INTERFACE ${ECCODES_LIBRARY})
find_package(LibXml2 REQUIRED)            # CAP decoding
# The MQTT subscriber: paho's asynchronous client with TLS (paho-mqtt3as).
find_path(PAHO_INCLUDE_DIR MQTTAsync.h REQUIRED)
find_library(PAHO_MQTT3AS_LIBRARY paho-mqtt3as REQUIRED)
add_library(wis2mon_paho INTERFACE IMPORTED)
target_include_directories(wis2mon_paho SYSTEM INTERFACE ${PAHO_INCLUDE_DIR})
target_link_libraries(wis2mon_paho INTERFACE ${PAHO_MQTT3AS_LIBRARY})
find_path(RAPIDJSON_INCLUDE_DIR rapidjson/document.h REQUIRED)
if(WIS2MON_BUILD_CLI)
  find_path(CLI11_INCLUDE_DIR CLI/CLI.hpp REQUIRED)
endif()
# The monitor's config file (YAML; JSON goes through RapidJSON).
pkg_check_modules(YAMLCPP REQUIRED IMPORTED_TARGET yaml-cpp)
# `wis2mon demo`'s web page and the tests' HTTP(S) fault server (not the library).
if(WIS2MON_BUILD_CLI OR WIS2MON_BUILD_TESTS)
  pkg_check_modules(HTTPLIB REQUIRED IMPORTED_TARGET cpp-httplib)
endif()
# The /metrics and /health endpoint: event-driven (epoll), so idle connections cost a socket,
# not a thread, and never hold up a probe.
pkg_check_modules(MHD REQUIRED IMPORTED_TARGET libmicrohttpd)
if(WIS2MON_BUILD_TESTS)
  find_path(DOCTEST_INCLUDE_DIR doctest/doctest.h REQUIRED)
endif()
