"""`meterbench --help` (and the parser every command builds) must not import the heavy libraries: a shop
typing `meterbench --help`, `plans` or `diagnose` should not wait for GTC, pyHanko, reportlab or SQLAlchemy
(1.2-1.4 s of CPU before; issue #14). Each check runs a fresh interpreter, as the console script does."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HEAVY = (
    "GTC",
    "scipy",
    "numpy",
    "pyhanko",
    "aiohttp",
    "cryptography",
    "reportlab",
    "sqlalchemy",
    "pandas",
    "PySide6",
)
PROBE = """
import json, sys
from bench.cli import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
sys.stderr.write('\\nMODULES:' + json.dumps(sorted({m.split('.')[0] for m in sys.modules})) + '\\n')
"""


def imported_by(*args: str) -> set[str]:
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    line = [ln for ln in proc.stderr.splitlines() if ln.startswith("MODULES:")]
    assert line, proc.stderr
    return set(json.loads(line[-1][len("MODULES:") :]))


@pytest.mark.parametrize(
    "args",
    [("--help",), ("run", "--help"), ("diagnose", "--help"), ("keys", "--help"), ("export", "--help")],
    ids=" ".join,
)
def test_help_imports_no_heavy_library(args):
    heavy = imported_by(*args) & set(HEAVY)
    assert not heavy, f"meterbench {' '.join(args)} imported {sorted(heavy)}; import them inside the command"


def test_plans_list_imports_no_heavy_library():
    heavy = imported_by("plans") & set(HEAVY)
    assert not heavy, f"meterbench plans imported {sorted(heavy)}"


def test_lazy_package_names_still_resolve():
    # the packages that load their names on first use still give every name they list
    import bench.kernel
    import bench.records

    for pkg in (bench.kernel, bench.records):
        for name in pkg.__all__:
            assert getattr(pkg, name) is not None
    with pytest.raises(AttributeError):
        bench.kernel.no_such_name  # noqa: B018
