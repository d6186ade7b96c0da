"""Logging set-up of the ``service`` loggers (standard ``logging``; one line per record)."""

from __future__ import annotations

import logging

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


def configure_logging(level: str) -> None:
    """Set the level of the ``service`` loggers; give them a stderr handler when nothing else
    (uvicorn, pytest, an embedding app) has configured the root logger."""
    logger = logging.getLogger("service")
    logger.setLevel(level)
    if logging.getLogger().handlers or any(getattr(h, "_mri", False) for h in logger.handlers):
        return
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    handler._mri = True  # type: ignore[attr-defined]
    logger.addHandler(handler)
    logger.propagate = False
