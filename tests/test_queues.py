"""whirlwind.queues: Queue, PriorityQueue, LifoQueue."""

from __future__ import annotations

import asyncio
import datetime
from typing import Any

import pytest

from whirlwind import queues
from whirlwind.ioloop import IOLoop
from whirlwind.util import TimeoutError

SHORT = datetime.timedelta(milliseconds=10)


def test_nowait_and_sizes() -> None:
    q: queues.Queue[int] = queues.Queue(maxsize=2)
    assert (q.maxsize, q.qsize(), q.empty(), q.full()) == (2, 0, True, False)
    q.put_nowait(1)
    q.put_nowait(2)
    assert q.full()
    with pytest.raises(queues.QueueFull):
        q.put_nowait(3)
    assert "queue=deque([1, 2])" in str(q)
    assert [q.get_nowait(), q.get_nowait()] == [1, 2]
    with pytest.raises(queues.QueueEmpty):
        q.get_nowait()
    with pytest.raises(ValueError):
        queues.Queue(-1)
    with pytest.raises(TypeError):
        queues.Queue(None)  # type: ignore[arg-type]


def test_producer_consumer_with_backpressure(io_loop: IOLoop) -> None:
    async def main() -> tuple[list[int], list[str]]:
        q: queues.Queue[int] = queues.Queue(maxsize=1)
        got: list[int] = []
        log: list[str] = []

        async def producer() -> None:
            for i in range(4):
                await q.put(i)
                log.append(f"put {i}")

        async def consumer() -> None:
            async for item in q:
                got.append(item)
                log.append(f"got {item}")
                q.task_done()
                if item == 3:
                    return

        await asyncio.gather(producer(), consumer())
        await q.join()
        return got, log

    got, log = io_loop.run_sync(main, timeout=5)
    assert got == [0, 1, 2, 3]
    # With maxsize=1 the producer can never be more than two items ahead.
    for i in range(2, 4):
        assert log.index(f"put {i}") > log.index(f"got {i - 2}")


def test_get_and_put_timeouts(io_loop: IOLoop) -> None:
    async def main() -> list[Any]:
        q: queues.Queue[str] = queues.Queue(maxsize=1)
        with pytest.raises(TimeoutError):
            await q.get(timeout=SHORT)
        await q.put("a")
        with pytest.raises(TimeoutError):
            await q.put("b", timeout=io_loop.time() + 0.01)
        # Timed-out waiters are skipped: the item goes to the live getter,
        # and the timed-out put never lands.
        late_get = q.get(timeout=SHORT)
        first = await late_get
        assert q.empty()
        return [first, q.qsize()]

    assert io_loop.run_sync(main) == ["a", 0]


def test_timed_out_getter_does_not_steal_items(io_loop: IOLoop) -> None:
    async def main() -> str:
        q: queues.Queue[str] = queues.Queue()
        stale = q.get(timeout=SHORT)
        with pytest.raises(TimeoutError):
            await stale
        live = q.get()
        q.put_nowait("item")
        return await live

    assert io_loop.run_sync(main) == "item"


def test_join_waits_for_task_done(io_loop: IOLoop) -> None:
    async def main() -> list[str]:
        q: queues.Queue[int] = queues.Queue()
        events: list[str] = []
        await q.join()  # nothing put yet: returns at once
        q.put_nowait(1)
        q.put_nowait(2)
        with pytest.raises(TimeoutError):
            await q.join(timeout=SHORT)

        async def worker() -> None:
            while True:
                await q.get()
                await asyncio.sleep(0.001)
                events.append("done")
                q.task_done()

        task = asyncio.ensure_future(worker())
        await q.join()
        events.append("joined")
        task.cancel()
        with pytest.raises(ValueError):
            q.task_done()
        return events

    assert io_loop.run_sync(main) == ["done", "done", "joined"]


def test_priority_and_lifo_order(io_loop: IOLoop) -> None:
    pq: queues.PriorityQueue[tuple[int, str]] = queues.PriorityQueue()
    for item in [(3, "c"), (1, "a"), (2, "b")]:
        pq.put_nowait(item)
    assert [pq.get_nowait()[1] for _ in range(3)] == ["a", "b", "c"]

    lq: queues.LifoQueue[int] = queues.LifoQueue()
    for i in range(3):
        lq.put_nowait(i)
    assert [lq.get_nowait() for _ in range(3)] == [2, 1, 0]

    async def blocked_put() -> list[int]:
        q: queues.PriorityQueue[int] = queues.PriorityQueue(maxsize=1)
        q.put_nowait(5)
        pending = q.put(1)
        assert not pending.done()
        # get() first admits the waiting put, then takes the smallest item.
        first = await q.get()
        await pending
        return [first, await q.get()]

    assert io_loop.run_sync(blocked_put) == [1, 5]
