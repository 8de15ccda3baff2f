"""WIS2 topics: validation against the topic hierarchy and MQTT filter matching."""

import functools
import os
from typing import Any, Dict, List, Optional, Union

from . import _wis2mon

__all__ = ["Report", "Hierarchy", "load_hierarchy", "validate", "match", "is_valid_filter"]


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


Hierarchy = _wis2mon.TopicHierarchy


@functools.lru_cache(maxsize=8)
def load_hierarchy(path: str) -> "Hierarchy":
    """The WIS2 Topic Hierarchy tables from a folder of its CSV files or its bundle zip (loaded
    once per path). Raises wis2mon errors for a path that does not hold them."""
    return Hierarchy.load(str(path))


def _synced() -> Optional["Hierarchy"]:
    # What `wis2mon topics sync` saved, as the command line uses by default.
    path = Hierarchy.default_location()
    return load_hierarchy(path) if os.path.exists(path) else None


def validate(topic: str, mode: str = "lenient", hierarchy: Union[None, str, "os.PathLike[str]", "Hierarchy"] = None) -> Report:
    """Checks a topic against the WIS2 topic hierarchy (``mode`` "lenient" or "strict").

    ``hierarchy`` (a folder of the official CSV tables, the bundle zip, or a loaded
    ``Hierarchy``) also checks the centre-id and the sub-topics against the tables; by default
    the bundle ``wis2mon topics sync`` saved is used when there is one, as on the command line.
    Without tables only the form and the fixed levels are checked."""
    if hierarchy is None:
        tables = _synced()
    elif isinstance(hierarchy, Hierarchy):
        tables = hierarchy
    else:
        tables = load_hierarchy(os.fspath(hierarchy))
    valid, errors, warnings = _wis2mon.topic_validate(topic, mode, tables)
    return Report(valid, errors, warnings)


def match(filter: str, topic: str) -> bool:  # noqa: A002 - the MQTT word
    """True when the MQTT filter (``+`` and ``#`` wildcards) matches the topic.
    Raises InvalidArgumentError for an invalid filter."""
    return _wis2mon.topic_match(filter, topic)


def is_valid_filter(filter: str) -> bool:  # noqa: A002
    """True when ``filter`` is a valid MQTT topic filter."""
    return _wis2mon.is_valid_filter(filter)
