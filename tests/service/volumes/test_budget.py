"""service.volumes.budget: the memory model, the process-wide budget (first come first served, a
bounded wait, 413 and 503) and the time budget of one volume."""

from __future__ import annotations

import asyncio
import gc

import pytest

from service.errors import Overloaded, RequestTooLarge
from service.volumes.budget import Deadline, MemoryBudget, volume_memory
from service.volumes.volume import PendingVolume


def _pending(shape=(100, 256, 256), channels=1, itemsize=2, files=1) -> PendingVolume:
    return PendingVolume(
        shape=shape,
        channels=channels,
        itemsize=itemsize,
        slice_shape=shape[1:],
        files=files,
        header_bytes=0,
        kind="nifti",
        load=lambda check: None,  # type: ignore[arg-type, return-value]
    )


def test_the_need_grows_with_voxels_stored_bytes_sequences_files_and_answer():
    base = volume_memory(_pending(), "json", 32, 256)
    assert volume_memory(_pending(shape=(200, 256, 256)), "json", 32, 256) > base
    assert volume_memory(_pending(itemsize=4), "json", 32, 256) - base == 100 * 256 * 256 * 2
    assert volume_memory(_pending(channels=3), "json", 32, 256) > base
    assert volume_memory(_pending(files=100), "json", 32, 256) > base
    assert volume_memory(_pending(), "dicom-seg", 32, 256) > base
    assert volume_memory(_pending(), "json", 8, 256) < base  # fewer slices per model call
    assert volume_memory(_pending(), "json", 32, 128) < base  # smaller models


def _run(coroutine):
    return asyncio.run(coroutine)


def test_over_the_per_request_limit_is_413_and_fitting_requests_lease_at_once():
    async def scenario():
        budget = MemoryBudget(total=1000, per_request=600, max_waiting=2, wait_s=1.0)
        with pytest.raises(RequestTooLarge, match=r"needs about 700 bytes of memory.*limit is 600 bytes"):
            await budget.acquire(700, "this volume")
        first = await budget.acquire(600, "a")
        second = await budget.acquire(400, "b")
        assert budget.used == 1000
        first.release()
        first.release()  # idempotent
        second.release()
        assert budget.used == 0 and budget.peak == 1000

    _run(scenario())


def test_requests_that_do_not_fit_wait_in_order_then_get_503():
    async def scenario():
        budget = MemoryBudget(total=1000, per_request=1000, max_waiting=2, wait_s=5.0)
        held = await budget.acquire(900, "a")
        order = []

        async def ask(name, amount):
            lease = await budget.acquire(amount, name)
            order.append(name)
            return lease

        big = asyncio.create_task(ask("big", 800))
        small = asyncio.create_task(ask("small", 50))  # fits now, but waits behind "big" (FIFO)
        for _ in range(100):  # let both tasks run up to their wait (the loop turns, no time passes)
            if budget.waiting == 2:
                break
            await asyncio.sleep(0)
        assert budget.waiting == 2 and order == []
        with pytest.raises(Overloaded, match="2 waiting"):
            await budget.acquire(10, "third")  # the queue is full: 503 at once
        held.release()
        leases = await asyncio.gather(big, small)
        assert order == ["big", "small"] and budget.used == 850
        for lease in leases:
            lease.release()
        assert budget.used == 0

    _run(scenario())


def test_a_wait_past_its_time_is_503_and_leaves_nothing_behind():
    async def scenario():
        budget = MemoryBudget(total=100, per_request=100, max_waiting=4, wait_s=0.05)
        held = await budget.acquire(100, "a")
        with pytest.raises(Overloaded, match=r"waited 0\.05 s"):
            await budget.acquire(10, "b")
        assert budget.waiting == 0
        held.release()
        assert budget.used == 0

    _run(scenario())


def test_a_lease_is_given_back_when_its_owner_is_collected():
    async def scenario():
        budget = MemoryBudget(total=100, per_request=100, max_waiting=1, wait_s=1.0)
        lease = await budget.acquire(60, "a")

        class Owner:
            pass

        owner = Owner()
        lease.hand_to(owner)
        del owner
        gc.collect()
        assert budget.used == 0

    _run(scenario())


def test_the_deadline_says_the_time_budget_and_can_be_extended():
    now = [100.0]
    deadline = Deadline(0.05, clock=lambda: now[0])
    now[0] += 0.05
    deadline.check()  # spent to the last instant: still within
    now[0] += 0.01
    with pytest.raises(Overloaded, match=r"time budget of 0\.05 s"):
        deadline.check()
    deadline.extend(10)
    deadline.check()
