"""scripts/check_folder.py against the real service (loopback, bundled models) on the fixture slices."""

from __future__ import annotations

import importlib.util
import logging

import pytest

from service.main import create_app
from service.settings import DEFAULT_MODELS_DIR, Settings
from tests.client.conftest import REPO, serve_app

pytestmark = pytest.mark.slow


def _script():
    spec = importlib.util.spec_from_file_location("check_folder", REPO / "scripts" / "check_folder.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_scores_a_case_folder_through_the_service(caplog):
    case = REPO / "tests" / "fixtures" / "lgg" / "kaggle_3m" / "TCGA_HT_7605_19950916"
    with serve_app(create_app(Settings(models_dir=DEFAULT_MODELS_DIR, log_level="WARNING"))) as url:
        with caplog.at_level(logging.INFO, logger="check_folder"):
            assert _script().main([str(case), "--url", url]) == 0

    lines = caplog.text
    assert "TCGA_HT_7605_19950916_26.jpg             truth tumour" in lines
    assert "TCGA_HT_7605_19950916_12.jpg             truth healthy" in lines
    assert "slices 2 (tumour 1)" in lines and "case TCGA_HT_7605_19950916: volume Dice" in lines
