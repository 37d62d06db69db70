"""One run from the command line or the GUI: validate everything, open, run, record, publish.

Everything a run needs is validated *before* anything is opened or written (bench file, plan, meters,
database URL), so bad input leaves no half-written run behind. Then: the records store (recovering runs
left by a dead process), the bench (put in its safe state on opening), the engine, the JSON file and the
certificates.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from bench.kernel import KernelSettings
from bench.meters import LoadedMeter, check_board, load_manifest, make_meter
from procedures.errors import InputError
from procedures.plans import Plan, load_plan


def sim_meter_raw(sm) -> dict:
    """A bench file's [[simulation.meter]] entry as the fields a manifest row has."""
    return {
        "position": sm.position,
        "serial": sm.serial,
        "form": sm.form,
        "accuracy_class": sm.accuracy_class,
        "current_class": sm.current_class or "",
        "voltage": sm.voltage,
        "ta": sm.ta,
        "kh": sm.kh,
        "kt": sm.kt,
        "ib": sm.ib,
        "in": sm.in_,
        "imax": sm.imax,
        "manufacturer": sm.manufacturer,
        "model": sm.model,
        "firmware": sm.firmware,
    }


def meters_from_bench(config) -> list[LoadedMeter]:
    """The simulated meters of a bench file, as if the technician had scanned them in."""
    sim = getattr(config, "simulation", None)
    if sim is None or not sim.meters:
        raise InputError(
            "--meters",
            "this bench file has no [[simulation.meter]] entries",
            allowed="a manifest CSV (--meters FILE) naming the meters on the board",
            source=config.path,
        )
    meters = []
    for k, sm in enumerate(sim.meters):
        raw = sim_meter_raw(sm)
        meters.append(make_meter(raw, source=config.path, prefix=f"simulation.meter[{k}]."))
    check_board(meters, config.path)
    return meters


@dataclass
class RunRequest:
    bench_file: str
    plan: str
    manifest: str | None = None
    operator: str = ""
    db_url: str | None = None
    json_out: str | None = None
    certificates_dir: str | None = None
    settings: KernelSettings = field(default_factory=KernelSettings)
    speed: float | None = None
    positions: Iterable[int] | None = None  # only these positions (default: every loaded meter)
    meters: list[LoadedMeter] | None = None  # already validated (a resumed run's recorded meters)
    environment: dict = field(default_factory=dict)  # temperature_c, humidity_pct as measured at the bench


@dataclass
class Prepared:
    config: object
    plan: Plan
    meters: list[LoadedMeter]


def prepare(req: RunRequest) -> Prepared:
    """Validate bench file, plan and meters; opens nothing, writes nothing."""
    from instruments.benchfile import load_bench_config

    config = load_bench_config(req.bench_file)
    plan = load_plan(req.plan)
    if req.meters is not None:
        meters = list(req.meters)
    elif req.manifest:
        meters = load_manifest(req.manifest)
    else:
        meters = meters_from_bench(config)
    if req.positions:
        wanted = set(req.positions)
        meters = [m for m in meters if m.position in wanted]
        check_board(meters, "--positions")
    too_far = [m.position for m in meters if m.position > config.positions]
    if too_far:
        raise InputError(
            "position",
            f"bench {config.name!r} has {config.positions} positions",
            allowed=f"1..{config.positions}",
            found=too_far,
        )
    return Prepared(config, plan, meters)


def open_store(url: str | None, *, create: bool = True):
    """The records store; ``create=False`` for commands that read or add to existing records (a mistyped
    --db must not conjure an empty database that then answers "not found")."""
    from bench.records import RecordStore

    store = RecordStore.open(url, create=create)
    store.recover_interrupted()
    return store


def whoami() -> str:
    try:
        return os.getlogin()
    except OSError:
        return os.environ.get("USER", "operator")


def default_certificates_dir() -> Path:
    return Path.cwd() / "certificates"
