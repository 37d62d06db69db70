"""``meterbench simulate BENCH --serve``: serve a simulated bench's instruments on loopback sockets.

    meterbench simulate examples/2s-board.toml --serve [--speed N] [--port-base P]
                        [--write-bench FILE] [--write-manifest FILE] [--for SECONDS]

Each simulated instrument of the bench file (the same simulator MeterBench tests with, coupled to one
bench physics) listens on 127.0.0.1 only. For each role it prints the VISA resource to put in a bench
file; ``--write-bench`` writes that bench file (no ``[simulation]`` table: MeterBench, pyvisa-py and other
people's tools reach the simulated bench exactly as they would a shop's real one) and ``--write-manifest``
the meters on the board. Serial instruments (an MT7xx) are served as a serial-to-LAN bridge would serve
them: the same CR-terminated lines over TCP. Ctrl-C stops it; so does ``--for`` seconds.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

from procedures.errors import InputError

ORDER = 60


def register(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "simulate",
        help="serve a simulated bench's instruments on loopback sockets (for real-bench bench files)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("bench", metavar="BENCH", help="bench file with a [simulation] table")
    p.add_argument("--serve", action="store_true", required=True, help="serve the instruments on 127.0.0.1")
    p.add_argument(
        "--speed",
        type=float,
        default=1.0,
        help="bench time per wall second (default 1: real time). A bench file without [simulation] "
        "waits in real time, so above 1 its timed tests (creep, starting, demand, clock) see N times "
        "the time they wait for: results change, runs do not get shorter",
    )
    p.add_argument("--port-base", type=int, default=0, help="first port (default: any free ports)")
    p.add_argument("--write-bench", metavar="FILE", help="write a bench file pointing at the served sockets")
    p.add_argument("--write-manifest", metavar="FILE", help="write the board's meters as a manifest CSV")
    p.add_argument(
        "--for", dest="seconds", type=float, default=8 * 3600.0, help="stop after SECONDS (default 8 h)"
    )
    p.set_defaults(func=run)
    return p


def _check(args) -> None:
    if not (math.isfinite(args.speed) and 0 < args.speed <= 10000):
        raise InputError("--speed", "must be a number above 0 and at most 10000", found=args.speed)
    if not (args.port_base == 0 or 1024 <= args.port_base <= 65000):
        raise InputError("--port-base", "must be 0 (any free ports) or 1024..65000", found=args.port_base)
    if not (math.isfinite(args.seconds) and 0 < args.seconds <= 7 * 86400):
        raise InputError("--for", "must be above 0 and at most a week of seconds", found=args.seconds)
    for opt, value in (("--write-bench", args.write_bench), ("--write-manifest", args.write_manifest)):
        if value and not Path(value).resolve().parent.is_dir():
            raise InputError(opt, "its directory does not exist", found=value)


def run(args) -> int:
    from instruments.benchfile import load_bench_config
    from instruments.clock import RealClock, ScaledClock
    from instruments.sim.serve import serve_bench

    _check(args)
    config = load_bench_config(args.bench)
    clock = RealClock() if args.speed == 1 else ScaledClock(args.speed)
    try:
        served = serve_bench(config, clock, port_base=args.port_base, lifetime_s=args.seconds)
    except OSError as exc:
        raise InputError(
            "--port-base", f"cannot listen: {exc.strerror or exc}", found=args.port_base
        ) from None
    with served:
        print(f"Serving {config.name} on 127.0.0.1 ({args.speed:g} x real time); Ctrl-C stops.")
        if args.speed != 1:
            print(
                f"Warning: the served instruments live {args.speed:g} x real time, a bench that connects to "
                "them waits in real time: creep, starting, demand and clock tests will see more time than "
                "they wait for. Serve at --speed 1 to test as a shop would."
            )
        for inst in served.instruments:
            print(f"  {', '.join(inst.roles):<24} {inst.driver:<14} {inst.resource}")
        if args.write_bench:
            Path(args.write_bench).write_text(served.bench_toml(), encoding="utf-8")
            print(f"Bench file (no [simulation] table): {args.write_bench}")
        if args.write_manifest:
            Path(args.write_manifest).write_text(served.manifest_csv(), encoding="utf-8")
            print(f"Meters on the board: {args.write_manifest}")
        sys.stdout.flush()
        deadline = time.monotonic() + args.seconds
        try:
            while time.monotonic() < deadline:
                time.sleep(0.2)
        except KeyboardInterrupt:
            print("Stopped by Ctrl-C; the simulated instruments are no longer served.", file=sys.stderr)
            return 0
    # a shop's run against these sockets would otherwise just see the port close under it
    print(f"Stopped after --for {args.seconds:g} s; the simulated instruments are no longer served.")
    return 0
