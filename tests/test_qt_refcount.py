"""The installed Qt binding keeps Python's reference counts: PySide6 6.12.0 on Python 3.11 takes a reference
from None on each call that returns nothing, and the bench application aborts after some thousands of
them, possibly in the middle of a run (pyproject.toml pins it away)."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import os, sys
os.environ["QT_QPA_PLATFORM"] = "offscreen"
from PySide6.QtWidgets import QApplication, QLabel
app = QApplication([])
label = QLabel()
before = sys.getrefcount(None)
for _ in range(2000):
    label.setText("a")
print(before - sys.getrefcount(None))
"""


def test_a_thousand_qt_calls_do_not_eat_references_to_none():
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    lost = int(out.stdout.strip().splitlines()[-1])
    assert lost < 100, f"{lost} references to None lost in 2000 calls: this PySide6 will crash the GUI"
