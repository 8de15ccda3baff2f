"""Exceptions raised by wis2mon. Every one is a :class:`wis2mon.Error`.

Expected per-message outcomes (an invalid notification, a failed download, an undecodable
file) are returned as data, not raised.
"""

import builtins


class Error(Exception):
    """Base class of every wis2mon error. ``retriable`` says whether trying again can help."""

    retriable = False


class InvalidArgumentError(Error, ValueError):
    """An argument or option is unusable (bad mode, bad filter, bad configuration value)."""


class FileError(Error, OSError):
    """A file or directory could not be read or written."""


class ParseError(Error, ValueError):
    """A configuration or table file is malformed, or a message is not JSON."""


class NotFoundError(Error, LookupError):
    """A named file, table or entry does not exist."""


class NetworkError(Error, ConnectionError):
    """A network transfer could not be set up."""


class DatabaseError(Error):
    """SQLite reported an error."""


class UnsupportedError(Error):
    """This build lacks the feature."""


class InternalError(Error):
    """A bug in wis2mon: please report it."""


class StateError(Error):
    """Not allowed in the object's state now (e.g. push() on a closed Monitor)."""


class TimeoutError(Error, builtins.TimeoutError):  # noqa: A001 - a built-in TimeoutError too
    """A wait ended before the work did."""


class DecodeError(Error):
    """decode_bufr(errors="raise") found messages it could not decode.

    ``records`` holds what did decode, ``errors`` the failed messages."""

    def __init__(self, message, records=None, errors=None):
        super().__init__(message)
        self.records = records or []
        self.errors = errors or []
