"""Logging set-up of the ``service`` loggers: one line (or JSON object) per record, with the request ID.

Every log record gets ``request_id``: the ``X-Request-ID`` of the request being served (taken from
the caller when valid, else made by :class:`asgi_correlation_id.CorrelationIdMiddleware`), or
``-`` outside a request. Worker threads started for a request inherit it (context variables).

No record can forge another: every record of the process (the service's, uvicorn's, a library's)
formats its message with control characters escaped (:func:`escape`: a line feed in an uploaded
file name is written ``\n``, never a new line), and the text formatter indents the lines of a
traceback so that none of them starts like a record. JSON lines escape everything anyway. Values
that come from the client are logged as structured fields (``extra``), not pasted into free text,
and never at INFO when they may identify a patient (file names, DICOM identifiers).
"""

from __future__ import annotations

import logging
import re
from typing import Any

from asgi_correlation_id import correlation_id
from pythonjsonlogger.json import JsonFormatter

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"
JSON_FIELDS = "%(asctime)s %(levelname)s %(name)s %(request_id)s %(message)s"
REQUEST_ID_HEADER = "X-Request-ID"
#: A caller's request ID is kept when it matches this (else a new one is made): no spaces or
#: control characters, so it cannot forge log lines.
REQUEST_ID_PATTERN = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}")
#: C0 and C1 control characters, DEL and the Unicode line and paragraph separators.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def escape(text: str) -> str:
    """``text`` with every control character written as a Python escape (``\n``, ``\x1b``, ...)."""
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


class SafeLogRecord(logging.LogRecord):
    """A record whose formatted message has its control characters escaped (:func:`escape`)."""

    def getMessage(self) -> str:
        return escape(super().getMessage())


def valid_request_id(value: str) -> bool:
    return REQUEST_ID_PATTERN.fullmatch(value) is not None


def _install_request_id_factory() -> None:
    """Make every LogRecord of the process carry ``request_id`` (once per process)."""
    previous = logging.getLogRecordFactory()
    if getattr(previous, "_mri_request_id", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        record.request_id = correlation_id.get() or "-"
        if type(record) is logging.LogRecord:
            record.__class__ = SafeLogRecord  # same fields, escaped message
        return record

    factory._mri_request_id = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)


class TextFormatter(logging.Formatter):
    """One line per record; the lines of a traceback or stack are indented and escaped."""

    def formatException(self, ei: Any) -> str:
        return _indented(super().formatException(ei))

    def formatStack(self, stack_info: str) -> str:
        return _indented(super().formatStack(stack_info))


def _indented(text: str) -> str:
    return "\n".join("    " + escape(line) for line in text.splitlines())


def formatter(log_format: str) -> logging.Formatter:
    """The formatter of ``MRI_LOG_FORMAT``: ``text`` or ``json``."""
    if log_format == "json":
        return JsonFormatter(JSON_FIELDS, rename_fields={"levelname": "level", "name": "logger"})
    return TextFormatter(LOG_FORMAT)


def configure_logging(level: str, log_format: str = "text") -> None:
    """Set the level of the ``service`` loggers; give them a stderr handler when nothing else
    (uvicorn, pytest, an embedding app) has configured the root logger."""
    _install_request_id_factory()
    logger = logging.getLogger("service")
    logger.setLevel(level)
    ours = [h for h in logger.handlers if getattr(h, "_mri", False)]
    for handler in ours:
        handler.setFormatter(formatter(log_format))
    if logging.getLogger().handlers or ours:
        return
    handler = logging.StreamHandler()
    handler.setFormatter(formatter(log_format))
    handler._mri = True  # type: ignore[attr-defined]
    logger.addHandler(handler)
    logger.propagate = False
