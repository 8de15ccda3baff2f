"""AWS Lambda helpers: WIS2 notifications arriving through Kinesis Data Streams, SQS or a
Kinesis Data Firehose transformation, with the response shapes those services expect.

A handler is a few lines::

    import wis2mon.aws

    def handler(event, context):
        return wis2mon.aws.process_sqs(event, lambda n, meta: store(n.data_id, n.pubtime))

Failure semantics (what AWS retries):

- ``on_record`` raising marks that record failed: it is reported in ``batchItemFailures``
  and AWS delivers it again. The other records of the batch are not failed.
- An invalid or undecodable record is *not* a failure (retrying cannot fix it): it goes to
  ``on_invalid(raw, report)`` when given, and is counted. If ``on_invalid`` itself raises,
  the record is failed so that it is not lost.

Each record may hold a notification (JSON), or a bridge envelope ``{"topic": ...,
"notification": {...}}`` (also ``"payload"`` or ``"message"``, as an object or a JSON
string) that keeps the MQTT topic the notification was published on. SQS bodies may also be
SNS notifications (``{"Type": "Notification", "Message": ...}``) wrapping either.
"""

import base64
import binascii
import json
import logging
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

from . import Downloader, Notification, decode_bufr, decode_cap_records
from .topic import Report

__all__ = [
    "BatchStats",
    "process_kinesis",
    "process_sqs",
    "process_firehose",
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


# ---- building blocks -------------------------------------------------------------------------

_ENVELOPE_KEYS = ("notification", "payload", "message")


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


def kinesis_records(event: Dict[str, Any]) -> Iterator[Tuple[str, Optional[bytes], Dict[str, Any]]]:
    """(sequenceNumber, decoded data or None when it is not base64, meta) per record."""
    for rec in event.get("Records") or []:
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
    for rec in event.get("Records") or []:
        attributes = rec.get("attributes") or {}
        meta = {
            "source": "aws:sqs",
            "message_id": rec.get("messageId"),
            "receive_count": int(attributes.get("ApproximateReceiveCount", "1")),
            "sent_timestamp": attributes.get("SentTimestamp"),
            "event_source_arn": rec.get("eventSourceARN"),
            "message_attributes": rec.get("messageAttributes") or {},
        }
        yield rec.get("messageId", ""), (rec.get("body") or "").encode("utf-8"), meta


def firehose_records(event: Dict[str, Any]) -> Iterator[Tuple[str, Optional[bytes], Dict[str, Any]]]:
    """(recordId, decoded data or None when it is not base64, meta) per record."""
    for rec in event.get("records") or []:
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


def _process(
    kind: str,
    items: Iterator[Tuple[str, Optional[bytes], Dict[str, Any]]],
    on_record: OnRecord,
    mode: str,
    on_invalid: Optional[OnInvalid],
    stats: Optional[BatchStats],
) -> Dict[str, Any]:
    s = stats if stats is not None else BatchStats()
    failures: List[Dict[str, str]] = []
    for ident, data, meta in items:
        s.records += 1
        try:
            if data is None:
                raw, report = b"", _undecodable("the record's data is not base64")
            else:
                payload, topic = unwrap(data)
                meta["topic"] = topic
                n = Notification.parse(payload, mode=mode, topic=topic)
                if n.valid:
                    on_record(n, meta)
                    s.ok += 1
                    continue
                raw, report = data, _report_of(n)
            s.invalid += 1
            if on_invalid is not None:
                on_invalid(raw, report)
        except Exception as e:  # noqa: BLE001 - any failure of the user's code fails the record only
            s.failed += 1
            s.failures.append(ident)
            failures.append({"itemIdentifier": ident})
            log.warning("wis2mon.aws: %s record %s failed: %s: %s", kind, ident, type(e).__name__, e)
    log.info("wis2mon.aws: %s batch: %d records, %d ok, %d invalid, %d failed", kind, s.records, s.ok, s.invalid, s.failed)
    return {"batchItemFailures": failures}


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
    for the records whose ``on_record`` raised (use with ReportBatchItemFailures)."""
    return _process("kinesis", kinesis_records(event), on_record, mode, on_invalid, stats)


def process_sqs(
    event: Dict[str, Any],
    on_record: OnRecord,
    mode: str = "lenient",
    on_invalid: Optional[OnInvalid] = None,
    *,
    stats: Optional[BatchStats] = None,
) -> Dict[str, Any]:
    """The same for an SQS event: failures are reported by ``messageId``."""
    return _process("sqs", sqs_records(event), on_record, mode, on_invalid, stats)


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
    invalid input or when transform raised (Firehose sends those to its error output)."""
    s = stats if stats is not None else BatchStats()
    out: List[Dict[str, str]] = []
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
