"""AWS Lambda handler for an SQS event source (ReportBatchItemFailures on): keep one row per
WIS2 notification (newer pubtime replaces), in strict validation mode."""

import os
import sqlite3

import wis2mon.aws

DB = os.environ.get("WIS2MON_DB", "/tmp/wis2mon.db")


def store(notification, meta):
    with sqlite3.connect(DB) as db:
        db.execute("CREATE TABLE IF NOT EXISTS notifications (data_id TEXT PRIMARY KEY, pubtime TEXT, topic TEXT)")
        db.execute("INSERT INTO notifications VALUES (?, ?, ?) ON CONFLICT(data_id) DO UPDATE SET "
                   "pubtime = excluded.pubtime, topic = excluded.topic WHERE excluded.pubtime > pubtime",
                   (notification.data_id, notification.pubtime, meta.get("topic")))


def handler(event, context):
    return wis2mon.aws.process_sqs(event, store, mode="strict")
