"""WIS2 topics: validation against the topic hierarchy and MQTT filter matching."""

from typing import Any, Dict, List

from . import _wis2mon

__all__ = ["Report", "validate", "match", "is_valid_filter"]


class Report:
    """The outcome of a validation: ``valid``, and ``errors``/``warnings`` as lists of
    ``{"path", "rule", "message"}`` dicts. True when valid."""

    __slots__ = ("valid", "errors", "warnings")

    def __init__(self, valid: bool, errors: List[Dict[str, str]], warnings: List[Dict[str, str]]):
        self.valid = valid
        self.errors = errors
        self.warnings = warnings

    def __bool__(self) -> bool:
        return self.valid

    def to_dict(self) -> Dict[str, Any]:
        return {"valid": self.valid, "errors": self.errors, "warnings": self.warnings}

    def __repr__(self) -> str:
        return f"<wis2mon.topic.Report valid={self.valid} errors={len(self.errors)} warnings={len(self.warnings)}>"


def validate(topic: str, mode: str = "lenient") -> Report:
    """Checks a topic against the WIS2 topic hierarchy (``mode`` "lenient" or "strict")."""
    valid, errors, warnings = _wis2mon.topic_validate(topic, mode)
    return Report(valid, errors, warnings)


def match(filter: str, topic: str) -> bool:  # noqa: A002 - the MQTT word
    """True when the MQTT filter (``+`` and ``#`` wildcards) matches the topic.
    Raises InvalidArgumentError for an invalid filter."""
    return _wis2mon.topic_match(filter, topic)


def is_valid_filter(filter: str) -> bool:  # noqa: A002
    """True when ``filter`` is a valid MQTT topic filter."""
    return _wis2mon.is_valid_filter(filter)
