"""Fixtures of the service tests: tiny contract-following Keras models and apps that serve them.

The tiny models (tests/tiny_models.py, rule ``SYNTHETIC``) look at the FLAIR channel only:
- classifier: probability = sigmoid(20 * (mean FLAIR / 255 - 0.5)) -> positive when the mean
  FLAIR intensity is above 127.5;
- segmenter: pixel probability = sigmoid(20 * (FLAIR / 255 - 0.5)) -> mask = FLAIR > 127.5.
So the expected answers of the service are known for synthetic slices (see samples.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.main import create_app
from service.settings import Settings
from tests.service.apps import started
from tests.tiny_models import build_tiny_models


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A models folder with the tiny models and their card (shared by all service tests)."""
    return build_tiny_models(tmp_path_factory.mktemp("tiny-models"))


@pytest.fixture(scope="session")
def client(models_dir: Path) -> Iterator[TestClient]:
    """A started app (lifespan run: models loaded) with default settings and the tiny models."""
    with started(create_app(Settings(models_dir=models_dir))) as test_client:
        yield test_client


@pytest.fixture
def make_client(models_dir: Path) -> Iterator[Callable[..., TestClient]]:
    """Start another app: ``make_client(api_key="k", max_upload_bytes=1000, ...)`` (settings fields)."""
    with ExitStack() as stack:

        def make(**overrides: Any) -> TestClient:
            settings = Settings(**{"models_dir": models_dir, **overrides})
            return stack.enter_context(started(create_app(settings), raise_server_exceptions=False))

        yield make
