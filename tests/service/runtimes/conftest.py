"""Helpers of the runtime tests: answers of a loaded service compared across runtimes."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from contract.exports import PARITY_TOLERANCE


def assert_same_answer(expected: Any, actual: Any, path: str = "answer") -> None:
    """Equal JSON answers, floats within ``PARITY_TOLERANCE`` (probabilities), everything else exact
    (verdicts, masks, pixel counts, names, versions)."""
    if isinstance(expected, dict):
        assert isinstance(actual, dict) and set(actual) == set(expected), f"{path}: keys differ"
        for key in expected:
            assert_same_answer(expected[key], actual[key], f"{path}.{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(actual) == len(expected), f"{path}: lengths differ"
        for i, (e, a) in enumerate(zip(expected, actual, strict=True)):
            assert_same_answer(e, a, f"{path}[{i}]")
    elif isinstance(expected, float) and not isinstance(actual, bool):
        assert actual == pytest.approx(expected, abs=PARITY_TOLERANCE, rel=0), path
    else:
        assert actual == expected, path


def max_difference(expected: np.ndarray, actual: np.ndarray) -> float:
    return float(np.max(np.abs(np.asarray(expected, np.float64) - np.asarray(actual, np.float64))))
