"""AWS Lambda handler for a Kinesis Data Streams event source (ReportBatchItemFailures on):
validate each WIS2 notification, fetch and decode its BUFR surface observations, store them
in SQLite. A record whose data cannot be fetched is failed, so Kinesis retries it; invalid
notifications are logged and skipped."""

import logging
import os
import sqlite3

import wis2mon.aws

logging.getLogger().setLevel(logging.INFO)
DB = os.environ.get("WIS2MON_DB", "/tmp/wis2mon.db")


def store(notification, meta):
    data = wis2mon.aws.fetch_data(notification)  # inline content or a verified download
    rows = wis2mon.aws.decode_records(notification, data)
    with sqlite3.connect(DB) as db:
        db.execute("CREATE TABLE IF NOT EXISTS surface_obs (wsi TEXT, observed_at TEXT, air_temperature REAL, "
                   "data_id TEXT, PRIMARY KEY (wsi, observed_at))")
        db.executemany("INSERT OR REPLACE INTO surface_obs VALUES (?, ?, ?, ?)",
                       [(r["wigos_station_identifier"], r["observed_at"], r["air_temperature"], notification.data_id)
                        for r in rows if r.get("table") == "surface_obs"])


def handler(event, context):
    return wis2mon.aws.process_kinesis(event, store, mode="lenient",
                                       on_invalid=lambda raw, report: logging.warning("invalid: %s", report.errors[:1]))
