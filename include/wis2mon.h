/*
 * libwis2mon C API (C99). One header; link with -lwis2mon (pkg-config wis2mon).
 *
 * Conventions (docs/c-api.md has the whole story):
 * - Every name starts with wis2mon_ / WIS2MON_. Opaque handles come in _new/_destroy pairs;
 *   every _destroy accepts NULL.
 * - Functions that can fail return a status: WIS2MON_OK (0) or a negative WIS2MON_E* code.
 *   Codes are never renumbered. wis2mon_strerror(code) names a code; wis2mon_last_error()
 *   gives the message of the last failure on the calling thread.
 * - Expected per-message outcomes are data, not errors: an invalid notification parses with
 *   WIS2MON_OK and says invalid; a failed download returns WIS2MON_OK with a status.
 * - Strings are UTF-8. Input strings are copied. Output strings are borrowed from the handle
 *   they came from (valid until it is destroyed) unless the comment says "free with
 *   wis2mon_free".
 * - Callbacks take a trailing void *user_data and run on the thread that called the
 *   function documented to run them (a _poll, _drain or _close), never on internal threads.
 * - No C++ exception crosses this boundary.
 * - Threads: different handles may be used from different threads at once; one handle is
 *   used by one thread at a time (except wis2mon_monitor_push, which any thread may call).
 */
#ifndef WIS2MON_H
#define WIS2MON_H

#include <stddef.h>
#include <stdint.h>

#if defined(_WIN32)
#define WIS2MON_C_API
#else
#define WIS2MON_C_API __attribute__((visibility("default")))
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ---- status codes (never renumbered) ---------------------------------------------------- */
#define WIS2MON_OK 0
#define WIS2MON_EINVAL (-1)       /* an argument is unusable (NULL handle, bad option, bad filter) */
#define WIS2MON_EIO (-2)          /* a file or directory could not be read or written */
#define WIS2MON_EPARSE (-3)       /* a configuration or table file is malformed */
#define WIS2MON_ENOTFOUND (-4)    /* a named file, field or entry does not exist */
#define WIS2MON_ENETWORK (-5)     /* a network transfer could not be set up */
#define WIS2MON_EDATABASE (-6)    /* SQLite reported an error */
#define WIS2MON_EUNSUPPORTED (-7) /* this build lacks the feature */
#define WIS2MON_EINTERNAL (-8)    /* a bug: please report it with wis2mon_last_error() */
#define WIS2MON_ENOMEM (-9)       /* out of memory */
#define WIS2MON_ERANGE (-10)      /* an index is out of range */
#define WIS2MON_ESTATE (-11)      /* not allowed now (e.g. push after close) */
#define WIS2MON_ETIMEDOUT (-12)   /* the wait ended before the work did */

/* Validation modes. */
#define WIS2MON_LENIENT 0
#define WIS2MON_STRICT 1

/* Answers of a record callback (a callback sink). */
#define WIS2MON_DELIVERED 0 /* stored: the message may be acknowledged */
#define WIS2MON_RETRY 1     /* not now: the same record comes back later */
#define WIS2MON_REJECTED 2  /* never: the record goes to the dead letters */

/* Types of a record field value. */
#define WIS2MON_FIELD_NULL 0
#define WIS2MON_FIELD_BOOL 1
#define WIS2MON_FIELD_INT 2
#define WIS2MON_FIELD_REAL 3
#define WIS2MON_FIELD_STRING 4
#define WIS2MON_FIELD_TIME 5 /* string holds RFC 3339 UTC, e.g. 2023-03-21T12:00:00Z */

/* Download statuses (wis2mon_download_status). */
#define WIS2MON_DOWNLOAD_OK 0
#define WIS2MON_DOWNLOAD_NOT_FOUND 1
#define WIS2MON_DOWNLOAD_HTTP_ERROR 2
#define WIS2MON_DOWNLOAD_TIMEOUT 3
#define WIS2MON_DOWNLOAD_TOO_LARGE 4
#define WIS2MON_DOWNLOAD_INTEGRITY_FAILED 5
#define WIS2MON_DOWNLOAD_SIZE_MISMATCH 6
#define WIS2MON_DOWNLOAD_REFUSED 7
#define WIS2MON_DOWNLOAD_CONNECTION_ERROR 8
#define WIS2MON_DOWNLOAD_INVALID_NOTIFICATION 9

typedef struct wis2mon_notification wis2mon_notification;
typedef struct wis2mon_record wis2mon_record;
typedef struct wis2mon_records wis2mon_records;
typedef struct wis2mon_downloader wis2mon_downloader;
typedef struct wis2mon_download wis2mon_download;
typedef struct wis2mon_monitor wis2mon_monitor;

/* One field value of a record. string is borrowed from the record. */
typedef struct wis2mon_value {
  int type; /* WIS2MON_FIELD_* */
  int boolean;
  int64_t integer;
  double real;
  const char* string; /* WIS2MON_FIELD_STRING and WIS2MON_FIELD_TIME; NULL otherwise */
} wis2mon_value;

/* ---- library ---------------------------------------------------------------------------- */
WIS2MON_C_API const char* wis2mon_version(void);
WIS2MON_C_API const char* wis2mon_strerror(int code);
/* The message of the last failed call on this thread ("" when none failed yet). */
WIS2MON_C_API const char* wis2mon_last_error(void);
/* Frees a string the docs say the caller owns. NULL is fine. */
WIS2MON_C_API void wis2mon_free(void* p);

/* ---- notifications ---------------------------------------------------------------------- */
/* Parses and validates one notification. An invalid notification still gives WIS2MON_OK and
 * a handle (wis2mon_notification_valid says 0). topic (may be NULL) is the MQTT topic it came
 * on, checked against the message. */
WIS2MON_C_API int wis2mon_notification_parse(const char* data, size_t size, int mode, const char* topic,
                                             wis2mon_notification** out);
WIS2MON_C_API void wis2mon_notification_destroy(wis2mon_notification* n);
/* 1 valid, 0 invalid, WIS2MON_EINVAL for NULL. */
WIS2MON_C_API int wis2mon_notification_valid(const wis2mon_notification* n);
/* Number of errors (warnings = 0) or warnings (warnings = 1). */
WIS2MON_C_API size_t wis2mon_notification_issue_count(const wis2mon_notification* n, int warnings);
/* One error or warning: where (a JSON path), the rule's id and a message. Any out may be NULL. */
WIS2MON_C_API int wis2mon_notification_issue(const wis2mon_notification* n, int warnings, size_t index,
                                             const char** path, const char** rule, const char** message);
/* A field as text, or NULL when the message has none: id, data_id, metadata_id, pubtime,
 * datetime, start_datetime, end_datetime, producer, global_cache, data_url (the canonical
 * link), integrity_method, integrity_value, content_encoding, operation (new, update,
 * deletion). */
WIS2MON_C_API const char* wis2mon_notification_get(const wis2mon_notification* n, const char* field);
/* {"valid": bool, "errors": [{path, rule, message}], "warnings": [...]}; free with wis2mon_free. */
WIS2MON_C_API int wis2mon_notification_report_json(const wis2mon_notification* n, char** out);

/* ---- topics ----------------------------------------------------------------------------- */
/* *valid is set to 1 or 0; report_json (may be NULL) gets the report as in
 * wis2mon_notification_report_json, to free with wis2mon_free. */
WIS2MON_C_API int wis2mon_topic_validate(const char* topic, int mode, int* valid, char** report_json);
/* *matches is set to 1 when the MQTT filter (+ and # wildcards) matches the topic.
 * WIS2MON_EINVAL for an invalid filter. */
WIS2MON_C_API int wis2mon_topic_match(const char* filter, const char* topic, int* matches);

/* ---- WIS2 Monitoring Events -------------------------------------------------------------- */
/* Validates a WME (JSON text) against the WME schema and code list (mode as for
 * notifications: strict accepts only the schema's event type). *valid is 1 or 0;
 * report_json (may be NULL) as in wis2mon_notification_report_json. */
WIS2MON_C_API int wis2mon_wme_validate(const char* json, int mode, int* valid, char** report_json);

/* ---- records and decoders --------------------------------------------------------------- */
/* BUFR bytes (one or more messages, GTS headers allowed) to one surface_obs record per
 * subset. Messages that fail are listed as errors; the others still decode. */
WIS2MON_C_API int wis2mon_decode_bufr(const void* data, size_t size, wis2mon_records** out);
/* CAP XML to cap_alerts (one per info) and cap_areas records. alert_json (may be NULL) gets
 * the whole alert object with "valid", "errors" and "warnings"; free with wis2mon_free.
 * Problems with the alert are errors of the records list. */
WIS2MON_C_API int wis2mon_decode_cap(const void* data, size_t size, wis2mon_records** out, char** alert_json);
/* Every CAP alert of an XML document: the document itself, or each alert an EDXL-DE envelope
 * (or any container) holds. mode: WIS2MON_STRICT makes a time without its zone offset an
 * error (a warning in WIS2MON_LENIENT). out gets every alert's records; each error's
 * message_index is the alert's 1-based position in its container (0: the document as a
 * whole, or an alert that is the root). document_json (may be NULL) gets {"container",
 * "valid", "errors", "warnings", "alerts": [alert objects, each with its "position"]}. */
WIS2MON_C_API int wis2mon_decode_cap_document(const void* data, size_t size, int mode, wis2mon_records** out,
                                              char** document_json);
WIS2MON_C_API void wis2mon_records_destroy(wis2mon_records* r);
WIS2MON_C_API size_t wis2mon_records_count(const wis2mon_records* r);
/* Borrowed from the list; NULL when out of range. */
WIS2MON_C_API const wis2mon_record* wis2mon_records_at(const wis2mon_records* r, size_t index);
WIS2MON_C_API size_t wis2mon_records_error_count(const wis2mon_records* r);
/* The message of error `index`; *message_index (may be NULL) gets the 1-based message it
 * concerns (0: the input as a whole). NULL when out of range. */
WIS2MON_C_API const char* wis2mon_records_error(const wis2mon_records* r, size_t index, int* message_index);

WIS2MON_C_API const char* wis2mon_record_table(const wis2mon_record* r);
WIS2MON_C_API size_t wis2mon_record_field_count(const wis2mon_record* r);
WIS2MON_C_API int wis2mon_record_field(const wis2mon_record* r, size_t index, const char** name, wis2mon_value* value);
/* WIS2MON_ENOTFOUND when the record has no such field. */
WIS2MON_C_API int wis2mon_record_get(const wis2mon_record* r, const char* name, wis2mon_value* value);
/* The record as one JSON object (borrowed). */
WIS2MON_C_API const char* wis2mon_record_json(const wis2mon_record* r);

/* ---- downloads -------------------------------------------------------------------------- */
/* options_json (may be NULL) is a JSON object with the keys of the config file's `download`
 * section (docs/configuration.md): max_in_flight, max_per_host, connect_timeout,
 * total_timeout, max_retries, retry_base, retry_max, max_object_bytes, verify_tls, ca_file,
 * allow_ftp, lenient_integrity, user_agent. Durations are "10s"/"250ms" strings or numbers of
 * seconds. An unknown key or a bad value is WIS2MON_EINVAL. */
WIS2MON_C_API int wis2mon_downloader_new(const char* options_json, wis2mon_downloader** out);
/* Unfinished downloads end with WIS2MON_DOWNLOAD_CONNECTION_ERROR; their callbacks do not run. */
WIS2MON_C_API void wis2mon_downloader_destroy(wis2mon_downloader* d);
/* Downloads one URL and waits. integrity_method/value (both NULL for none) are checked
 * (sha256, sha512, ... with a base64 value). A failed download is WIS2MON_OK with a status. */
WIS2MON_C_API int wis2mon_downloader_fetch(wis2mon_downloader* d, const char* url, const char* integrity_method,
                                           const char* integrity_value, wis2mon_download** out);
/* The data a notification points at: its inline content, else its data link, verified
 * against its integrity and length. */
WIS2MON_C_API int wis2mon_downloader_fetch_notification(wis2mon_downloader* d, const wis2mon_notification* n,
                                                        wis2mon_download** out);
/* Many downloads at once: submit, then poll; each callback runs inside
 * wis2mon_downloader_poll and owns its result (destroy it). */
typedef void (*wis2mon_download_cb)(wis2mon_download* result, void* user_data);
WIS2MON_C_API int wis2mon_downloader_submit(wis2mon_downloader* d, const char* url, const char* integrity_method,
                                            const char* integrity_value, wis2mon_download_cb callback, void* user_data);
/* Runs the callbacks of finished downloads, waiting up to timeout_ms for the first one;
 * *completed (may be NULL) gets how many ran. *pending (may be NULL) gets how many remain. */
WIS2MON_C_API int wis2mon_downloader_poll(wis2mon_downloader* d, int timeout_ms, size_t* completed, size_t* pending);
WIS2MON_C_API void wis2mon_download_destroy(wis2mon_download* r);
WIS2MON_C_API int wis2mon_download_status(const wis2mon_download* r);
WIS2MON_C_API const char* wis2mon_download_status_text(const wis2mon_download* r);
WIS2MON_C_API long wis2mon_download_http_code(const wis2mon_download* r);
/* The URL that served the data (or the last one tried; "inline" for inline content). */
WIS2MON_C_API const char* wis2mon_download_url(const wis2mon_download* r);
/* The verified bytes (size 0 unless the status is WIS2MON_DOWNLOAD_OK). */
WIS2MON_C_API const void* wis2mon_download_data(const wis2mon_download* r, size_t* size);
/* Why it failed ("" when it did not). */
WIS2MON_C_API const char* wis2mon_download_error(const wis2mon_download* r);

/* ---- the monitor ------------------------------------------------------------------------ */
/* config_text: a YAML or JSON monitor configuration (docs/monitor.md); NULL or "" for the
 * default configuration. */
WIS2MON_C_API int wis2mon_monitor_new(const char* config_text, wis2mon_monitor** out);
WIS2MON_C_API int wis2mon_monitor_new_from_file(const char* path, wis2mon_monitor** out);
/* Closes (flushing sinks, running the callbacks of what is left) and frees. */
WIS2MON_C_API void wis2mon_monitor_destroy(wis2mon_monitor* m);
/* Records for sink `name` are handed to callback inside wis2mon_monitor_poll (or _drain,
 * _close) on the calling thread. callback answers WIS2MON_DELIVERED, WIS2MON_RETRY or
 * WIS2MON_REJECTED. A sink of that name in the configuration (type: callback) gets the
 * callback; without one, the sink is added to every pipeline. Before the monitor starts. */
typedef int (*wis2mon_record_cb)(const wis2mon_record* record, void* user_data);
WIS2MON_C_API int wis2mon_monitor_add_callback_sink(wis2mon_monitor* m, const char* name, wis2mon_record_cb callback,
                                                    void* user_data);
/* Starts the pipelines and connects to the configured brokers. _push and _poll start the
 * monitor when it was not started. */
WIS2MON_C_API int wis2mon_monitor_start(wis2mon_monitor* m);
/* Feeds one message (as if it came from a broker on `topic`); it is spooled durably before
 * this returns. Waits while the spool is above its high-water mark. */
WIS2MON_C_API int wis2mon_monitor_push(wis2mon_monitor* m, const char* topic, const char* payload, size_t size);
/* Runs waiting callback-sink records, waiting up to timeout_ms for the first batch.
 * *handled (may be NULL) gets the number of records handed to callbacks. */
WIS2MON_C_API int wis2mon_monitor_poll(wis2mon_monitor* m, int timeout_ms, size_t* handled);
/* Waits (running callbacks) until everything pushed so far is finished, or
 * WIS2MON_ETIMEDOUT. */
WIS2MON_C_API int wis2mon_monitor_drain(wis2mon_monitor* m, int timeout_ms);
/* Counters as JSON (received, valid, invalid, duplicates, downloads, records, per table...);
 * free with wis2mon_free. */
WIS2MON_C_API int wis2mon_monitor_stats_json(const wis2mon_monitor* m, char** out);
/* Dead letters, oldest first, as a JSON array (each {id, sink, table, record, status, reason,
 * attempts, failed_at}; a message refused by a stage has the stage as its sink and table
 * "messages", its record holding topic and payload); sink NULL or "": all. Free with
 * wis2mon_free. */
WIS2MON_C_API int wis2mon_monitor_dead_letters_json(const wis2mon_monitor* m, size_t limit, const char* sink,
                                                    char** out);
/* Tries them again (running monitors only): records go to their sink, messages back into the
 * spool; *count (may be NULL) is how many were handed back. */
WIS2MON_C_API int wis2mon_monitor_retry_dead_letters(wis2mon_monitor* m, const char* sink, size_t* count);
/* Deletes them; *count (may be NULL) is how many. */
WIS2MON_C_API int wis2mon_monitor_purge_dead_letters(wis2mon_monitor* m, const char* sink, size_t* count);
/* The metrics in Prometheus text format; free with wis2mon_free. */
WIS2MON_C_API int wis2mon_monitor_metrics_text(wis2mon_monitor* m, char** out);
/* Stops: disconnects, finishes what was taken, flushes sinks. Idempotent. */
WIS2MON_C_API int wis2mon_monitor_close(wis2mon_monitor* m);

#ifdef __cplusplus
}
#endif

#endif /* WIS2MON_H */
