"""CPU seconds to start ``meterbench`` for the commands a shop types first (``--help``, ``plans``,
``diagnose --help``), and which heavy libraries each one imported.

Each command runs in a fresh interpreter from this checkout (``python -m bench.cli``); the CPU time is the
child's user + system time from ``resource.getrusage(RUSAGE_CHILDREN)``, the median of ``--repeat`` runs,
so it does not drift with wall-clock load the way elapsed time does. Target (issue #14): ``--help`` <= 0.3 s.

    python benchmarks/bench_startup.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("GTC", "scipy", "numpy", "pyhanko", "aiohttp", "cryptography", "reportlab", "sqlalchemy", "pandas")
COMMANDS = (["--help"], ["plans"], ["diagnose", "--help"], ["run", "--help"])
#: runs the CLI as ``meterbench`` would, then reports which heavy top-level packages got imported
PROBE = (
    "import sys, runpy\n"
    "sys.argv = ['meterbench'] + sys.argv[1:]\n"
    "try:\n"
    "    runpy.run_module('bench.cli', run_name='__main__')\n"
    "except SystemExit:\n"
    "    pass\n"
    f"heavy = [m for m in {HEAVY!r} if m in sys.modules]\n"
    "sys.stderr.write('HEAVY:' + ','.join(heavy) + '\\n')\n"
)


def cpu_of(args: list[str]) -> tuple[float, list[str]]:
    """CPU seconds of one fresh interpreter running ``meterbench ARGS``, and the heavy packages it loaded."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        cwd=ROOT,
        env={**os.environ, "COLUMNS": "80"},
        capture_output=True,
        text=True,
        check=False,
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    heavy_line = [ln for ln in proc.stderr.splitlines() if ln.startswith("HEAVY:")]
    heavy = heavy_line[-1][len("HEAVY:") :].split(",") if heavy_line else ["?"]
    return cpu, [h for h in heavy if h]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    opts = ap.parse_args()
    base = statistics.median(cpu_of_python() for _ in range(opts.repeat))
    print(f"bare interpreter (python -c pass): {base:.3f} s CPU")
    for args in COMMANDS:
        runs = [cpu_of(args) for _ in range(opts.repeat)]
        cpu = statistics.median(c for c, _ in runs)
        heavy = runs[-1][1]
        print(
            f"meterbench {' '.join(args):<16} {cpu:.3f} s CPU   heavy imports: {', '.join(heavy) or 'none'}"
        )
    return 0


def cpu_of_python() -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


if __name__ == "__main__":
    raise SystemExit(main())
