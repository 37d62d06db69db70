"""meterbench gui: open the bench application (load meters, run plans, watch, certify)."""

from __future__ import annotations

import argparse

from procedures.errors import InputError

ORDER = 5


def run(args) -> int:
    from bench.gui import main
    from bench.gui.settings import GuiSettings

    if args.speed is not None and args.speed < 0:
        raise InputError(
            "--speed", "must be >= 0", allowed="0 (virtual time) or a positive factor", found=args.speed
        )
    settings = GuiSettings(
        bench_file=args.bench or "",
        db_url=args.db,
        lab_file=args.lab or "",
        signing_identity=args.identity or "",
        speed=args.speed,
        operator=args.operator,
    )
    if args.warmup is not None and args.warmup < 0:
        raise InputError("--warmup", "must be >= 0", allowed="bench seconds, e.g. 60", found=args.warmup)
    settings.as_left, settings.warmup_s = args.as_left, args.warmup or 0.0
    if args.certificates:
        settings.certificates_dir = args.certificates
    if settings.bench_file:
        from instruments.benchfile import load_bench_config

        load_bench_config(settings.bench_file)  # a bad bench file is an InputError here, exit 2
    return main(settings)


def register(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("gui", help="open the bench application (window)", description=__doc__)
    p.add_argument("--bench", metavar="FILE", help="bench file (TOML), e.g. examples/2s-board.toml")
    p.add_argument("--db", metavar="URL", help="records database URL (default: SQLite in the user data dir)")
    p.add_argument("--lab", metavar="FILE", help="laboratory identity TOML (default: demonstration lab)")
    p.add_argument("--identity", metavar="P12", help="signing identity for certificates (.p12)")
    p.add_argument("--certificates", metavar="DIR", help="certificate folder (default: ./certificates)")
    p.add_argument("--operator", default="", help="who runs the tests (default: the login name)")
    p.add_argument(
        "--speed",
        type=float,
        default=None,
        help="simulation speed: 0 = virtual time, N = N x real time (default: the bench file's)",
    )
    p.add_argument(
        "--as-left",
        action="store_true",
        help="preselect as-found + as-left (the window asks before the as-left pass)",
    )
    p.add_argument("--warmup", type=float, metavar="SECONDS", help="preselect a warm-up (bench seconds)")
    p.set_defaults(func=run)
    return p
