"""wis2mon: monitor WIS2, the WMO Information System 2.0, from Python.

    import wis2mon
    n = wis2mon.Notification.parse(payload, mode="strict", topic=topic)
    if n.valid:
        records = wis2mon.decode_bufr(wis2mon.Downloader().fetch(n).data)

See docs/python.md. The heavy lifting is libwis2mon (C++); blocking calls release the GIL.
"""

import json as _json
import os as _os
from typing import Any, Callable, Dict, List, Mapping, Optional, Union

from . import _wis2mon, errors, topic
from ._wis2mon import DownloadResult, Downloader, Notification
from .errors import (
    DatabaseError,
    DecodeError,
    Error,
    FileError,
    InternalError,
    InvalidArgumentError,
    NetworkError,
    NotFoundError,
    ParseError,
    StateError,
    TimeoutError,
    UnsupportedError,
)

__version__: str = _wis2mon.__version__


def object_storage_supported() -> bool:
    """True when this build can sign S3 requests, so that an ndjson sink with ``url:
    s3://...`` or a pipeline's ``store_url`` works. The portable wheels carry Debian 11's
    libcurl (7.74), which cannot: there such a configuration is refused at start (UnsupportedError)."""
    return bool(_wis2mon.object_storage_supported())

__all__ = [
    "__version__",
    "Notification",
    "Downloader",
    "DownloadResult",
    "Monitor",
    "decode_bufr",
    "decode_cap",
    "decode_cap_document",
    "decode_cap_records",
    "validate_wme",
    "availability_report",
    "object_storage_supported",
    "topic",
    "errors",
    "Error",
    "InvalidArgumentError",
    "FileError",
    "ParseError",
    "NotFoundError",
    "NetworkError",
    "DatabaseError",
    "UnsupportedError",
    "InternalError",
    "StateError",
    "TimeoutError",
    "DecodeError",
]

Bytes = Union[bytes, bytearray, memoryview, str]


def decode_bufr(data: Union[bytes, bytearray, memoryview, "_os.PathLike[str]"],
                errors: str = "include") -> List[Dict[str, Any]]:
    """Decodes BUFR bytes (one or more messages, GTS headers allowed), or the file at a
    ``pathlib.Path``, into one dict per subset (table surface_obs: wigos_station_identifier,
    observed_at, air_temperature ...). A ``str`` is refused (TypeError): a path and a BUFR
    text cannot be told apart; pass ``pathlib.Path(name)`` or the bytes.

    A message that cannot be decoded gives, with ``errors="include"`` (the default), a dict
    ``{"message_index": N, "error": "..."}`` in its place; ``"ignore"`` leaves it out;
    ``"raise"`` raises DecodeError (with ``.records`` and ``.errors``) after decoding all."""
    if errors not in ("include", "ignore", "raise"):
        raise InvalidArgumentError("errors must be 'include', 'ignore' or 'raise'")
    if isinstance(data, str):
        raise TypeError("decode_bufr takes bytes or a pathlib.Path, not str (a path? pass pathlib.Path(it))")
    if isinstance(data, _os.PathLike):
        try:
            with open(data, "rb") as f:
                data = f.read()
        except OSError as e:
            raise FileError(f"{_os.fspath(data)}: {e.strerror}") from e
    records, failed, _warnings = _wis2mon.decode_bufr(data)
    if failed and errors == "raise":
        raise DecodeError(f"{len(failed)} BUFR message(s) could not be decoded: {failed[0]['error']}", records, failed)
    if failed and errors == "include":
        out: List[Dict[str, Any]] = []
        pending = sorted(failed, key=lambda e: e["message_index"])
        for r in records:
            while pending and pending[0]["message_index"] < r["message_index"]:
                out.append(pending.pop(0))
            out.append(r)
        return out + pending
    return records


def decode_cap(data: Bytes, strict: bool = False) -> Dict[str, Any]:
    """Parses a CAP 1.2/1.1 alert (hardened: no DTDs, no entities, no network) into one dict:
    identifier, sender, sent, sent_utc, status, msg_type, scope, references, infos[...],
    plus ``valid``, ``errors`` and ``warnings`` (each issue a dict with path, an XPath such as
    ``alert/info[1]/area[2]/polygon``, rule and message, as a Notification's). A document wrapping several alerts (an
    EDXL-DE envelope) gives its first, with a warning: decode_cap_document gives them all.
    ``strict``: a time without its zone offset is an error, not a warning."""
    alert_json, _records, (errors, warnings) = _wis2mon.decode_cap(data, strict)
    alert = _json.loads(alert_json)
    alert["errors"], alert["warnings"] = errors, warnings  # {path, rule, message}, as notifications
    return alert


def decode_cap_document(data: Bytes, strict: bool = False) -> Dict[str, Any]:
    """Every alert of one XML document, as a dict: ``alerts`` (one dict per alert, as
    decode_cap gives it, with its ``position`` in the envelope: 1, 2, ...; 0 when the
    document is the alert), ``container`` (the envelope's root element, "" when none),
    ``valid`` (every alert valid), and the document's own ``errors`` and ``warnings``."""
    document_json, _records, (errors, warnings, per_alert) = _wis2mon.decode_cap_document(data, strict)
    document = _json.loads(document_json)
    document["errors"], document["warnings"] = errors, warnings
    for alert, (alert_errors, alert_warnings) in zip(document["alerts"], per_alert):
        alert["errors"], alert["warnings"] = alert_errors, alert_warnings
    return document


def decode_cap_records(data: Bytes, strict: bool = False) -> List[Dict[str, Any]]:
    """The flat records of every alert of a CAP document: cap_alerts (one per info) and
    cap_areas (one per area) rows, each with a ``table`` key. An empty alert gives none."""
    _document, records, _issues = _wis2mon.decode_cap_document(data, strict)
    return records


def validate_wme(message: Union[str, Mapping[str, Any]], mode: str = "lenient") -> Dict[str, Any]:
    """Validates a WIS2 Monitoring Event (a JSON text or a dict) against the WME schema and the
    event-type code list (docs/validation.md): ``{"valid", "errors", "warnings"}``, each issue a
    dict with path, rule and message. ``mode="strict"``: only the schema's event type."""
    text = message if isinstance(message, str) else _json.dumps(message)
    valid, errs, warnings = _wis2mon.validate_wme(text, mode)
    return {"valid": valid, "errors": errs, "warnings": warnings}


def availability_report(db: Union[str, "_os.PathLike[str]"], period: str = "day", since: Optional[str] = None,
                        until: Optional[str] = None, stations: Optional[str] = None) -> List[Dict[str, Any]]:
    """The availability figures a monitor stored (its ``availability_sinks`` writing a SQLite
    database), summed per ``period`` (hour, day, week) over hours in [since, until) (dates or
    RFC 3339 times): one dict per station and per centre, worst first within each period, as
    ``wis2mon report availability --format json`` prints them (docs/sensor-centre.md)."""
    return _wis2mon.availability_report(_os.fspath(db), period, since or "", until or "",
                                        _os.fspath(stations) if stations else "")


RecordSink = Callable[[Dict[str, Any]], Optional[bool]]


class Monitor:
    """The monitor engine: spool -> validate -> dedup -> route -> fetch -> decode -> sinks.

    ``config`` is a dict (the same keys as the YAML file, docs/monitor.md), a path to a YAML
    or JSON file, or None for the default configuration. ``sinks`` maps names to Python
    callables receiving one record dict (with a ``table`` key) each: a configured sink of that
    name (``type: callback``) gets it, otherwise it is added to every pipeline. A callable
    returning False rejects the record (dead letter); raising makes it come back later and
    the exception is raised from the poll()/run()/drain()/close() that ran it.

    Callables run only inside poll(), run(), drain() and close(), on the calling thread.
    Use it as a context manager, or call close().
    """

    def __init__(
        self,
        config: Union[None, Mapping[str, Any], str, "_os.PathLike[str]"] = None,
        sinks: Optional[Mapping[str, RecordSink]] = None,
    ):
        if config is None:
            self._impl = _wis2mon.Monitor()
        elif isinstance(config, Mapping):
            self._impl = _wis2mon.Monitor(config_text=_json.dumps(config))
        elif isinstance(config, (str, _os.PathLike)):
            path = _os.fspath(config)
            if not _os.path.exists(path):
                raise FileError(f"{path}: no such configuration file")
            self._impl = _wis2mon.Monitor(config_file=path)
        else:
            raise TypeError("config must be a dict, a path or None")
        for name, fn in (sinks or {}).items():
            if not callable(fn):
                raise TypeError(f"sink {name!r} is not callable")
            self._impl.add_sink(name, fn)

    def add_sink(self, name: str, fn: RecordSink) -> None:
        """Adds a Python callable as a sink (before the monitor starts)."""
        self._impl.add_sink(name, fn)

    def start(self) -> None:
        """Starts the pipelines and connects to the configured brokers (push/poll/run start
        it too)."""
        self._impl.start()

    def push(self, topic: str, payload: Union[Bytes, Mapping[str, Any]]) -> None:
        """Feeds one message as if it came on ``topic``; it is spooled durably first."""
        if isinstance(payload, Mapping):
            payload = _json.dumps(payload)
        self._impl.push(topic, payload)

    def poll(self, timeout: float = 0.0) -> int:
        """Runs the Python sinks on waiting records (waiting up to ``timeout`` seconds for the
        first batch); returns how many records they received."""
        return self._impl.poll(timeout)

    def drain(self, timeout: float = 60.0) -> bool:
        """Runs sinks until everything pushed so far is finished; False on timeout."""
        return self._impl.drain(timeout)

    def run(self, duration: Optional[float] = None) -> None:
        """Runs the monitor (brokers from the configuration) and its Python sinks on this
        thread, for ``duration`` seconds or until Ctrl-C (KeyboardInterrupt is raised)."""
        self._impl.run(duration or 0.0)

    def stats(self) -> Dict[str, Any]:
        """Counters: received, valid, invalid, duplicates, downloads, records, per table ..."""
        return self._impl.stats()

    def dead_letters(self, limit: int = 1000, sink: Optional[str] = None) -> List[Dict[str, Any]]:
        """Dead letters, oldest first: records a sink gave up on (``sink`` its name) and
        messages a stage refused (``sink`` the stage: validate, download, decode; ``table``
        "messages", ``record`` holding topic and payload). Each a dict: id, sink, table,
        record, status, reason (the errors), attempts, failed_at. ``sink``: only those."""
        if limit < 0:
            raise InvalidArgumentError("limit must be 0 or more")
        return self._impl.dead_letters(limit, sink or "")

    def retry_dead_letters(self, sink: Optional[str] = None) -> int:
        """Tries dead letters again (the monitor must be running): records go to their sink
        and leave the store once delivered; messages go back into the spool. Returns how many
        were handed back."""
        return self._impl.retry_dead_letters(sink or "")

    def purge_dead_letters(self, sink: Optional[str] = None) -> int:
        """Deletes dead letters (all, or ``sink``'s); returns how many."""
        return self._impl.purge_dead_letters(sink or "")

    def metrics_text(self) -> str:
        """The metrics in Prometheus text format (what /metrics serves)."""
        return self._impl.metrics_text()

    @property
    def metrics_port(self) -> int:
        """The port /metrics is served on (0: none; the one chosen when metrics.port is -1)."""
        return self._impl.metrics_port

    @property
    def closed(self) -> bool:
        """True once close() ran (the monitor cannot start again)."""
        return self._impl.closed

    def close(self) -> None:
        """Stops: disconnects, finishes what was taken, flushes every sink. Idempotent."""
        self._impl.close()

    def __enter__(self) -> "Monitor":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
