"""whirlwind.locks: Condition, Event, Semaphore, BoundedSemaphore, Lock."""

from __future__ import annotations

import asyncio
import datetime
from typing import Any

import pytest

from whirlwind import gen, locks
from whirlwind.ioloop import IOLoop
from whirlwind.util import TimeoutError

SHORT = datetime.timedelta(milliseconds=10)


def test_condition_notify_wakes_in_fifo_order(io_loop: IOLoop) -> None:
    async def main() -> list[Any]:
        cond = locks.Condition()
        woken: list[Any] = []

        async def waiter(name: str) -> None:
            woken.append((name, await cond.wait()))

        tasks = [asyncio.ensure_future(waiter(n)) for n in "abc"]
        await asyncio.sleep(0)
        assert "waiters[3]" in repr(cond)
        cond.notify()
        await asyncio.sleep(0)
        cond.notify(5)  # more than there are waiters
        await asyncio.gather(*tasks)
        return woken

    assert io_loop.run_sync(main) == [("a", True), ("b", True), ("c", True)]


def test_condition_wait_timeout_returns_false_and_is_skipped(io_loop: IOLoop) -> None:
    async def main() -> list[Any]:
        cond = locks.Condition()
        timed = cond.wait(timeout=SHORT)
        forever = cond.wait()
        assert await timed is False
        cond.notify()  # the timed-out waiter must not absorb this
        return [await forever]

    assert io_loop.run_sync(main) == [True]


def test_condition_notify_all_and_compaction(io_loop: IOLoop) -> None:
    async def main() -> tuple[list[bool], int]:
        cond = locks.Condition()
        # Many timed-out waits: the queue is compacted, not left to grow.
        for _ in range(150):
            cond.wait(timeout=io_loop.time() - 1)
        await asyncio.sleep(0.01)
        leftover = len(cond._waiters)
        waits = [cond.wait() for _ in range(3)]
        cond.notify_all()
        return list(await asyncio.gather(*waits)), leftover

    results, leftover = io_loop.run_sync(main)
    assert results == [True, True, True]
    assert leftover < 100


def test_event_set_clear_wait(io_loop: IOLoop) -> None:
    async def main() -> list[Any]:
        event = locks.Event()
        out: list[Any] = [repr(event), event.is_set()]
        waiter = asyncio.ensure_future(event.wait())
        await asyncio.sleep(0)
        assert not waiter.done()
        event.set()
        event.set()  # idempotent
        await waiter
        out.append(waiter.result())
        out.append(repr(event))
        await event.wait()  # already set: returns at once
        event.clear()
        with pytest.raises(TimeoutError):
            await event.wait(timeout=SHORT)
        await asyncio.sleep(0)
        out.append(len(event._waiters))  # the timed-out waiter was dropped
        return out

    assert io_loop.run_sync(main) == ["<Event clear>", False, None, "<Event set>", 0]


def test_semaphore_limits_concurrency(io_loop: IOLoop) -> None:
    async def main() -> int:
        sem = locks.Semaphore(2)
        active = 0
        peak = 0

        async def worker() -> None:
            nonlocal active, peak
            async with sem:
                active += 1
                peak = max(peak, active)
                await asyncio.sleep(0.005)
                active -= 1

        await asyncio.gather(*(worker() for _ in range(6)))
        return peak

    assert io_loop.run_sync(main) == 2


def test_semaphore_acquire_timeout_and_repr(io_loop: IOLoop) -> None:
    async def main() -> list[str]:
        sem = locks.Semaphore(1)
        reprs = [repr(sem)]
        await sem.acquire()
        reprs.append(repr(sem))
        with pytest.raises(TimeoutError):
            await sem.acquire(timeout=SHORT)
        sem.release()
        await sem.acquire(timeout=SHORT)
        sem.release()
        return reprs

    assert io_loop.run_sync(main) == [
        "<Semaphore [unlocked,value:1]>",
        "<Semaphore [locked]>",
    ]
    with pytest.raises(ValueError):
        locks.Semaphore(-1)


def test_semaphore_with_generator_coroutines(io_loop: IOLoop) -> None:
    sem = locks.Semaphore(1)
    order: list[str] = []

    @gen.coroutine
    def worker(name: str) -> Any:
        with (yield sem.acquire()):
            order.append(name + " in")
            yield gen.sleep(0.005)
            order.append(name + " out")

    io_loop.run_sync(lambda: gen.multi([worker("a"), worker("b")]))
    assert order == ["a in", "a out", "b in", "b out"]


def test_semaphore_with_statement_is_refused() -> None:
    sem = locks.Semaphore()
    with pytest.raises(RuntimeError, match="async with"):
        with sem:
            pass


def test_bounded_semaphore_refuses_extra_release(io_loop: IOLoop) -> None:
    sem = locks.BoundedSemaphore(1)
    with pytest.raises(ValueError, match="too many"):
        sem.release()

    async def main() -> None:
        await sem.acquire()
        sem.release()

    io_loop.run_sync(main)


def test_lock_serialises_and_times_out(io_loop: IOLoop) -> None:
    async def main() -> list[str]:
        lock = locks.Lock()
        order: list[str] = []

        async def critical(name: str) -> None:
            async with lock:
                order.append(name + "+")
                await asyncio.sleep(0.002)
                order.append(name + "-")

        await asyncio.gather(critical("a"), critical("b"))
        await lock.acquire()
        assert "locked" in repr(lock)
        with pytest.raises(TimeoutError):
            await lock.acquire(timeout=SHORT)
        lock.release()
        with pytest.raises(RuntimeError, match="release unlocked lock"):
            lock.release()
        return order

    assert io_loop.run_sync(main) == ["a+", "a-", "b+", "b-"]
    with pytest.raises(RuntimeError):
        with locks.Lock():
            pass
