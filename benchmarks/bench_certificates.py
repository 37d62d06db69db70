"""Certificates per CPU-second for a batch of 200, and how a batch scales from one core to two.

Run: ``.venv/bin/python benchmarks/bench_certificates.py [--count N] [--workers 2]``. No asserts.

Prints, for signed PDF/A-2b certificates with a schema-validated DCC (the production path):
- certificates per CPU-second in one process (CPU = this process's user+system time, so other work on a
  shared machine inflates it much less than wall time);
- the batch on 1 and on ``--workers`` processes (wall time), and their ratio;
- the load average before and after, since the machine is shared.
Also the plain and unsigned PDF/A rates, and the DCC validation cost on its own.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from reports import issue as issuing  # noqa: E402
from reports.issue import issue_certificate  # noqa: E402
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
    return t.user + t.system


def _serial_rate(count: int, out: Path, **kw) -> tuple[float, float]:
    """(certificates per CPU-second, per wall second) issuing one at a time in this process."""
    batch = _batch(count)
    c0, w0 = _cpu(), time.perf_counter()
    for data in batch:
        issue_certificate(dataclasses.replace(data), out, **kw)
    return count / (_cpu() - c0), count / (time.perf_counter() - w0)


def _batch_run(count: int, out: Path, identity: Path, workers: int) -> tuple[float, float, str]:
    """(certificates per CPU-second over all processes, wall seconds, how) for one production batch."""
    batch = _batch(count, prefix=f"W{workers}")
    signer = load_signer(identity, passphrase=PASS)  # as the CLI does: parsed once for the batch
    t0, w0 = os.times(), time.perf_counter()
    result = issuing.issue_batch(batch, out, signer=signer, workers=workers, progress=False)
    wall = time.perf_counter() - w0
    t1 = os.times()  # the pool has shut down: its workers' CPU is in the children's times
    cpu = sum(t1[:4]) - sum(t0[:4])
    assert len(result.issued) == count, result.refused[:3]
    return count / cpu, wall, f"{result.how}; {cpu / wall:.2f} CPUs busy on average"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--skip-unsigned", action="store_true", help="only the signed+DCC batch")
    args = parser.parse_args()
    load0 = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        ident = make_demo_identity(root / "keys", passphrase=PASS)
        if not args.skip_unsigned:
            plain = _serial_rate(args.count, root / "plain", pdfa=False, dcc=False)
            pdfa = _serial_rate(args.count, root / "pdfa", pdfa=True, dcc=False)
            print(f"plain PDF:                 {plain[0]:6.1f} /CPU-s  {plain[1]:6.1f} /s wall")
            print(f"PDF/A-2b:                  {pdfa[0]:6.1f} /CPU-s  {pdfa[1]:6.1f} /s wall")
        if hasattr(issuing, "issue_batch"):
            one = _batch_run(args.count, root / "one", ident.p12_path, 1)
            many = _batch_run(args.count, root / "many", ident.p12_path, args.workers)
        else:  # before the batch API: one signer, one certificate at a time, and a fork pool by hand
            one, many = _legacy(args.count, root, ident.p12_path, args.workers)
        _validation_cost(root / "one")
    load1 = os.getloadavg()
    print(f"signed PDF/A-2b + DCC, batch of {args.count}:")
    print(f"  1 process:   {one[0]:6.1f} certificates per CPU-second; {one[1]:6.1f} s wall ({one[2]})")
    print(
        f"  {args.workers} processes: {many[0]:6.1f} certificates per CPU-second; {many[1]:6.1f} s wall ({many[2]})"
    )
    print(f"  {args.workers}-process / 1-process throughput (wall): {one[1] / many[1]:.2f}x")
    print(f"load average (1 min) before {load0[0]:.2f}, after {load1[0]:.2f}; cores {os.cpu_count()}")


def _validation_cost(folder: Path) -> None:
    """The DCC schema check alone: its first load, and per document."""
    files = sorted(folder.glob("*.xml"))[:50]
    if not files:
        return
    blobs = [f.read_bytes() for f in files]
    try:
        from reports import dccschema
    except ImportError:  # before: only the tests validated, with xmlschema
        import xmlschema

        d = Path(__file__).resolve().parents[1] / "tests" / "data" / "dcc-3.3.0"
        c0 = _cpu()
        schema = xmlschema.XMLSchema(
            str(d / "dcc.xsd"),
            allow="local",
            locations=[("http://qudt.org/vocab/", str(d / "si" / "qudt" / "quantitykind.xsd"))],
        )
        load = _cpu() - c0
        c0 = _cpu()
        for b in blobs:
            schema.validate(b.decode())
        per = (_cpu() - c0) / len(blobs)
        how = "xmlschema (tests only)"
    else:
        c0 = _cpu()
        dccschema.dcc_schema()
        load = _cpu() - c0
        c0 = _cpu()
        for b in blobs:
            dccschema.dcc_problems(b)
        per = (_cpu() - c0) / len(blobs)
        how = "reports.dccschema (production)"
    print(f"DCC schema validation: load {load * 1000:.0f} ms once, {per * 1000:.1f} ms CPU per DCC [{how}]")


def _legacy(count: int, root: Path, identity: Path, workers: int):
    import multiprocessing as mp

    signer = load_signer(identity, passphrase=PASS)
    c0, w0 = _cpu(), time.perf_counter()
    for data in _batch(count, "W1"):
        issue_certificate(data, root / "one", signer=signer)
    one = (count / (_cpu() - c0), time.perf_counter() - w0, "serial, issue_certificate")
    batch = _batch(count, "W2")
    chunks = [batch[i::workers] for i in range(workers)]
    global _LEGACY_SIGNER
    _LEGACY_SIGNER = signer
    w0 = time.perf_counter()
    with mp.get_context("fork").Pool(workers) as pool:
        cpus = pool.map(_legacy_chunk, [(c, str(root / "many")) for c in chunks])
    many = (count / sum(cpus), time.perf_counter() - w0, f"fork pool of {workers}, benchmark's own")
    return one, many


_LEGACY_SIGNER = None


def _legacy_chunk(args) -> float:
    chunk, out = args
    c0 = _cpu()
    for data in chunk:
        issue_certificate(data, out, signer=_LEGACY_SIGNER)
    return _cpu() - c0


if __name__ == "__main__":
    main()
