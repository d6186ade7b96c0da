"""The cosine schedule: warm-up from a tenth of the rate, then a decay to 1% at the last epoch."""

import itertools

import numpy as np
import pytest

from training.callbacks import cosine_schedule


def test_cosine_schedule_warms_up_then_decays_over_the_whole_run():
    schedule = cosine_schedule(1e-3, steps_per_epoch=10, epochs=5, warmup_epochs=1)
    rate = [float(np.asarray(schedule(step))) for step in range(51)]
    assert rate[0] == pytest.approx(1e-4)
    assert max(rate) == pytest.approx(1e-3) and int(np.argmax(rate)) == 10
    assert all(a >= b for a, b in itertools.pairwise(rate[10:]))  # never rises after the warm-up
    assert rate[30] == pytest.approx((1e-3 + 1e-5) / 2, rel=1e-3)  # half-way through the decay
    assert rate[50] == pytest.approx(1e-5)
