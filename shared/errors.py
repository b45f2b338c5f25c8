"""The exception hierarchy that decides what happens after a failure.

``TemporaryError`` means retry with capped, jittered backoff (a dropped socket, a
REST timeout). ``OperationalError`` means stop and tell the operator what to fix
(bad config, a corrupt file). ``BookError`` means the local book can no longer be
trusted and the symbol must resync; it is never silently ignored.
"""

from __future__ import annotations


class TickerMLError(Exception):
    """Base class of every error TickerML raises on purpose."""


class TemporaryError(TickerMLError):
    """Transient failure: retry with backoff."""


class OperationalError(TickerMLError):
    """Needs an operator: fix the named file, key or setting and start again."""


class ConfigError(OperationalError):
    """A config file failed validation; the message names the file and key path."""


class MessageError(TickerMLError):
    """A message from the outside world could not be parsed or validated."""


class BookError(TickerMLError):
    """The local order book is inconsistent with the exchange and must resync."""


class SequenceGap(BookError):
    """An update's sequence number does not follow the previous one."""


class ChecksumMismatch(BookError):
    """The book's checksum differs from the exchange's."""


class CrossedBook(BookError):
    """Best bid >= best ask after an update."""
