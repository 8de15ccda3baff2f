/* The C API from C: behaviour of every entry point, and failures forced through each of them
 * (NULL handles, bad arguments, bad configuration, closed monitors, out-of-range indexes).
 * Each failure must come back as a negative status with a message, never as a crash or an
 * exception (a C program cannot catch one: it would abort).
 *
 * Usage: test_capi [BASE_URL FILE SHA256_BASE64]
 * With the arguments (the ctest wrapper starts a loopback HTTP server), downloads are checked
 * against BASE_URL/FILE whose SHA-256 is given; without them that part is skipped. */
#include <eccodes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wis2mon.h"

static int failures = 0;
static int checks = 0;

#define CHECK(cond)                                                            \
  do {                                                                         \
    ++checks;                                                                  \
    if (!(cond)) {                                                             \
      ++failures;                                                              \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
    }                                                                          \
  } while (0)

/* A failing call: a negative status of the expected code and a message naming the function. */
#define CHECK_FAILS(call, code, fn)                                                                \
  do {                                                                                             \
    int rc_ = (call);                                                                              \
    ++checks;                                                                                      \
    if (rc_ != (code) || strstr(wis2mon_last_error(), fn) == NULL) {                               \
      ++failures;                                                                                  \
      fprintf(stderr, "%s:%d: %s gave %d (%s), last error '%s'\n", __FILE__, __LINE__, #call, rc_, \
              wis2mon_strerror(rc_), wis2mon_last_error());                                        \
    }                                                                                              \
  } while (0)

static const char* valid_template =
    "{\"id\":\"6f0b4a5e-1c2d-4e3f-9a8b-7c6d5e4f3a2b\","
    "\"conformsTo\":[\"http://wis.wmo.int/spec/wnm/1/conf/core\"],\"type\":\"Feature\",\"geometry\":null,"
    "\"properties\":{\"data_id\":\"de-dwd/data/core/weather/surface-based-observations/synop/%s\","
    "\"metadata_id\":\"urn:wmo:md:de-dwd:synop\",\"pubtime\":\"2026-01-01T00:02:16Z\","
    "\"datetime\":\"2026-01-01T00:00:00Z\"%s},"
    "\"links\":[{\"href\":\"%s\",\"rel\":\"canonical\",\"type\":\"application/octet-stream\"}]}";

static const char* topic = "origin/a/wis2/de-dwd/data/core/weather/surface-based-observations/synop";

static void notification_json(char* out, size_t size, const char* item, const char* integrity, const char* url) {
  snprintf(out, size, valid_template, item, integrity, url);
}

static void test_library(void) {
  CHECK(strlen(wis2mon_version()) >= 5);
  CHECK(strcmp(wis2mon_strerror(WIS2MON_OK), "ok") == 0);
  CHECK(strcmp(wis2mon_strerror(WIS2MON_EINVAL), "invalid argument") == 0);
  CHECK(strcmp(wis2mon_strerror(12345), "unknown status code") == 0);
  wis2mon_free(NULL);
}

static void test_notifications(void) {
  char json[2048];
  wis2mon_notification* n = NULL;
  const char *path = NULL, *rule = NULL, *message = NULL;
  char* report = NULL;

  notification_json(json, sizeof json, "item-1", "", "https://example.org/data/1.bufr4");
  CHECK(wis2mon_notification_parse(json, strlen(json), WIS2MON_STRICT, topic, &n) == WIS2MON_OK);
  CHECK(wis2mon_notification_valid(n) == 1);
  CHECK(wis2mon_notification_issue_count(n, 0) == 0);
  CHECK(strcmp(wis2mon_notification_get(n, "data_id"),
               "de-dwd/data/core/weather/surface-based-observations/synop/item-1") == 0);
  CHECK(strcmp(wis2mon_notification_get(n, "pubtime"), "2026-01-01T00:02:16Z") == 0);
  CHECK(strcmp(wis2mon_notification_get(n, "data_url"), "https://example.org/data/1.bufr4") == 0);
  CHECK(strcmp(wis2mon_notification_get(n, "operation"), "new") == 0);
  CHECK(wis2mon_notification_get(n, "integrity_method") == NULL); /* the message has none */
  CHECK(strstr(wis2mon_last_error(), "has no integrity_method") != NULL);
  CHECK(wis2mon_notification_get(n, "no_such_field") == NULL);
  CHECK(strstr(wis2mon_last_error(), "no field 'no_such_field'") != NULL);
  CHECK(wis2mon_notification_report_json(n, &report) == WIS2MON_OK);
  CHECK(strcmp(report, "{\"valid\":true,\"errors\":[],\"warnings\":[]}") == 0);
  wis2mon_free(report);
  wis2mon_notification_destroy(n);

  /* Invalid messages are data: OK, a handle, and the reasons. */
  CHECK(wis2mon_notification_parse("{\"type\":\"Feature\"}", 18, WIS2MON_LENIENT, NULL, &n) == WIS2MON_OK);
  CHECK(wis2mon_notification_valid(n) == 0);
  CHECK(wis2mon_notification_issue_count(n, 0) >= 3);
  CHECK(wis2mon_notification_issue(n, 0, 0, &path, &rule, &message) == WIS2MON_OK);
  CHECK(path != NULL && rule != NULL && strlen(message) > 0);
  CHECK_FAILS(wis2mon_notification_issue(n, 0, 999, NULL, NULL, NULL), WIS2MON_ERANGE, "wis2mon_notification_issue");
  wis2mon_notification_destroy(n);
  CHECK(wis2mon_notification_parse("not json at all", 15, WIS2MON_LENIENT, NULL, &n) == WIS2MON_OK);
  CHECK(wis2mon_notification_valid(n) == 0);
  wis2mon_notification_destroy(n);

  /* Forced failures. */
  CHECK_FAILS(wis2mon_notification_parse(json, strlen(json), 7, NULL, &n), WIS2MON_EINVAL,
              "wis2mon_notification_parse");
  CHECK(n == NULL);
  CHECK_FAILS(wis2mon_notification_parse(NULL, 10, WIS2MON_LENIENT, NULL, &n), WIS2MON_EINVAL,
              "wis2mon_notification_parse");
  CHECK_FAILS(wis2mon_notification_parse(json, 1, WIS2MON_LENIENT, NULL, NULL), WIS2MON_EINVAL,
              "wis2mon_notification_parse");
  CHECK_FAILS(wis2mon_notification_valid(NULL), WIS2MON_EINVAL, "wis2mon_notification_valid");
  CHECK(wis2mon_notification_issue_count(NULL, 0) == 0);
  CHECK_FAILS(wis2mon_notification_issue(NULL, 0, 0, NULL, NULL, NULL), WIS2MON_EINVAL, "wis2mon_notification_issue");
  CHECK(wis2mon_notification_get(NULL, "id") == NULL);
  CHECK_FAILS(wis2mon_notification_report_json(NULL, &report), WIS2MON_EINVAL, "wis2mon_notification_report_json");
  CHECK_FAILS(wis2mon_notification_report_json(n, NULL), WIS2MON_EINVAL, "wis2mon_notification_report_json");
  wis2mon_notification_destroy(NULL);
}

static void test_topics(void) {
  int valid = -1, matches = -1;
  char* report = NULL;
  CHECK(wis2mon_topic_validate(topic, WIS2MON_STRICT, &valid, &report) == WIS2MON_OK);
  CHECK(valid == 1);
  CHECK(strstr(report, "\"valid\":true") != NULL);
  wis2mon_free(report);
  CHECK(wis2mon_topic_validate("origin/a/wis2/x", WIS2MON_LENIENT, &valid, NULL) == WIS2MON_OK);
  CHECK(valid == 0);
  CHECK(wis2mon_topic_match("+/a/wis2/+/data/#", topic, &matches) == WIS2MON_OK);
  CHECK(matches == 1);
  CHECK(wis2mon_topic_match("cache/a/wis2/#", topic, &matches) == WIS2MON_OK);
  CHECK(matches == 0);
  CHECK_FAILS(wis2mon_topic_match("a/#/b", topic, &matches), WIS2MON_EINVAL, "wis2mon_topic_match");
  CHECK_FAILS(wis2mon_topic_match(NULL, topic, &matches), WIS2MON_EINVAL, "wis2mon_topic_match");
  CHECK_FAILS(wis2mon_topic_match("#", NULL, &matches), WIS2MON_EINVAL, "wis2mon_topic_match");
  CHECK_FAILS(wis2mon_topic_match("#", topic, NULL), WIS2MON_EINVAL, "wis2mon_topic_match");
  CHECK_FAILS(wis2mon_topic_validate(NULL, WIS2MON_LENIENT, &valid, NULL), WIS2MON_EINVAL, "wis2mon_topic_validate");
  CHECK_FAILS(wis2mon_topic_validate(topic, WIS2MON_LENIENT, NULL, NULL), WIS2MON_EINVAL, "wis2mon_topic_validate");
  CHECK_FAILS(wis2mon_topic_validate(topic, 9, &valid, NULL), WIS2MON_EINVAL, "wis2mon_topic_validate");
}

static void test_wme(void) {
  const char* event =
      "{\"id\":\"6e1c7f9f-dd6c-48d9-bbc4-aef0625f1fb8\",\"specversion\":\"1.0\",\"type\":\"int.wmo.wis.wme.event\","
      "\"source\":\"xx-example\",\"subject\":\"de-dwd\",\"time\":\"2026-11-30T06:00:00Z\","
      "\"datacontenttype\":\"application/json\","
      "\"dataschema\":\"https://schemas.wmo.int/wme/1.0.0/schemas/wis2-event-message-bundled.json\","
      "\"data\":{\"conformsTo\":[\"http://wis.wmo.int/spec/wme/1/conf/monitoring-event-message-core\"],"
      "\"severity\":\"INFO\",\"content\":{\"title\":\"Availability\"}}}";
  int valid = -1;
  char* report = NULL;
  CHECK(wis2mon_wme_validate(event, WIS2MON_STRICT, &valid, &report) == WIS2MON_OK);
  CHECK(valid == 1);
  CHECK(strstr(report, "\"valid\":true") != NULL);
  wis2mon_free(report);
  CHECK(wis2mon_wme_validate("{\"specversion\":\"1.0\"}", WIS2MON_LENIENT, &valid, &report) == WIS2MON_OK);
  CHECK(valid == 0);
  CHECK(strstr(report, "\"valid\":false") != NULL);
  wis2mon_free(report);
  CHECK_FAILS(wis2mon_wme_validate(NULL, WIS2MON_LENIENT, &valid, NULL), WIS2MON_EINVAL, "wis2mon_wme_validate");
  CHECK_FAILS(wis2mon_wme_validate(event, WIS2MON_LENIENT, NULL, NULL), WIS2MON_EINVAL, "wis2mon_wme_validate");
}

/* One synoptic report built with ecCodes' own sample. */
static unsigned char* make_bufr(size_t* size) {
  long descriptors[] = {301150, 307096};
  const void* msg = NULL;
  unsigned char* copy;
  codes_handle* h = codes_bufr_handle_new_from_samples(NULL, "BUFR4");
  if (!h) return NULL;
  codes_set_long(h, "masterTablesVersionNumber", 30);
  codes_set_long(h, "numberOfSubsets", 1);
  codes_set_long(h, "compressedData", 0);
  codes_set_long_array(h, "unexpandedDescriptors", descriptors, 2);
  codes_set_long(h, "#1#blockNumber", 10);
  codes_set_long(h, "#1#stationNumber", 384);
  codes_set_double(h, "#1#airTemperature", 285.15);
  codes_set_long(h, "#1#year", 2026);
  codes_set_long(h, "#1#month", 1);
  codes_set_long(h, "#1#day", 2);
  codes_set_long(h, "#1#hour", 12);
  codes_set_long(h, "#1#minute", 0);
  if (codes_set_long(h, "pack", 1) != 0 || codes_get_message(h, &msg, size) != 0) {
    codes_handle_delete(h);
    return NULL;
  }
  copy = malloc(*size);
  memcpy(copy, msg, *size);
  codes_handle_delete(h);
  return copy;
}

static void test_decoders(void) {
  size_t size = 0, i;
  unsigned char* bufr = make_bufr(&size);
  wis2mon_records* records = NULL;
  const wis2mon_record* r;
  wis2mon_value v;
  const char* name = NULL;
  char* alert = NULL;
  int message_index = -1;
  static const char cap[] =
      "<alert xmlns=\"urn:oasis:names:tc:emergency:cap:1.2\"><identifier>KSTO1055887203</identifier>"
      "<sender>KSTO@NWS.NOAA.GOV</sender><sent>2003-06-17T14:57:00-07:00</sent><status>Actual</status>"
      "<msgType>Alert</msgType><scope>Public</scope><info><category>Met</category>"
      "<event>SEVERE THUNDERSTORM</event><urgency>Immediate</urgency><severity>Severe</severity>"
      "<certainty>Observed</certainty><area><areaDesc>EXTREME NORTH CENTRAL TUOLUMNE COUNTY</areaDesc>"
      "<polygon>38.47,-120.14 38.34,-119.95 38.52,-119.74 38.62,-119.89 38.47,-120.14</polygon></area></info></alert>";

  CHECK(bufr != NULL);
  CHECK(wis2mon_decode_bufr(bufr, size, &records) == WIS2MON_OK);
  CHECK(wis2mon_records_count(records) == 1);
  CHECK(wis2mon_records_error_count(records) == 0);
  r = wis2mon_records_at(records, 0);
  CHECK(strcmp(wis2mon_record_table(r), "surface_obs") == 0);
  CHECK(wis2mon_record_get(r, "wigos_station_identifier", &v) == WIS2MON_OK);
  CHECK(v.type == WIS2MON_FIELD_STRING && strcmp(v.string, "0-20000-0-10384") == 0);
  CHECK(wis2mon_record_get(r, "air_temperature", &v) == WIS2MON_OK);
  CHECK(v.type == WIS2MON_FIELD_REAL && v.real == 285.15);
  CHECK(wis2mon_record_get(r, "station_pressure", &v) == WIS2MON_OK);
  CHECK(v.type == WIS2MON_FIELD_NULL); /* missing is null */
  CHECK(wis2mon_record_get(r, "observed_at", &v) == WIS2MON_OK);
  CHECK(v.type == WIS2MON_FIELD_TIME && strcmp(v.string, "2026-01-02T12:00:00Z") == 0);
  CHECK(wis2mon_record_get(r, "block_number", &v) == WIS2MON_OK);
  CHECK(v.type == WIS2MON_FIELD_INT && v.integer == 10);
  CHECK(wis2mon_record_field_count(r) >= 20);
  for (i = 0; i < wis2mon_record_field_count(r); ++i) CHECK(wis2mon_record_field(r, i, &name, &v) == WIS2MON_OK);
  CHECK(wis2mon_record_field(r, 0, &name, &v) == WIS2MON_OK && strcmp(name, "wigos_station_identifier") == 0);
  CHECK(strstr(wis2mon_record_json(r), "\"air_temperature\":285.15") != NULL);
  CHECK_FAILS(wis2mon_record_get(r, "nope", &v), WIS2MON_ENOTFOUND, "wis2mon_record_get");
  CHECK_FAILS(wis2mon_record_field(r, 999, &name, &v), WIS2MON_ERANGE, "wis2mon_record_field");
  CHECK(wis2mon_records_at(records, 1) == NULL);
  CHECK(wis2mon_records_error(records, 0, NULL) == NULL);
  wis2mon_records_destroy(records);

  /* A broken message is an error entry, not a failed call. */
  CHECK(wis2mon_decode_bufr("BUFR", 4, &records) == WIS2MON_OK);
  CHECK(wis2mon_records_count(records) == 0);
  CHECK(wis2mon_records_error_count(records) == 1);
  CHECK(strlen(wis2mon_records_error(records, 0, &message_index)) > 0);
  wis2mon_records_destroy(records);
  free(bufr);

  CHECK(wis2mon_decode_cap(cap, sizeof cap - 1, &records, &alert) == WIS2MON_OK);
  CHECK(wis2mon_records_count(records) == 2); /* one cap_alerts, one cap_areas */
  CHECK(strcmp(wis2mon_record_table(wis2mon_records_at(records, 0)), "cap_alerts") == 0);
  CHECK(strcmp(wis2mon_record_table(wis2mon_records_at(records, 1)), "cap_areas") == 0);
  CHECK(strstr(alert, "\"identifier\":\"KSTO1055887203\"") != NULL);
  CHECK(strstr(alert, "\"valid\":true") != NULL);
  wis2mon_free(alert);
  wis2mon_records_destroy(records);
  /* Hostile XML is refused with a reason. */
  {
    static const char xxe[] =
        "<?xml version=\"1.0\"?><!DOCTYPE a [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>"
        "<alert xmlns=\"urn:oasis:names:tc:emergency:cap:1.2\">&x;</alert>";
    CHECK(wis2mon_decode_cap(xxe, sizeof xxe - 1, &records, &alert) == WIS2MON_OK);
    CHECK(wis2mon_records_error_count(records) >= 1);
    CHECK(strstr(alert, "\"valid\":false") != NULL);
    CHECK(strstr(alert, "root:") == NULL);
    wis2mon_free(alert);
    wis2mon_records_destroy(records);
  }

  /* An envelope of two alerts, the second empty: the first's records, the second's error by
   * its position; strict mode makes a time without its zone offset an error. */
  {
    static const char envelope[] =
        "<EDXLDistribution xmlns=\"urn:oasis:names:tc:emergency:EDXL:DE:1.0\"><contentObject><xmlContent>"
        "<embeddedXMLContent><alert xmlns=\"urn:oasis:names:tc:emergency:cap:1.2\"><identifier>E-1</identifier>"
        "<sender>s@example.org</sender><sent>2025-11-23T10:00:00</sent><status>Test</status><msgType>Alert</msgType>"
        "<scope>Public</scope></alert></embeddedXMLContent></xmlContent></contentObject>"
        "<contentObject><xmlContent><embeddedXMLContent><alert xmlns=\"urn:oasis:names:tc:emergency:cap:1.2\"/>"
        "</embeddedXMLContent></xmlContent></contentObject></EDXLDistribution>";
    char* doc = NULL;
    CHECK(wis2mon_decode_cap_document(envelope, sizeof envelope - 1, WIS2MON_LENIENT, &records, &doc) == WIS2MON_OK);
    CHECK(wis2mon_records_count(records) == 1); /* the first alert's one row (no info) */
    CHECK(wis2mon_records_error_count(records) == 1);
    CHECK(strstr(wis2mon_records_error(records, 0, &message_index), "empty") != NULL);
    CHECK(message_index == 2);
    CHECK(strstr(doc, "\"container\":\"EDXLDistribution\"") != NULL);
    CHECK(strstr(doc, "\"position\":2") != NULL);
    CHECK(strstr(doc, "no zone offset; read as UTC") != NULL);
    wis2mon_free(doc);
    wis2mon_records_destroy(records);
    CHECK(wis2mon_decode_cap_document(envelope, sizeof envelope - 1, WIS2MON_STRICT, &records, NULL) == WIS2MON_OK);
    CHECK(wis2mon_records_error_count(records) == 2);
    CHECK(strstr(wis2mon_records_error(records, 0, &message_index), "no zone offset") != NULL);
    CHECK(message_index == 1);
    wis2mon_records_destroy(records);
    CHECK_FAILS(wis2mon_decode_cap_document(envelope, 4, 7, &records, NULL), WIS2MON_EINVAL,
                "wis2mon_decode_cap_document");
  }

  CHECK_FAILS(wis2mon_decode_bufr(NULL, 5, &records), WIS2MON_EINVAL, "wis2mon_decode_bufr");
  CHECK_FAILS(wis2mon_decode_bufr("x", 1, NULL), WIS2MON_EINVAL, "wis2mon_decode_bufr");
  CHECK_FAILS(wis2mon_decode_cap(NULL, 5, &records, NULL), WIS2MON_EINVAL, "wis2mon_decode_cap");
  CHECK_FAILS(wis2mon_decode_cap("x", 1, NULL, NULL), WIS2MON_EINVAL, "wis2mon_decode_cap");
  CHECK(wis2mon_records_count(NULL) == 0);
  CHECK(wis2mon_records_error_count(NULL) == 0);
  CHECK(wis2mon_records_at(NULL, 0) == NULL);
  CHECK(wis2mon_records_error(NULL, 0, NULL) == NULL);
  CHECK(wis2mon_record_table(NULL) == NULL);
  CHECK(wis2mon_record_field_count(NULL) == 0);
  CHECK(wis2mon_record_json(NULL) == NULL);
  CHECK_FAILS(wis2mon_record_field(NULL, 0, NULL, NULL), WIS2MON_EINVAL, "wis2mon_record_field");
  CHECK_FAILS(wis2mon_record_get(NULL, "x", NULL), WIS2MON_EINVAL, "wis2mon_record_get");
  wis2mon_records_destroy(NULL);
}

static int callbacks_done = 0;
static void on_download(wis2mon_download* result, void* user_data) {
  int* ok = (int*)user_data;
  if (wis2mon_download_status(result) == WIS2MON_DOWNLOAD_OK)
    ++*ok;
  else /* said, so that a failure in CI tells why */
    printf("test_capi: download of %s: %s (%s)\n", wis2mon_download_url(result) ? wis2mon_download_url(result) : "?",
           wis2mon_download_status_text(result), wis2mon_download_error(result) ? wis2mon_download_error(result) : "");
  ++callbacks_done;
  wis2mon_download_destroy(result);
}

static void test_downloads(const char* base_url, const char* file, const char* sha256) {
  wis2mon_downloader* d = NULL;
  wis2mon_download* r = NULL;
  wis2mon_notification* n = NULL;
  char url[512], json[2048], integrity[256];
  size_t size = 0, done = 0, pending = 0;
  int ok = 0, i;

  CHECK_FAILS(wis2mon_downloader_new("{\"max_retries\": \"x\"}", &d), WIS2MON_EINVAL, "wis2mon_downloader_new");
  CHECK_FAILS(wis2mon_downloader_new("{\"colour\": 1}", &d), WIS2MON_EINVAL, "wis2mon_downloader_new");
  CHECK_FAILS(wis2mon_downloader_new("[1,2", &d), WIS2MON_EPARSE, "wis2mon_downloader_new");
  CHECK_FAILS(wis2mon_downloader_new(NULL, NULL), WIS2MON_EINVAL, "wis2mon_downloader_new");
  CHECK(wis2mon_downloader_new("{\"max_retries\": 0, \"connect_timeout\": 2}", &d) == WIS2MON_OK);

  /* A failed download is a result with a status, not a failed call. */
  CHECK(wis2mon_downloader_fetch(d, "http://127.0.0.1:1/nothing", NULL, NULL, &r) == WIS2MON_OK);
  CHECK(wis2mon_download_status(r) == WIS2MON_DOWNLOAD_CONNECTION_ERROR);
  CHECK(strlen(wis2mon_download_error(r)) > 0);
  CHECK(wis2mon_download_data(r, &size) != NULL && size == 0);
  wis2mon_download_destroy(r);
  CHECK(wis2mon_downloader_fetch(d, "file:///etc/passwd", NULL, NULL, &r) == WIS2MON_OK);
  CHECK(wis2mon_download_status(r) == WIS2MON_DOWNLOAD_REFUSED);
  wis2mon_download_destroy(r);

  CHECK_FAILS(wis2mon_downloader_fetch(d, NULL, NULL, NULL, &r), WIS2MON_EINVAL, "wis2mon_downloader_fetch");
  CHECK_FAILS(wis2mon_downloader_fetch(d, "http://x", "sha256", NULL, &r), WIS2MON_EINVAL, "wis2mon_downloader_fetch");
  CHECK_FAILS(wis2mon_downloader_fetch(NULL, "http://x", NULL, NULL, &r), WIS2MON_EINVAL, "wis2mon_downloader_fetch");
  CHECK_FAILS(wis2mon_downloader_fetch(d, "http://x", NULL, NULL, NULL), WIS2MON_EINVAL, "wis2mon_downloader_fetch");
  CHECK_FAILS(wis2mon_downloader_submit(d, "http://x", NULL, NULL, NULL, NULL), WIS2MON_EINVAL,
              "wis2mon_downloader_submit");
  CHECK_FAILS(wis2mon_downloader_submit(NULL, "http://x", NULL, NULL, on_download, &ok), WIS2MON_EINVAL,
              "wis2mon_downloader_submit");
  CHECK_FAILS(wis2mon_downloader_poll(NULL, 0, &done, NULL), WIS2MON_EINVAL, "wis2mon_downloader_poll");
  CHECK_FAILS(wis2mon_downloader_fetch_notification(d, NULL, &r), WIS2MON_EINVAL,
              "wis2mon_downloader_fetch_notification");
  CHECK_FAILS(wis2mon_download_status(NULL), WIS2MON_EINVAL, "wis2mon_download_status");
  CHECK(wis2mon_download_url(NULL) == NULL && wis2mon_download_error(NULL) == NULL);
  CHECK(wis2mon_download_status_text(NULL) == NULL && wis2mon_download_http_code(NULL) == 0);
  CHECK(wis2mon_download_data(NULL, &size) == NULL && size == 0);
  wis2mon_download_destroy(NULL);

  if (base_url) {
    snprintf(url, sizeof url, "%s/%s", base_url, file);
    CHECK(wis2mon_downloader_fetch(d, url, "sha256", sha256, &r) == WIS2MON_OK);
    CHECK(wis2mon_download_status(r) == WIS2MON_DOWNLOAD_OK);
    CHECK(strcmp(wis2mon_download_status_text(r), "ok") == 0);
    CHECK(wis2mon_download_http_code(r) == 200);
    CHECK(wis2mon_download_data(r, &size) != NULL && size > 0);
    wis2mon_download_destroy(r);
    /* A wrong digest: integrity_failed, and no data. */
    CHECK(wis2mon_downloader_fetch(d, url, "sha256", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", &r) == WIS2MON_OK);
    CHECK(wis2mon_download_status(r) == WIS2MON_DOWNLOAD_INTEGRITY_FAILED);
    wis2mon_download_destroy(r);
    /* Through a notification. */
    snprintf(integrity, sizeof integrity, ",\"integrity\":{\"method\":\"sha256\",\"value\":\"%s\"}", sha256);
    notification_json(json, sizeof json, "item-2", integrity, url);
    CHECK(wis2mon_notification_parse(json, strlen(json), WIS2MON_STRICT, NULL, &n) == WIS2MON_OK);
    CHECK(wis2mon_notification_valid(n) == 1);
    CHECK(wis2mon_downloader_fetch_notification(d, n, &r) == WIS2MON_OK);
    CHECK(wis2mon_download_status(r) == WIS2MON_DOWNLOAD_OK);
    CHECK(strcmp(wis2mon_download_url(r), url) == 0);
    wis2mon_download_destroy(r);
    wis2mon_notification_destroy(n);
    /* Batch: callbacks run in poll, on this thread. */
    for (i = 0; i < 20; ++i) CHECK(wis2mon_downloader_submit(d, url, "sha256", sha256, on_download, &ok) == WIS2MON_OK);
    for (i = 0; i < 200 && callbacks_done < 20; ++i)
      CHECK(wis2mon_downloader_poll(d, 100, &done, &pending) == WIS2MON_OK);
    CHECK(callbacks_done == 20);
    CHECK(ok == 20);
    CHECK(pending == 0);
  } else {
    printf("test_capi: no HTTP server given, successful downloads not checked\n");
  }
  wis2mon_downloader_destroy(d);
  wis2mon_downloader_destroy(NULL);
}

struct seen {
  int records;
  int retry_once;
};

static int on_record(const wis2mon_record* record, void* user_data) {
  struct seen* s = (struct seen*)user_data;
  wis2mon_value v;
  if (strcmp(wis2mon_record_table(record), "notifications") != 0) return WIS2MON_REJECTED;
  if (wis2mon_record_get(record, "data_id", &v) != WIS2MON_OK || v.type != WIS2MON_FIELD_STRING)
    return WIS2MON_REJECTED;
  if (s->retry_once) { /* the first answer is Retry: the record must come back */
    s->retry_once = 0;
    return WIS2MON_RETRY;
  }
  ++s->records;
  return WIS2MON_DELIVERED;
}

/* A monitor configuration: one pipeline "all" taking everything, its spool in dir. */
static void monitor_config(char* out, size_t size, const char* dir, const char* spool, const char* dedup) {
  snprintf(out, size,
           "{\"monitor\": {\"spool\": \"%s/%s\", \"status_interval\": \"0s\"},"
           " \"pipelines\": [{\"name\": \"all\", \"filters\": [\"#\"], \"dedup\": \"%s\"}]}",
           dir, spool, dedup);
}

static void test_monitor(const char* dir) {
  wis2mon_monitor* m = NULL;
  struct seen s = {0, 1};
  char config[1024], json[2048], item[32], *text = NULL;
  size_t handled = 0;
  int i;

  monitor_config(config, sizeof config, dir, "spool.db", "data_id_pubtime");
  CHECK(wis2mon_monitor_new(config, &m) == WIS2MON_OK);
  CHECK(wis2mon_monitor_add_callback_sink(m, "mine", on_record, &s) == WIS2MON_OK);
  for (i = 0; i < 10; ++i) {
    snprintf(item, sizeof item, "item-%d", i % 8); /* two repeats: dedup drops them */
    notification_json(json, sizeof json, item, "", "https://example.org/x");
    CHECK(wis2mon_monitor_push(m, topic, json, strlen(json)) == WIS2MON_OK);
  }
  CHECK(wis2mon_monitor_push(m, topic, "garbage", 7) == WIS2MON_OK); /* invalid: counted */
  CHECK_FAILS(wis2mon_monitor_add_callback_sink(m, "late", on_record, &s), WIS2MON_ESTATE,
              "wis2mon_monitor_add_callback_sink");
  CHECK(wis2mon_monitor_drain(m, 30000) == WIS2MON_OK);
  CHECK(wis2mon_monitor_poll(m, 0, &handled) == WIS2MON_OK);
  CHECK(s.records == 8);
  CHECK(wis2mon_monitor_stats_json(m, &text) == WIS2MON_OK);
  CHECK(strstr(text, "\"received\":11") != NULL);
  CHECK(strstr(text, "\"invalid\":1") != NULL);
  CHECK(strstr(text, "\"duplicates\":2") != NULL);
  wis2mon_free(text);
  CHECK(wis2mon_monitor_metrics_text(m, &text) == WIS2MON_OK);
  CHECK(strstr(text, "wmo_wis2_gb_messages_received_total{centre_id=\"de-dwd\"} 11") != NULL);
  wis2mon_free(text);
  /* The invalid message is a dead letter of the validate stage, with its payload and reason. */
  CHECK(wis2mon_monitor_dead_letters_json(m, 10, "validate", &text) == WIS2MON_OK);
  CHECK(strstr(text, "\"sink\":\"validate\"") != NULL);
  CHECK(strstr(text, "\"payload\":\"garbage\"") != NULL);
  CHECK(strstr(text, "\"reason\":\"") != NULL);
  wis2mon_free(text);
  CHECK(wis2mon_monitor_dead_letters_json(m, 10, "mine", &text) == WIS2MON_OK);
  CHECK(strcmp(text, "[]") == 0);
  wis2mon_free(text);
  CHECK(wis2mon_monitor_retry_dead_letters(m, "validate", &handled) == WIS2MON_OK);
  CHECK(handled == 1); /* back into the spool: refused again, a dead letter again */
  CHECK(wis2mon_monitor_drain(m, 30000) == WIS2MON_OK);
  CHECK(wis2mon_monitor_purge_dead_letters(m, NULL, &handled) == WIS2MON_OK);
  CHECK(handled == 1);
  CHECK_FAILS(wis2mon_monitor_dead_letters_json(m, 10, NULL, NULL), WIS2MON_EINVAL,
              "wis2mon_monitor_dead_letters_json");
  CHECK(wis2mon_monitor_close(m) == WIS2MON_OK);
  CHECK_FAILS(wis2mon_monitor_retry_dead_letters(m, NULL, NULL), WIS2MON_ESTATE, "wis2mon_monitor_retry_dead_letters");
  CHECK(wis2mon_monitor_close(m) == WIS2MON_OK); /* idempotent */
  CHECK_FAILS(wis2mon_monitor_push(m, topic, "{}", 2), WIS2MON_ESTATE, "wis2mon_monitor_push");
  CHECK_FAILS(wis2mon_monitor_poll(m, 0, NULL), WIS2MON_ESTATE, "wis2mon_monitor_poll");
  CHECK_FAILS(wis2mon_monitor_drain(m, 0), WIS2MON_ESTATE, "wis2mon_monitor_drain");
  CHECK_FAILS(wis2mon_monitor_start(m), WIS2MON_ESTATE, "wis2mon_monitor_start");
  wis2mon_monitor_destroy(m);

  /* Configuration problems are named. */
  CHECK_FAILS(wis2mon_monitor_new("{\"pipelines\": [{\"name\": \"p\", \"filters\": [\"a/#/b\"]}]}", &m), WIS2MON_EINVAL,
              "wis2mon_monitor_new");
  CHECK(strstr(wis2mon_last_error(), "a/#/b") != NULL);
  CHECK(m == NULL);
  CHECK_FAILS(wis2mon_monitor_new("{not json", &m), WIS2MON_EPARSE, "wis2mon_monitor_new");
  CHECK_FAILS(wis2mon_monitor_new_from_file("/nonexistent/wis2mon.yaml", &m), WIS2MON_EIO,
              "wis2mon_monitor_new_from_file");
  CHECK_FAILS(wis2mon_monitor_new_from_file(NULL, &m), WIS2MON_EINVAL, "wis2mon_monitor_new_from_file");
  CHECK_FAILS(wis2mon_monitor_new(NULL, NULL), WIS2MON_EINVAL, "wis2mon_monitor_new");
  /* A pipeline with no sink cannot start. */
  monitor_config(config, sizeof config, dir, "spool2.db", "none");
  CHECK(wis2mon_monitor_new(config, &m) == WIS2MON_OK);
  CHECK_FAILS(wis2mon_monitor_start(m), WIS2MON_EINVAL, "wis2mon_monitor_start");
  CHECK(strstr(wis2mon_last_error(), "no sinks") != NULL);
  wis2mon_monitor_destroy(m);

  CHECK_FAILS(wis2mon_monitor_add_callback_sink(NULL, "x", on_record, NULL), WIS2MON_EINVAL,
              "wis2mon_monitor_add_callback_sink");
  CHECK_FAILS(wis2mon_monitor_start(NULL), WIS2MON_EINVAL, "wis2mon_monitor_start");
  CHECK_FAILS(wis2mon_monitor_push(NULL, topic, "{}", 2), WIS2MON_EINVAL, "wis2mon_monitor_push");
  CHECK_FAILS(wis2mon_monitor_poll(NULL, 0, NULL), WIS2MON_EINVAL, "wis2mon_monitor_poll");
  CHECK_FAILS(wis2mon_monitor_drain(NULL, 0), WIS2MON_EINVAL, "wis2mon_monitor_drain");
  CHECK_FAILS(wis2mon_monitor_stats_json(NULL, &text), WIS2MON_EINVAL, "wis2mon_monitor_stats_json");
  CHECK_FAILS(wis2mon_monitor_metrics_text(NULL, &text), WIS2MON_EINVAL, "wis2mon_monitor_metrics_text");
  CHECK_FAILS(wis2mon_monitor_close(NULL), WIS2MON_EINVAL, "wis2mon_monitor_close");
  wis2mon_monitor_destroy(NULL);
}

/* wis2mon_monitor_push from several threads at once (the one call documented as such). */
struct pusher {
  wis2mon_monitor* m;
  int id;
  int failed;
};

static void* push_many(void* arg) {
  struct pusher* p = (struct pusher*)arg;
  char json[2048], item[32];
  int i;
  for (i = 0; i < 50; ++i) {
    snprintf(item, sizeof item, "t%d-%d", p->id, i);
    notification_json(json, sizeof json, item, "", "https://example.org/x");
    if (wis2mon_monitor_push(p->m, topic, json, strlen(json)) != WIS2MON_OK) ++p->failed;
  }
  return NULL;
}

static int count_record(const wis2mon_record* record, void* user_data) {
  (void)record;
  ++*(int*)user_data;
  return WIS2MON_DELIVERED;
}

static void test_monitor_threads(const char* dir) {
  wis2mon_monitor* m = NULL;
  struct pusher pushers[4];
  pthread_t threads[4];
  char config[1024];
  int i, records = 0;
  monitor_config(config, sizeof config, dir, "spool3.db", "none");
  CHECK(wis2mon_monitor_new(config, &m) == WIS2MON_OK);
  CHECK(wis2mon_monitor_add_callback_sink(m, "count", count_record, &records) == WIS2MON_OK);
  for (i = 0; i < 4; ++i) {
    pushers[i].m = m;
    pushers[i].id = i;
    pushers[i].failed = 0;
    CHECK(pthread_create(&threads[i], NULL, push_many, &pushers[i]) == 0);
  }
  for (i = 0; i < 4; ++i) {
    pthread_join(threads[i], NULL);
    CHECK(pushers[i].failed == 0);
  }
  CHECK(wis2mon_monitor_drain(m, 30000) == WIS2MON_OK);
  CHECK(records == 200);
  wis2mon_monitor_destroy(m);
}

int main(int argc, char** argv) {
  const char* dir = getenv("TEST_CAPI_DIR");
  test_library();
  test_notifications();
  test_topics();
  test_wme();
  test_decoders();
  test_downloads(argc > 3 ? argv[1] : NULL, argc > 3 ? argv[2] : NULL, argc > 3 ? argv[3] : NULL);
  test_monitor(dir ? dir : ".");
  test_monitor_threads(dir ? dir : ".");
  printf("test_capi: %d checks, %d failed\n", checks, failures);
  return failures == 0 ? 0 : 1;
}
