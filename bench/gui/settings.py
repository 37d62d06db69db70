"""The window's settings: bench file, records database, laboratory and signing identity, simulation speed.

Kept as one plain dataclass so the command line, the Settings tab and the tests set the same things.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class GuiSettings:
    """What the bench application runs with."""

    bench_file: str = ""
    db_url: str | None = None  # None: the per-user SQLite file (bench.records.store.default_url)
    lab_file: str = ""  # laboratory identity TOML ("" = the built-in demonstration laboratory)
    signing_identity: str = ""  # .p12 file of the approver ("" = certificates are issued unsigned)
    speed: float | None = None  # simulation: 0 = virtual time, N = N x real time; None = the bench file's
    certificates_dir: str = field(default_factory=lambda: str(Path.cwd() / "certificates"))
    runs_dir: str = ""  # where each run's JSON is written ("" = a "runs" folder beside the certificates)
    operator: str = ""
    approver: str = ""
    as_left: bool = False  # runs test an as-left pass after the as-found pass (meters adjusted in between)
    warmup_s: float = 0.0  # bench seconds energised at the plan's voltage and TA before the first point
    type_registers: bool = False  # a meter without a readable port: the technician types its register
    allow_overdue: bool = False  # never set from the window: overdue references are refused

    def run_json_path(self) -> str:
        """The run JSON of the next run ("{run_id}" is filled in when the run has one)."""
        folder = Path(self.runs_dir) if self.runs_dir else Path(self.certificates_dir).parent / "runs"
        return str(folder / "run-{run_id}.json")
