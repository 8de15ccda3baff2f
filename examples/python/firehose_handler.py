"""AWS Lambda data transformation for Kinesis Data Firehose: each WIS2 notification of surface
observations becomes its decoded observations as NDJSON (for S3/Athena); other notifications
are dropped before anything is fetched (by topic and media type); invalid ones go to
Firehose's error output. process_firehose keeps the response under Lambda's 6 MB limit."""

import wis2mon.aws


def wanted(notification):
    """Surface observations in BUFR: decided from the notification alone, before any download."""
    topic = notification.topic or ""
    media = " ".join((link.get("type") or "") for link in notification.links).lower()
    return "/surface-based-observations/" in topic + "/" and "bufr" in media


def transform(notification):
    if not wanted(notification):
        return []  # Dropped: nothing was fetched
    data = wis2mon.aws.fetch_data(notification)
    return [dict(r, data_id=notification.data_id) for r in wis2mon.aws.decode_records(notification, data)
            if r.get("table") == "surface_obs"]


def handler(event, context):
    return wis2mon.aws.process_firehose(event, transform)
