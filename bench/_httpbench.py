"""Shared driver of the HTTP benchmarks (bm_http_hello.py, bm_web.py).

Each peer server runs in its own process, started as ``python <bench script>
--serve <peer>``: it binds 127.0.0.1 port 0, prints the port as its first
stdout line and serves until killed. The driver starts every server, pins
them to one CPU and wrk to another (``taskset``), warms each up, then runs
wrk for a fixed time per peer, case and mode, in rounds that interleave the
peers, and keeps each figure's best round. It reads the server's CPU time
from /proc around each measured run:
requests per server CPU-second is steadier than requests per wall second
on a machine whose cores are shared with other work. Servers are stopped by
their pid.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
PIPELINE_LUA = os.path.join(HERE, "pipeline.lua")
PIPELINE_DEPTH = 16
CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


@dataclass
class Result:
    peer: str
    case: str
    rps: float
    rps_per_cpu: float  # requests per second of server CPU time
    errors: str


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # utime and stime are fields 14 and 15 of stat(5); [0] here is field 3
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def _taskset(cpu: str | None, cmd: list[str]) -> list[str]:
    if cpu is None or shutil.which("taskset") is None:
        return cmd
    return ["taskset", "-c", cpu, *cmd]


def start_server(
    script: str, peer: str, cpu: str | None
) -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen(
        _taskset(cpu, [sys.executable, script, "--serve", peer]),
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.strip().isdigit():
        stop_server(proc)
        raise RuntimeError(f"{peer}: server did not print its port: {line!r}")
    port = int(line)
    # wait until it answers (uvicorn binds before its loop runs)
    deadline = time.monotonic() + 10
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/hello", timeout=2):
                break
        except OSError:
            if time.monotonic() > deadline:
                stop_server(proc)
                raise
            time.sleep(0.05)
    return proc, port


def stop_server(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.kill()  # by pid: this process only
    proc.wait(10)
    if proc.stdout is not None:
        proc.stdout.close()


def run_wrk(
    url: str,
    *,
    duration: float,
    connections: int,
    pipeline: bool,
    cpu: str | None,
) -> tuple[float, str]:
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(duration))}s", url]
    if pipeline:
        cmd += ["-s", PIPELINE_LUA, "--", str(PIPELINE_DEPTH)]
    out = subprocess.run(
        _taskset(cpu, cmd), capture_output=True, text=True, check=True
    ).stdout
    m = re.search(r"Requests/sec:\s+([0-9.]+)", out)
    if not m:
        raise RuntimeError(f"unexpected wrk output:\n{out}")
    errors = []
    for pattern in (r"Non-2xx or 3xx responses: (\d+)", r"Socket errors: (.*)"):
        e = re.search(pattern, out)
        if e:
            errors.append(e.group(0))
    return float(m.group(1)), "; ".join(errors)


def check_response(url: str, expect: bytes) -> int:
    with urllib.request.urlopen(url, timeout=5) as r:
        body = r.read()
        if r.status != 200 or expect not in body:
            raise RuntimeError(f"{url}: unexpected response {r.status} {body[:200]!r}")
    return len(body)


def main(
    script: str,
    description: str,
    peers: dict[str, Callable[[], None]],
    cases: dict[str, tuple[str, bytes]],
    argv: Sequence[str] | None = None,
) -> None:
    """``cases`` maps a case name to (path, bytes the body must contain); each
    case runs keep-alive and, unless disabled, 16-deep pipelined."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--serve", choices=sorted(peers), help=argparse.SUPPRESS)
    parser.add_argument("--peers", default=",".join(peers))
    parser.add_argument("--cases", default=",".join(cases))
    parser.add_argument("--modes", default="keepalive,pipelined")
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--server-cpu", default="0")
    parser.add_argument("--wrk-cpu", default="1")
    parser.add_argument("--rounds", type=int, default=3, help="best of N rounds")
    args = parser.parse_args(argv)
    if args.serve:
        peers[args.serve]()
        return
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed: apt-get install -y wrk")

    modes = args.modes.split(",")
    peer_names = args.peers.split(",")
    case_names = args.cases.split(",")
    servers: dict[str, tuple[subprocess.Popen[str], int]] = {}
    best: dict[tuple[str, str], Result] = {}
    try:
        for peer in peer_names:
            servers[peer] = start_server(script, peer, args.server_cpu)
        # Rounds interleave the peers, so a burst of load from other work on
        # the machine hits one round of each rather than all runs of one.
        for rnd in range(args.rounds):
            for case in case_names:
                path, expect = cases[case]
                for mode in modes:
                    for peer in peer_names:
                        proc, port = servers[peer]
                        url = f"http://127.0.0.1:{port}{path}"
                        kw: dict[str, Any] = dict(
                            connections=args.connections,
                            pipeline=mode == "pipelined",
                            cpu=args.wrk_cpu,
                        )
                        if rnd == 0:
                            size = check_response(url, expect)
                            run_wrk(url, duration=args.warmup, **kw)
                        cpu0 = _cpu_seconds(proc.pid)
                        rps, errors = run_wrk(url, duration=args.duration, **kw)
                        cpu = _cpu_seconds(proc.pid) - cpu0
                        per_cpu = rps * args.duration / cpu if cpu else 0.0
                        key = (peer, f"{case} {mode}")
                        old = best.get(key)
                        r = Result(
                            peer,
                            key[1],
                            max(rps, old.rps if old else 0.0),
                            max(per_cpu, old.rps_per_cpu if old else 0.0),
                            errors or (old.errors if old else ""),
                        )
                        best[key] = r
                        print(
                            f"round {rnd + 1} {peer:18} {case:6} {mode:10}"
                            f" {rps:9.0f} req/s {per_cpu:9.0f} req/CPU-s"
                            + (f" ({size} B body)" if rnd == 0 else "")
                            + (f" {errors}" if errors else ""),
                            flush=True,
                        )
    finally:
        for proc, _ in servers.values():
            stop_server(proc)
    print_table(list(best.values()), args)


def print_table(results: list[Result], args: argparse.Namespace) -> None:
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print()
    print(
        f"best of {args.rounds} rounds of wrk -t1 -c{args.connections}"
        f" -d{args.duration:g}s (pipelined: {PIPELINE_DEPTH} deep),"
        f" server on CPU {args.server_cpu}, wrk on CPU {args.wrk_cpu},"
        f" load average {load:.1f}"
    )
    cases = list(dict.fromkeys(r.case for r in results))
    peers = list(dict.fromkeys(r.peer for r in results))
    by = {(r.peer, r.case): r for r in results}
    print("| peer | " + " | ".join(cases) + " |")
    print("|---|" + "---|" * len(cases))
    for peer in peers:
        cells = []
        for case in cases:
            r = by.get((peer, case))
            cells.append(
                "" if r is None else f"{r.rps:,.0f} ({r.rps_per_cpu:,.0f}/CPU-s)"
            )
        print(f"| {peer} | " + " | ".join(cells) + " |")
    base = "tornado-asyncio"
    if any(p == base for p in peers):
        print()
        print("ratio to tornado-asyncio, req/s (req per CPU-second):")
        for peer in peers:
            cells = []
            for case in cases:
                r, b = by.get((peer, case)), by.get((base, case))
                if r is None or b is None or not b.rps or not b.rps_per_cpu:
                    cells.append("")
                else:
                    cells.append(
                        f"{r.rps / b.rps:.2f}x ({r.rps_per_cpu / b.rps_per_cpu:.2f}x)"
                    )
            print(f"| {peer} | " + " | ".join(cells) + " |")
