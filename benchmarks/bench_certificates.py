"""Certificates per second for a batch of 200: plain PDF, PDF/A-2b, and PDF/A-2b signed (PAdES).

Run: ``.venv/bin/python benchmarks/bench_certificates.py [--count N]``. Prints three numbers; no asserts.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from reports.issue import issue_certificate  # noqa: E402
from reports.samples import sample_certificate_data  # noqa: E402
from reports.signing import load_signer, make_demo_identity  # noqa: E402


def _batch(count: int):
    forms = ("2S", "9S")
    for k in range(count):
        yield sample_certificate_data(forms[k % 2], certificate_number=f"BENCH-{k:05d}", serial=f"SN{k:08d}")


def _rate(count: int, out: Path, **kw) -> float:
    start = time.perf_counter()
    for data in _batch(count):
        issue_certificate(dataclasses.replace(data), out, dcc=False, **kw)
    return count / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        ident = make_demo_identity(root / "keys", passphrase=b"bench")
        signer = load_signer(ident.p12_path, passphrase=b"bench")
        plain = _rate(args.count, root / "plain", pdfa=False)
        pdfa = _rate(args.count, root / "pdfa", pdfa=True)
        signed = _rate(args.count, root / "signed", pdfa=True, signer=signer)
    print(f"plain PDF:         {plain:6.1f} certificates/s")
    print(f"PDF/A-2b:          {pdfa:6.1f} certificates/s")
    print(f"PDF/A-2b + PAdES:  {signed:6.1f} certificates/s")


if __name__ == "__main__":
    main()
