"""MRI_* settings."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from service.settings import DEFAULT_MODELS_DIR, Settings


def test_defaults(monkeypatch):
    for name in ("MRI_MODELS_DIR", "MRI_API_KEY", "MRI_CLASSIFIER_THRESHOLD", "MRI_MAX_UPLOAD_BYTES"):
        monkeypatch.delenv(name, raising=False)

    settings = Settings()

    assert settings.models_dir == DEFAULT_MODELS_DIR
    assert settings.classifier_threshold is None and settings.segmenter_threshold is None
    assert settings.max_upload_bytes == 20 * 1024 * 1024
    assert (settings.min_image_side, settings.max_image_side) == (32, 4096)
    assert settings.api_key is None and settings.log_level == "INFO"


def test_environment_with_prefix(monkeypatch, tmp_path):
    monkeypatch.setenv("MRI_MODELS_DIR", str(tmp_path))
    monkeypatch.setenv("MRI_CLASSIFIER_THRESHOLD", "0.3")
    monkeypatch.setenv("MRI_MAX_UPLOAD_BYTES", "1000")
    monkeypatch.setenv("MRI_MAX_FILES_PER_REQUEST", "4")
    monkeypatch.setenv("MRI_API_KEY", "k")
    monkeypatch.setenv("MRI_LOG_LEVEL", "debug")

    settings = Settings()

    assert settings.models_dir == tmp_path and settings.classifier_threshold == 0.3
    assert settings.max_upload_bytes == 1000 and settings.max_files_per_request == 4
    assert settings.api_key.get_secret_value() == "k" and settings.log_level == "DEBUG"


def test_empty_api_key_means_none(monkeypatch):
    monkeypatch.setenv("MRI_API_KEY", "")

    assert Settings().api_key is None


def test_threshold_out_of_range(monkeypatch):
    monkeypatch.setenv("MRI_SEGMENTER_THRESHOLD", "1.5")

    with pytest.raises(ValidationError):
        Settings()
