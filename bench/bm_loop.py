"""Event loop micro-benchmarks: whirlwind vs asyncio's default loop vs uvloop.

Measured, per operation (pyperf reports the time of one operation):

* call_soon_batch: queue BATCH callbacks with call_soon, then run them.
* call_soon_chain: a callback that re-schedules itself (one per iteration).
* timers_fire: schedule BATCH timers with random delays in [0, 1 ms] and run
  the loop until every one has fired.
* timers_cancel: schedule BATCH timers with random delays and cancel them
  (the loop then runs one iteration, which drops the cancelled timers).
* future_await: a Task awaits a Future resolved by a call_soon callback.

Run: ``python bench/bm_loop.py --fast -o loop.json`` (``--impls`` picks loops).
``--cpu-time`` times with ``time.process_time()`` (CPU time of the benchmark
process) instead of wall-clock time: steadier on a machine shared with other
work, and it leaves out the idle sleep before timers are due.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from typing import Any

import pyperf

import whirlwind

BATCH = 10_000
CHAIN = 10_000
FUTURES = 10_000
TIMER_SPAN = 0.001

LoopFactory = Callable[[], asyncio.AbstractEventLoop]

# the clock every benchmark reads; main() switches it for --cpu-time
clock: Callable[[], float] = pyperf.perf_counter


def _factories() -> dict[str, LoopFactory]:
    f: dict[str, LoopFactory] = {
        "whirlwind": whirlwind.new_event_loop,
        "asyncio": asyncio.SelectorEventLoop,
    }
    try:
        import uvloop
    except ImportError:
        pass
    else:
        f["uvloop"] = uvloop.new_event_loop
    return f


def _noop() -> None:
    pass


def bm_call_soon_batch(loops: int, factory: LoopFactory) -> float:
    loop = factory()
    call_soon = loop.call_soon
    t0 = clock()
    for _ in range(loops):
        for _ in range(BATCH):
            call_soon(_noop)
        call_soon(loop.stop)
        loop.run_forever()
    dt = clock() - t0
    loop.close()
    return dt


def bm_call_soon_chain(loops: int, factory: LoopFactory) -> float:
    loop = factory()
    call_soon = loop.call_soon
    left = 0

    def step() -> None:
        nonlocal left
        left -= 1
        if left:
            call_soon(step)
        else:
            loop.stop()

    t0 = clock()
    for _ in range(loops):
        left = CHAIN
        call_soon(step)
        loop.run_forever()
    dt = clock() - t0
    loop.close()
    return dt


def bm_timers_fire(loops: int, factory: LoopFactory) -> float:
    loop = factory()
    rnd = random.Random(42)
    delays = [rnd.random() * TIMER_SPAN for _ in range(BATCH)]
    call_later = loop.call_later
    left = 0

    def fired() -> None:
        nonlocal left
        left -= 1
        if not left:
            loop.stop()

    t0 = clock()
    for _ in range(loops):
        left = BATCH
        for d in delays:
            call_later(d, fired)
        loop.run_forever()
    dt = clock() - t0
    loop.close()
    return dt


def bm_timers_cancel(loops: int, factory: LoopFactory) -> float:
    loop = factory()
    rnd = random.Random(42)
    delays = [1.0 + rnd.random() for _ in range(BATCH)]
    call_later = loop.call_later
    t0 = clock()
    for _ in range(loops):
        handles = [call_later(d, _noop) for d in delays]
        for h in handles:
            h.cancel()
        loop.call_soon(loop.stop)
        loop.run_forever()
    dt = clock() - t0
    loop.close()
    return dt


def bm_future_await(loops: int, factory: LoopFactory) -> float:
    loop = factory()

    async def main() -> None:
        create_future = loop.create_future
        call_soon = loop.call_soon
        for _ in range(FUTURES):
            fut = create_future()
            call_soon(fut.set_result, None)
            await fut

    t0 = clock()
    for _ in range(loops):
        loop.run_until_complete(main())
    dt = clock() - t0
    loop.close()
    return dt


BENCHMARKS: dict[str, tuple[Callable[[int, LoopFactory], float], int]] = {
    "call_soon_batch": (bm_call_soon_batch, BATCH),
    "call_soon_chain": (bm_call_soon_chain, CHAIN),
    "timers_fire": (bm_timers_fire, BATCH),
    "timers_cancel": (bm_timers_cancel, BATCH),
    "future_await": (bm_future_await, FUTURES),
}


def _add_cmdline_args(cmd: list[str], args: Any) -> None:
    cmd.extend(["--impls", args.impls, "--benchmarks", args.benchmarks])
    if args.cpu_time:
        cmd.append("--cpu-time")


def main() -> None:
    runner = pyperf.Runner(add_cmdline_args=_add_cmdline_args)
    runner.argparser.add_argument(
        "--impls", default="whirlwind,asyncio,uvloop", help="comma-separated loops"
    )
    runner.argparser.add_argument(
        "--benchmarks", default=",".join(BENCHMARKS), help="comma-separated names"
    )
    runner.argparser.add_argument(
        "--cpu-time", action="store_true", help="time with time.process_time()"
    )
    runner.metadata["description"] = "asyncio event loop micro-benchmarks"
    args = runner.parse_args()
    global clock
    if args.cpu_time:
        clock = time.process_time
        runner.metadata["clock"] = "process_time"
    factories = _factories()
    for name in args.benchmarks.split(","):
        func, inner = BENCHMARKS[name]
        for impl in args.impls.split(","):
            if impl not in factories:
                continue
            runner.bench_time_func(
                f"{name}-{impl}", func, factories[impl], inner_loops=inner
            )


if __name__ == "__main__":
    main()
