"""Certificates per CPU-second in a batch of 200, and how a batch scales from one core to two.

Run: ``.venv/bin/python benchmarks/bench_certificates.py [--count 200] [--workers 2] [--rounds 2]``.
No asserts; prints:
- signed PDF/A-2b certificates with a schema-validated DCC (the production path, ``issue_batch``) per
  CPU-second, in one process and on ``--workers`` processes (CPU = user + system of this process and its
  reaped workers, so other work on a shared machine inflates it far less than wall time);
- the wall-time ratio of the two batches, round by round (1 process, then N, repeated ``--rounds``
  times so a change of load between them shows), with how many CPUs each batch actually got;
- the pool's CPU efficiency (CPU per certificate alone / in the pool): on N idle cores the ratio is
  about N times that, which is what a shared machine cannot show directly;
- the plain and unsigned PDF/A rates, and the DCC schema check's own cost.
The load average is printed because the machine may be shared: compare ratios, not absolute times.

The numbers before this batch path existed (issue 14: 374 ms CPU per signed certificate, 2.7/s) were
measured with this file's previous version (git history), which drove ``issue_certificate`` by hand.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from reports import dccschema  # noqa: E402
from reports.issue import issue_batch, issue_certificate  # noqa: E402
from reports.samples import sample_certificate_data  # noqa: E402
from reports.signing import load_signer, make_demo_identity  # noqa: E402

PASS = b"bench"


def _batch(count: int, prefix: str = "BENCH"):
    forms = ("2S", "9S")
    return [
        sample_certificate_data(forms[k % 2], certificate_number=f"{prefix}-{k:05d}", serial=f"SN{k:08d}")
        for k in range(count)
    ]


def _cpu() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def _serial_rate(count: int, out: Path, **kw) -> tuple[float, float]:
    """(certificates per CPU-second, per wall second) issuing one at a time in this process."""
    batch = _batch(count)
    c0, w0 = _cpu(), time.perf_counter()
    for data in batch:
        issue_certificate(dataclasses.replace(data), out, **kw)
    return count / (_cpu() - c0), count / (time.perf_counter() - w0)


@dataclasses.dataclass
class Run:
    workers: int
    per_cpu_s: float
    wall: float
    busy: float
    how: str


def _batch_run(count: int, out: Path, identity: Path, workers: int) -> Run:
    """One production batch: load the signer (as the CLI does, once), issue, time it."""
    batch = _batch(count, prefix=f"W{workers}")
    c0, w0 = _cpu(), time.perf_counter()
    signer = load_signer(identity, passphrase=PASS)
    result = issue_batch(batch, out, signer=signer, workers=workers, progress=False)
    wall = time.perf_counter() - w0
    cpu = _cpu() - c0  # the pool has shut down: its workers' CPU is in the children's times
    assert len(result.issued) == count, result.refused[:3]
    return Run(workers, count / cpu, wall, cpu / wall, result.how)


def _validation_cost(folder: Path) -> str:
    files = sorted(folder.glob("*.xml"))[:50]
    blobs = [f.read_bytes() for f in files]
    dccschema.dcc_schema.cache_clear()
    c0 = _cpu()
    dccschema.dcc_schema()
    load = _cpu() - c0
    c0 = _cpu()
    for b in blobs:
        assert not dccschema.dcc_problems(b)
    per = (_cpu() - c0) / len(blobs)
    return (
        f"DCC schema check: {load * 1000:.0f} ms CPU to load (once per process), {per * 1000:.1f} ms per DCC"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--skip-unsigned", action="store_true", help="only the signed batches")
    args = parser.parse_args()
    accel = "rl_accel C accelerator" if _has_accel() else "NO rl_accel (pure-Python reportlab helpers)"
    print(f"cores {os.cpu_count()}; {accel}; load average (1 min) at start {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        ident = make_demo_identity(root / "keys", passphrase=PASS)
        if not args.skip_unsigned:
            plain = _serial_rate(args.count, root / "plain", pdfa=False, dcc=False)
            pdfa = _serial_rate(args.count, root / "pdfa", pdfa=True, dcc=False)
            print(f"plain PDF:          {plain[0]:6.1f} certificates per CPU-second ({plain[1]:.1f}/s wall)")
            print(f"PDF/A-2b, unsigned: {pdfa[0]:6.1f} certificates per CPU-second ({pdfa[1]:.1f}/s wall)")
        print(f"signed PDF/A-2b + validated DCC, batches of {args.count}:")
        runs: list[tuple[Run, Run]] = []
        for k in range(args.rounds):
            pair = []
            for workers in (1, args.workers):
                run = _batch_run(args.count, root / f"r{k}-w{workers}", ident.p12_path, workers)
                pair.append(run)
                print(
                    f"  round {k + 1}, {run.how}: {run.per_cpu_s:5.1f} per CPU-second, {run.wall:5.1f} s wall, "
                    f"{run.busy:.2f} CPUs busy, load {os.getloadavg()[0]:.2f}"
                )
            runs.append((pair[0], pair[1]))
            print(
                f"  round {k + 1}: {args.workers}-process / 1-process throughput {pair[0].wall / pair[1].wall:.2f}x"
            )
        one = statistics.median(r[0].per_cpu_s for r in runs)
        many = statistics.median(r[1].per_cpu_s for r in runs)
        ratio = statistics.median(r[0].wall / r[1].wall for r in runs)
        print(
            f"  median: {one:.1f} per CPU-second in 1 process, {many:.1f} on {args.workers}; ratio {ratio:.2f}x"
        )
        print(
            f"  pool CPU efficiency {many / one:.2f}: on {args.workers} idle cores about "
            f"{args.workers * many / one:.2f}x one core"
        )
        print(_validation_cost(root / "r0-w1"))
    print(f"load average (1 min) at end {os.getloadavg()[0]:.2f}")


def _has_accel() -> bool:
    try:
        import _rl_accel  # noqa: F401
    except ImportError:
        return False
    return True


if __name__ == "__main__":
    main()
