"""AWS Lambda helpers: WIS2 notifications arriving through Kinesis Data Streams, SQS, S3 event
notifications (direct, through SNS, SQS or EventBridge) or a Kinesis Data Firehose
transformation, with the response shapes those services expect.

A handler is a few lines::

    import wis2mon.aws

    def handler(event, context):
        return wis2mon.aws.process_sqs(event, lambda n, meta: store(n.data_id, n.pubtime))

Failure semantics (what AWS retries):

- ``on_record`` raising marks that record failed: it is reported in ``batchItemFailures``
  and AWS delivers it again. The other records of the batch are not failed.
- An invalid or undecodable record is *not* a failure (retrying cannot fix it): it is logged
  at WARNING with its reasons, counted, and goes to ``on_invalid(raw, report)`` when given.
  If ``on_invalid`` itself raises, the record is failed so that it is not lost.
- An event of the wrong kind (an SQS event given to process_kinesis, ...) raises
  InvalidArgumentError before anything is processed: the invocation fails and AWS keeps the
  records, instead of deleting a batch nobody could read.
- The responses carry the batch's counts under ``"wis2mon"`` beside ``batchItemFailures``
  (Lambda reads only ``batchItemFailures``).

Each record may hold a notification (JSON), or a bridge envelope ``{"topic": ...,
"notification": {...}}`` (also ``"payload"`` or ``"message"``, as an object or a JSON
string) that keeps the MQTT topic the notification was published on. SQS bodies may also be
SNS notifications (``{"Type": "Notification", "Message": ...}``) wrapping either.
"""

import base64
import binascii
import gzip
import json
import logging
import urllib.parse
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

from . import Downloader, Notification, decode_bufr, decode_cap_records
from .errors import Error, InvalidArgumentError
from .topic import Report

__all__ = [
    "BatchStats",
    "process_kinesis",
    "process_sqs",
    "process_firehose",
    "process_s3",
    "s3_objects",
    "kinesis_records",
    "sqs_records",
    "firehose_records",
    "unwrap",
    "fetch_data",
    "decode_records",
]

log = logging.getLogger("wis2mon.aws")

OnRecord = Callable[[Notification, Dict[str, Any]], Any]
OnInvalid = Callable[[bytes, Report], Any]


@dataclass
class BatchStats:
    """Counts of one batch (pass one as ``stats=`` to read them; they are also logged)."""

    records: int = 0
    ok: int = 0
    invalid: int = 0
    failed: int = 0
    dropped: int = 0
    failures: List[str] = field(default_factory=list)

    def counts(self) -> Dict[str, int]:
        return {"records": self.records, "ok": self.ok, "invalid": self.invalid, "failed": self.failed,
                "dropped": self.dropped}


# ---- building blocks -------------------------------------------------------------------------

_ENVELOPE_KEYS = ("notification", "payload", "message")

# Lambda's limit on a synchronous invocation's response (Firehose transformations are).
FIREHOSE_RESPONSE_LIMIT = 6 * 1024 * 1024


def unwrap(raw: bytes) -> Tuple[bytes, Optional[str]]:
    """The notification bytes and MQTT topic in a record: a bridge envelope or an SNS
    notification is opened; anything else is returned as it is (topic None)."""
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return raw, None
    topic: Optional[str] = None
    for _ in range(3):  # SNS around an envelope around a notification, at most
        if not isinstance(doc, dict) or doc.get("type") == "Feature":
            break
        if doc.get("Type") == "Notification" and isinstance(doc.get("Message"), str):  # SNS
            inner: Any = doc["Message"]
        else:
            key = next((k for k in _ENVELOPE_KEYS if k in doc), None)
            if key is None:
                break
            if isinstance(doc.get("topic"), str):
                topic = doc["topic"]
            inner = doc[key]
        if isinstance(inner, str):
            raw = inner.encode("utf-8")
            try:
                doc = json.loads(inner)
            except ValueError:
                return raw, topic
        else:
            doc = inner
            raw = json.dumps(inner, separators=(",", ":")).encode("utf-8")
    if isinstance(doc, dict) and doc.get("type") == "Feature" and topic is None and isinstance(doc.get("topic"), str):
        topic = doc["topic"]  # replay-style NDJSON keeps the topic as a member
    return raw, topic


def _b64(data: str) -> Optional[bytes]:
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError, TypeError):
        return None


def _event_source(record: Any) -> Optional[str]:
    if not isinstance(record, dict):
        return None
    return record.get("eventSource") or record.get("EventSource")


def _describe(event: Any) -> str:
    """What an event looks like, for an error message."""
    if not isinstance(event, dict):
        return f"a {type(event).__name__}"
    if isinstance(event.get("Records"), list) and event["Records"]:
        return f"an event of {_event_source(event['Records'][0])!r} records"
    if "deliveryStreamArn" in event:
        return "a Firehose transformation event"
    if "detail-type" in event:
        return f"an EventBridge event from {event.get('source')!r}"
    return "an event with keys " + ", ".join(sorted(map(str, event))[:8])


def _require_records(event: Any, source: str, helper: str) -> List[Dict[str, Any]]:
    """The event's Records, each from `source` (aws:kinesis, aws:sqs); else InvalidArgumentError."""
    records = event.get("Records") if isinstance(event, dict) else None
    if not isinstance(records, list) or any(_event_source(r) != source for r in records):
        raise InvalidArgumentError(f"{helper} takes {source} events, not {_describe(event)}: nothing was processed")
    return records


def kinesis_records(event: Dict[str, Any]) -> Iterator[Tuple[str, Optional[bytes], Dict[str, Any]]]:
    """(sequenceNumber, decoded data or None when it is not base64, meta) per record."""
    for rec in _require_records(event, "aws:kinesis", "process_kinesis"):
        k = rec.get("kinesis") or {}
        meta = {
            "source": "aws:kinesis",
            "sequence_number": k.get("sequenceNumber"),
            "partition_key": k.get("partitionKey"),
            "arrival_time": k.get("approximateArrivalTimestamp"),
            "event_id": rec.get("eventID"),
            "event_source_arn": rec.get("eventSourceARN"),
        }
        yield k.get("sequenceNumber", ""), _b64(k.get("data", "")), meta


def sqs_records(event: Dict[str, Any]) -> Iterator[Tuple[str, bytes, Dict[str, Any]]]:
    """(messageId, body bytes, meta) per record."""
    for rec in _require_records(event, "aws:sqs", "process_sqs"):
        attributes = rec.get("attributes") or {}
        meta = {
            "source": "aws:sqs",
            "message_id": rec.get("messageId"),
            "receive_count": int(attributes.get("ApproximateReceiveCount", "1")),
            "sent_timestamp": attributes.get("SentTimestamp"),
            "event_source_arn": rec.get("eventSourceARN"),
            "message_attributes": rec.get("messageAttributes") or {},
            "message_group_id": attributes.get("MessageGroupId"),  # FIFO queues only
        }
        yield rec.get("messageId", ""), (rec.get("body") or "").encode("utf-8"), meta


def firehose_records(event: Dict[str, Any]) -> Iterator[Tuple[str, Optional[bytes], Dict[str, Any]]]:
    """(recordId, decoded data or None when it is not base64, meta) per record."""
    if not isinstance(event, dict) or not isinstance(event.get("records"), list) or not (
            "deliveryStreamArn" in event or "invocationId" in event):
        raise InvalidArgumentError(f"process_firehose takes Firehose transformation events, not {_describe(event)}")
    for rec in event["records"]:
        meta = {
            "source": "aws:firehose",
            "record_id": rec.get("recordId"),
            "arrival_time": rec.get("approximateArrivalTimestamp"),
            "delivery_stream_arn": event.get("deliveryStreamArn"),
        }
        yield rec.get("recordId", ""), _b64(rec.get("data", "")), meta


_downloader: Optional[Downloader] = None


def fetch_data(notification: Notification, downloader: Optional[Downloader] = None) -> bytes:
    """The data a notification announces: its inline content, else its data link, verified
    against its integrity. One Downloader is kept across invocations of a warm Lambda.
    Raises wis2mon.NetworkError when the data cannot be had (so the record is retried)."""
    global _downloader
    from .errors import NetworkError

    if downloader is None:
        if _downloader is None:
            _downloader = Downloader(total_timeout=30.0)
        downloader = _downloader
    result = downloader.fetch(notification)
    if not result.ok:
        raise NetworkError(f"{notification.data_url or notification.data_id}: {result.status}: {result.error}")
    return result.data


def decode_records(notification: Notification, data: bytes) -> List[Dict[str, Any]]:
    """Records of the data: surface_obs rows for BUFR, cap_alerts and cap_areas rows for CAP
    (chosen by the link's media type, else by the bytes). Other data gives no records, and
    BUFR messages that cannot be decoded are logged and left out."""
    media = " ".join((link.get("type") or "") for link in notification.links).lower()
    head = data[:512].lstrip()
    if "bufr" in media or data.find(b"BUFR", 0, 512) >= 0:
        # Undecodable messages are logged, not raised: retrying the record cannot fix them.
        rows = decode_bufr(data, errors="include")
        for bad in (r for r in rows if "error" in r):
            log.warning("wis2mon.aws: %s: BUFR message %s: %s", notification.data_id, bad["message_index"], bad["error"])
        return [dict(r, table="surface_obs") for r in rows if "error" not in r]
    if "cap" in media or head.startswith(b"<?xml") or b"<alert" in head:
        return decode_cap_records(data)
    return []


# ---- ready handlers --------------------------------------------------------------------------


def _report_of(n: Notification) -> Report:
    return Report(False, n.errors, n.warnings)


def _undecodable(why: str) -> Report:
    return Report(False, [{"path": "", "rule": "record.encoding", "message": why}], [])


def _invalid(kind: str, ident: str, raw: bytes, report: Report, on_invalid: Optional[OnInvalid],
             s: BatchStats) -> None:
    s.invalid += 1
    reasons = "; ".join(f"{e.get('rule')}: {e.get('message')}" for e in report.errors[:3]) or "invalid"
    log.warning("wis2mon.aws: %s record %s is invalid (not retried): %s", kind, ident, reasons)
    if on_invalid is not None:
        on_invalid(raw, report)


def _one(kind: str, ident: str, data: Optional[bytes], meta: Dict[str, Any], on_record: OnRecord, mode: str,
         on_invalid: Optional[OnInvalid], s: BatchStats) -> None:
    """One notification (or what should be one) through the pipeline; raises when it failed."""
    s.records += 1
    if data is None:
        _invalid(kind, ident, b"", _undecodable("the record's data is not base64"), on_invalid, s)
        return
    payload, topic = unwrap(data)
    meta["topic"] = topic
    n = Notification.parse(payload, mode=mode, topic=topic)
    if not n.valid:
        _invalid(kind, ident, data, _report_of(n), on_invalid, s)
        return
    on_record(n, meta)
    s.ok += 1


# ---- S3 event notifications -----------------------------------------------------------------

_s3_client: Any = None


def s3_objects(event: Any) -> Optional[List[Tuple[str, str]]]:
    """The (bucket, key) pairs an S3 event notification names: S3's own (``Records`` of
    ``aws:s3``), inside SNS (Lambda's SNS event, or an SNS message as an SQS body), or an
    EventBridge "Object Created" event. [] for S3's test event; None when ``event`` is not an
    S3 notification at all."""
    if isinstance(event, (bytes, str)):
        try:
            event = json.loads(event)
        except (ValueError, UnicodeDecodeError):
            return None
    if not isinstance(event, dict):
        return None
    if event.get("Event") == "s3:TestEvent":
        return []
    if event.get("source") == "aws.s3" and isinstance(event.get("detail"), dict):  # EventBridge
        detail = event["detail"]
        try:
            return [(detail["bucket"]["name"], detail["object"]["key"])]
        except (KeyError, TypeError):
            return None
    if event.get("Type") == "Notification" and isinstance(event.get("Message"), str):  # SNS body
        return s3_objects(event["Message"])
    records = event.get("Records")
    if not isinstance(records, list) or not records:
        return None
    out: List[Tuple[str, str]] = []
    for rec in records:
        source = _event_source(rec)
        if source == "aws:s3":
            try:  # S3 URL-encodes keys in its notifications (a space is "+")
                out.append((rec["s3"]["bucket"]["name"], urllib.parse.unquote_plus(rec["s3"]["object"]["key"])))
            except (KeyError, TypeError):
                return None
        elif source == "aws:sns":
            inner = s3_objects((rec.get("Sns") or {}).get("Message", ""))
            if inner is None:
                return None
            out.extend(inner)
        else:
            return None
    return out


def _read_object(bucket: str, key: str, client: Any) -> bytes:
    global _s3_client
    if client is None:
        if _s3_client is None:
            import boto3  # Lambda's Python runtimes provide it; elsewhere: pip install boto3

            _s3_client = boto3.client("s3")
        client = _s3_client
    obj = client.get_object(Bucket=bucket, Key=key)
    body = obj["Body"].read()
    if body[:2] == b"\x1f\x8b":  # gzip, whatever the key says
        body = gzip.decompress(body)
    return body


def _notifications_in(body: bytes) -> Iterator[bytes]:
    """The notifications of an object: a JSON document (one notification, a list of them, or a
    FeatureCollection of them) or NDJSON (one a line)."""
    text = body.strip()
    try:
        doc = json.loads(text) if text[:1] in (b"{", b"[") else None
    except (ValueError, UnicodeDecodeError):
        doc = None  # NDJSON: several documents
    if isinstance(doc, dict) and doc.get("type") == "FeatureCollection" and isinstance(doc.get("features"), list):
        doc = doc["features"]
    if isinstance(doc, list):
        for item in doc:
            yield json.dumps(item, separators=(",", ":")).encode("utf-8")
    elif doc is not None:
        yield text
    else:
        for line in text.splitlines():
            if line.strip():
                yield line


def _objects(kind: str, ident: str, objects: List[Tuple[str, str]], meta: Dict[str, Any], on_record: OnRecord,
             mode: str, on_invalid: Optional[OnInvalid], s: BatchStats, client: Any) -> List[str]:
    """Every notification of every object; the objects that failed (read, or a record raised)."""
    failed: List[str] = []
    for bucket, key in objects:
        try:
            body = _read_object(bucket, key, client)
        except Exception as e:  # noqa: BLE001 - reported as a failure, so the object is read again
            log.warning("wis2mon.aws: %s %s: s3://%s/%s cannot be read: %s: %s", kind, ident, bucket, key,
                        type(e).__name__, e)
            failed.append(f"s3://{bucket}/{key}")
            continue
        object_failed = False
        for line, data in enumerate(_notifications_in(body), 1):
            item_meta = dict(meta, bucket=bucket, key=key, line=line)
            try:
                _one(kind, f"{ident} s3://{bucket}/{key}:{line}", data, item_meta, on_record, mode, on_invalid, s)
            except Exception as e:  # noqa: BLE001
                object_failed = True
                log.warning("wis2mon.aws: %s s3://%s/%s line %d failed: %s: %s", kind, bucket, key, line,
                            type(e).__name__, e)
        if object_failed:
            failed.append(f"s3://{bucket}/{key}")
    return failed


def _process(
    kind: str,
    items: Iterator[Tuple[str, Optional[bytes], Dict[str, Any]]],
    on_record: OnRecord,
    mode: str,
    on_invalid: Optional[OnInvalid],
    stats: Optional[BatchStats],
    s3_client: Any = None,
    fifo_skip_group: bool = False,
) -> Dict[str, Any]:
    s = stats if stats is not None else BatchStats()
    failures: List[Dict[str, str]] = []
    failed_groups: set = set()
    stop = False
    for ident, data, meta in items:
        # SQS FIFO: a message must not be processed before an earlier one of its group that
        # failed (it is retried first). After a failure the rest of the batch is returned
        # unprocessed, or with fifo_skip_group only the rest of that message group.
        group = meta.get("message_group_id") if str(meta.get("event_source_arn") or "").endswith(".fifo") else None
        if group is not None and (stop or group in failed_groups):
            s.records += 1
            s.failed += 1
            s.failures.append(ident)
            failures.append({"itemIdentifier": ident})
            log.warning("wis2mon.aws: sqs FIFO message %s (group %s) returned unprocessed: an earlier message failed",
                        ident, group)
            continue
        try:
            # An S3 event notification in an SQS body (S3 -> SQS, or S3 -> SNS -> SQS): its objects.
            objects = s3_objects(data) if kind == "sqs" and data is not None else None
            if objects is not None:
                if _objects(kind, ident, objects, meta, on_record, mode, on_invalid, s, s3_client):
                    raise Error(f"{len(objects)} S3 object(s) named, some failed")
                continue
            _one(kind, ident, data, meta, on_record, mode, on_invalid, s)
        except Exception as e:  # noqa: BLE001 - any failure of the user's code fails the record only
            s.failed += 1
            s.failures.append(ident)
            failures.append({"itemIdentifier": ident})
            log.warning("wis2mon.aws: %s record %s failed (AWS retries it): %s: %s", kind, ident, type(e).__name__, e)
            if group is not None:
                failed_groups.add(group)
                stop = not fifo_skip_group
    log.info("wis2mon.aws: %s batch: %d records, %d ok, %d invalid, %d failed", kind, s.records, s.ok, s.invalid, s.failed)
    return {"batchItemFailures": failures, "wis2mon": s.counts()}


def process_kinesis(
    event: Dict[str, Any],
    on_record: OnRecord,
    mode: str = "lenient",
    on_invalid: Optional[OnInvalid] = None,
    *,
    stats: Optional[BatchStats] = None,
) -> Dict[str, Any]:
    """Runs ``on_record(notification, meta)`` for each valid notification of a Kinesis Data
    Streams event; returns ``{"batchItemFailures": [{"itemIdentifier": sequenceNumber}]}``
    for the records whose ``on_record`` raised (use with ReportBatchItemFailures; Kinesis
    retries from the first failed sequence number, so ``on_record`` must be idempotent), and
    the counts under ``"wis2mon"``. Raises InvalidArgumentError for an event that is not
    from Kinesis."""
    return _process("kinesis", kinesis_records(event), on_record, mode, on_invalid, stats)


def process_sqs(
    event: Dict[str, Any],
    on_record: OnRecord,
    mode: str = "lenient",
    on_invalid: Optional[OnInvalid] = None,
    *,
    stats: Optional[BatchStats] = None,
    s3_client: Any = None,
    fifo_skip_group: bool = False,
) -> Dict[str, Any]:
    """The same for an SQS event: failures are reported by ``messageId``. A body that is an
    S3 event notification (S3 -> SQS, or through SNS) has its objects read (boto3, or
    ``s3_client``) and their notifications processed; the message fails when an object cannot
    be read or one of its records failed. From a FIFO queue (an ARN ending in ``.fifo``), the
    messages after a failed one are returned unprocessed, so that order holds when SQS
    delivers them again; with ``fifo_skip_group=True`` only those of the failed message's
    group (ordering is per message group)."""
    return _process("sqs", sqs_records(event), on_record, mode, on_invalid, stats, s3_client, fifo_skip_group)


def process_s3(
    event: Dict[str, Any],
    on_record: OnRecord,
    mode: str = "lenient",
    on_invalid: Optional[OnInvalid] = None,
    *,
    stats: Optional[BatchStats] = None,
    s3_client: Any = None,
) -> Dict[str, Any]:
    """Notifications stored in S3 objects (NDJSON, a JSON notification, a list or a
    FeatureCollection of them; gzip allowed), named by an S3 event notification: S3's own
    event, an SNS event wrapping it, an EventBridge "Object Created" event, or an SQS event of
    either (then as process_sqs: failures per message). For the direct, SNS and EventBridge
    forms (asynchronous invocations) a failed object raises wis2mon.Error after all were
    processed, so that Lambda invokes again (``on_record`` must be idempotent). Raises
    InvalidArgumentError for any other event."""
    records = event.get("Records") if isinstance(event, dict) else None
    if isinstance(records, list) and records and _event_source(records[0]) == "aws:sqs":
        return process_sqs(event, on_record, mode, on_invalid, stats=stats, s3_client=s3_client)
    objects = s3_objects(event)
    if objects is None:
        raise InvalidArgumentError(f"process_s3 takes S3 event notifications, not {_describe(event)}")
    s = stats if stats is not None else BatchStats()
    failed = _objects("s3", "event", objects, {"source": "aws:s3"}, on_record, mode, on_invalid, s, s3_client)
    s.failed += len(failed)
    s.failures.extend(failed)
    log.info("wis2mon.aws: s3 event: %d objects, %d records, %d ok, %d invalid, %d objects failed", len(objects),
             s.records, s.ok, s.invalid, len(failed))
    if failed:
        raise Error(f"{len(failed)} of {len(objects)} S3 object(s) failed (Lambda retries the event): "
                    + ", ".join(failed[:5]))
    return {"objects": len(objects), "wis2mon": s.counts()}


def process_firehose(
    event: Dict[str, Any],
    transform: Callable[[Notification], List[Dict[str, Any]]],
    mode: str = "lenient",
    *,
    stats: Optional[BatchStats] = None,
) -> Dict[str, Any]:
    """A Firehose data-transformation handler: ``transform(notification)`` returns the
    record dicts to deliver, written as NDJSON in the record's ``data``. Every recordId comes
    back: ``Ok``; ``Dropped`` when transform returned no records; ``ProcessingFailed`` for
    invalid input or when transform raised (Firehose sends those to its error output). The
    response stays under Lambda's 6 MB limit: a record whose transformed data would not fit
    answers ``ProcessingFailed`` (with its original data when that fits, else none).
    Raises InvalidArgumentError for an event that is not a Firehose transformation."""
    s = stats if stats is not None else BatchStats()
    out: List[Dict[str, str]] = []
    size = 64  # the response's JSON around its records
    originals = {r.get("recordId"): r.get("data", "") for r in event.get("records") or []}
    for ident, data, _meta in firehose_records(event):
        s.records += 1
        result, body = "ProcessingFailed", originals.get(ident, "")
        try:
            if data is not None:
                payload, topic = unwrap(data)
                n = Notification.parse(payload, mode=mode, topic=topic)
                if n.valid:
                    rows = transform(n)
                    if rows:
                        text = "".join(json.dumps(r, separators=(",", ":"), default=str) + "\n" for r in rows)
                        result, body = "Ok", base64.b64encode(text.encode("utf-8")).decode("ascii")
                    else:
                        result = "Dropped"
        except Exception as e:  # noqa: BLE001
            log.warning("wis2mon.aws: firehose record %s failed: %s: %s", ident, type(e).__name__, e)
        # {"recordId": "...", "result": "...", "data": "..."}, the separators: about 60 bytes.
        if size + len(body) + len(ident) + 64 > FIREHOSE_RESPONSE_LIMIT:
            if result == "Ok":
                log.warning("wis2mon.aws: firehose record %s: its %d bytes do not fit the 6 MB response: "
                            "ProcessingFailed", ident, len(body))
            result, body = "ProcessingFailed", originals.get(ident, "")
            if size + len(body) + len(ident) + 64 > FIREHOSE_RESPONSE_LIMIT:
                body = ""
        size += len(body) + len(ident) + 64
        if result == "Ok":
            s.ok += 1
        elif result == "Dropped":
            s.dropped += 1
        else:
            s.failed += 1
            s.failures.append(ident)
        out.append({"recordId": ident, "result": result, "data": body})
    log.info("wis2mon.aws: firehose batch: %d records, %d ok, %d dropped, %d failed", s.records, s.ok, s.dropped, s.failed)
    return {"records": out}
