"""AWS Lambda data transformation for Kinesis Data Firehose: each WIS2 notification becomes
its decoded surface observations as NDJSON (for S3/Athena); notifications without
observations are dropped; invalid ones go to Firehose's error output."""

import wis2mon.aws


def transform(notification):
    data = wis2mon.aws.fetch_data(notification)
    return [dict(r, data_id=notification.data_id) for r in wis2mon.aws.decode_records(notification, data)
            if r.get("table") == "surface_obs"]


def handler(event, context):
    return wis2mon.aws.process_firehose(event, transform)
