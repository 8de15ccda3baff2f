/* A C program driving the monitor: reads WIS2 notifications (one JSON object a line) from a
 * file, validates each, pushes it through a monitor pipeline with dedup, and receives the
 * resulting records in a callback on this thread.
 *
 *   example_c_monitor NOTIFICATIONS.ndjson [WORK_DIR]
 *
 * Build: cc monitor_file.c $(pkg-config --cflags --libs wis2mon) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wis2mon.h"

struct counts {
  int records;
};

/* Runs inside wis2mon_monitor_poll/drain/close, on the thread that called them. */
static int print_record(const wis2mon_record *record, void *user_data) {
  struct counts *c = (struct counts *)user_data;
  wis2mon_value data_id;
  if (wis2mon_record_get(record, "data_id", &data_id) == WIS2MON_OK && data_id.type == WIS2MON_FIELD_STRING)
    printf("%s %s\n", wis2mon_record_table(record), data_id.string);
  ++c->records;
  return WIS2MON_DELIVERED;
}

/* The topic a notification would have come on: origin/a/wis2/ + its data_id's folder. */
static int topic_for(const char *line, size_t size, char *topic, size_t topic_size) {
  wis2mon_notification *n = NULL;
  const char *data_id, *slash;
  int ok = 0;
  if (wis2mon_notification_parse(line, size, WIS2MON_LENIENT, NULL, &n) != WIS2MON_OK) return 0;
  data_id = wis2mon_notification_get(n, "data_id");
  if (data_id && (slash = strrchr(data_id, '/')) != NULL) {
    snprintf(topic, topic_size, "origin/a/wis2/%.*s", (int)(slash - data_id), data_id);
    ok = 1;
  }
  wis2mon_notification_destroy(n);
  return ok;
}

static int check(int rc, const char *what) {
  if (rc != WIS2MON_OK) fprintf(stderr, "%s: %s (%s)\n", what, wis2mon_strerror(rc), wis2mon_last_error());
  return rc == WIS2MON_OK;
}

int main(int argc, char **argv) {
  const char *work = argc > 2 ? argv[2] : ".";
  char config[1024], topic[512], *stats = NULL;
  static char line[1 << 20];
  struct counts counts = {0};
  wis2mon_monitor *m = NULL;
  FILE *in;
  int pushed = 0, ok = 1;

  if (argc < 2) {
    fprintf(stderr, "usage: %s NOTIFICATIONS.ndjson [WORK_DIR]\n", argv[0]);
    return 2;
  }
  in = fopen(argv[1], "r");
  if (!in) {
    perror(argv[1]);
    return 2;
  }
  /* One pipeline taking everything, with Global Cache dedup; records go to our callback. */
  snprintf(config, sizeof config,
           "{\"monitor\": {\"spool\": \"%s/example-spool.db\", \"status_interval\": \"0s\"},"
           " \"pipelines\": [{\"name\": \"all\", \"filters\": [\"#\"], \"dedup\": \"data_id_pubtime\"}]}",
           work);
  if (!check(wis2mon_monitor_new(config, &m), "monitor") ||
      !check(wis2mon_monitor_add_callback_sink(m, "print", print_record, &counts), "callback sink")) {
    fclose(in);
    wis2mon_monitor_destroy(m);
    return 1;
  }
  while (ok && fgets(line, sizeof line, in)) {
    size_t size = strcspn(line, "\r\n");
    if (size == 0) continue;
    if (!topic_for(line, size, topic, sizeof topic)) strcpy(topic, "origin/a/wis2/unknown/data");
    ok = check(wis2mon_monitor_push(m, topic, line, size), "push");
    ++pushed;
    if (pushed % 100 == 0) wis2mon_monitor_poll(m, 0, NULL); /* hand records over as we go */
  }
  fclose(in);
  ok = ok && check(wis2mon_monitor_drain(m, 60000), "drain");
  ok = ok && check(wis2mon_monitor_stats_json(m, &stats), "stats");
  if (ok) printf("pushed %d, records %d\nstats %s\n", pushed, counts.records, stats);
  wis2mon_free(stats);
  ok = check(wis2mon_monitor_close(m), "close") && ok;
  wis2mon_monitor_destroy(m);
  return ok ? 0 : 1;
}
