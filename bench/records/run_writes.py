"""A run's records as they are taken: the run, its points, readings, results, checks and certificates."""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from bench.records import encoding
from bench.records import models as m
from bench.records.rows import (
    DIRECTIONS,
    POINT_STATUSES,
    QUANTITIES,
    RUN_OUTCOMES,
    TEST_PASSES,
    choice,
    jsonable,
)
from procedures.errors import InputError


class RunWrites:
    """A run's records as they are taken: the run, its points, readings, results, checks and certificates.

    A part of :class:`bench.records.store.RecordStore` (its transactions are the store's).
    """

    # ------------------------------------------------------------------ runs
    def start_run(
        self,
        *,
        plan_id: str,
        plan_version: str,
        plan_sha256: str,
        bench_id: int,
        operator: str,
        environment: dict,
        settings: dict,
        positions: dict[int, int],
        instruments: list[int] | None = None,
    ) -> int:
        """A new run, status "running", owned by this process. ``positions`` maps position -> meter id.

        ``instruments`` (ids) defaults to the bench's most recently upserted instrument per role.
        """
        if not positions:
            raise InputError(
                "positions", "a run needs at least one position with a meter", source="records store"
            )
        with self._write() as tx:
            conn = tx.conn
            self._require(conn, m.benches, bench_id, "bench_id")
            meters = {}
            for pos, meter_id in positions.items():
                row = (
                    conn.execute(sa.select(m.meters).where(m.meters.c.id == meter_id))
                    .mappings()
                    .one_or_none()
                )
                if row is None:
                    raise InputError(
                        f"positions[{pos}]", "no meter with this id", found=meter_id, source="records store"
                    )
                meters[pos] = jsonable(row, drop=("created_at", "updated_at"))
            run_id = tx.insert(
                m.runs,
                {
                    "plan_id": plan_id,
                    "plan_version": plan_version,
                    "plan_sha256": plan_sha256,
                    "bench_id": bench_id,
                    "operator": operator,
                    "environment": environment,
                    "settings": settings,
                    "status": "running",
                    "outcome": None,
                    "started_at": tx.at,
                    "finished_at": None,
                    "bench_seconds": None,
                    "wall_seconds": None,
                    "pid": os.getpid(),
                    "hostname": socket.gethostname(),
                    "resumes": 0,
                    "heartbeat_at": tx.at,
                },
            )
            for inst_id in (
                instruments if instruments is not None else self._current_instruments(conn, bench_id)
            ):
                self._require(conn, m.instruments, inst_id, "instruments")
                cal = conn.execute(
                    sa.select(m.calibrations.c.id)
                    .where(m.calibrations.c.instrument_id == inst_id)
                    .order_by(m.calibrations.c.id.desc())
                    .limit(1)
                ).scalar_one_or_none()
                tx.insert(
                    m.run_instruments, {"run_id": run_id, "instrument_id": inst_id, "calibration_id": cal}
                )
            for pos in sorted(positions):
                tx.insert(
                    m.run_positions,
                    {
                        "run_id": run_id,
                        "position": pos,
                        "meter_id": positions[pos],
                        "meter": meters[pos],
                        "outcome": None,
                        "message": "",
                    },
                )
            return run_id

    @staticmethod
    def _current_instruments(conn: sa.Connection, bench_id: int) -> list[int]:
        t = m.instruments
        newest: dict[str, tuple[datetime, int]] = {}
        for row in conn.execute(sa.select(t.c.id, t.c.role, t.c.seen_at).where(t.c.bench_id == bench_id)):
            if row.role not in newest or (row.seen_at, row.id) > newest[row.role]:
                newest[row.role] = (row.seen_at, row.id)
        return [newest[r][1] for r in sorted(newest)]

    def heartbeat(self, run_id: int) -> None:
        """Say "this run's process is alive" (not audited: liveness, not a record)."""
        with self._transaction() as tx:  # nothing to seal: no audit entry, no anchor
            tx.conn.execute(sa.update(m.runs).where(m.runs.c.id == run_id).values(heartbeat_at=m.utcnow()))

    def add_point(
        self,
        run_id: int,
        *,
        position: int,
        point_id: str,
        label: str,
        element: str,
        test_pass: str,
        kind: str,
        voltage_v: float,
        current_a: float,
        lag_deg: float,
        limit_lo: float | None,
        limit_hi: float | None,
        limit_provenance: dict,
        planned: dict,
        quantity: str = "active",
        direction: str = "delivered",
    ) -> int:
        choice("test_pass", test_pass, TEST_PASSES)
        choice("quantity", quantity, QUANTITIES)
        choice("direction", direction, DIRECTIONS)
        with self._write() as tx:
            self._require_position(tx.conn, run_id, position)
            return tx.insert(
                m.points,
                {
                    "run_id": run_id,
                    "position": position,
                    "point_id": point_id,
                    "label": label,
                    "element": element,
                    "test_pass": test_pass,
                    "kind": kind,
                    "voltage_v": voltage_v,
                    "current_a": current_a,
                    "lag_deg": lag_deg,
                    "quantity": quantity,
                    "direction": direction,
                    "limit_lo": limit_lo,
                    "limit_hi": limit_hi,
                    "limit_provenance": limit_provenance,
                    "planned": planned,
                    "status": "running",
                    "message": "",
                    "started_at": tx.at,
                    "finished_at": None,
                },
            )

    def add_reading(
        self,
        point_row: int,
        *,
        index: int,
        meter_pulses: int,
        ref_pulses: float,
        kr_wh: float,
        kt_wh: float,
        gate_seconds: float,
        error_percent: float,
        instrument_error_percent: float | None,
        reference: dict,
    ) -> int:
        """Store one raw reading; it is committed (audited, on disk) when this returns, and its row id is
        returned. Inside :meth:`batch` it is committed with the batch (one multi-row INSERT for the readings
        of that moment) and None is returned."""
        with self._write() as tx:
            return tx.insert(
                m.readings,
                {
                    "point_id": point_row,
                    "idx": index,
                    "meter_pulses": meter_pulses,
                    "ref_pulses": ref_pulses,
                    "kr_wh": kr_wh,
                    "kt_wh": kt_wh,
                    "gate_seconds": gate_seconds,
                    "error_percent": error_percent,
                    "instrument_error_percent": instrument_error_percent,
                    "reference": reference,
                    "taken_at": tx.at,
                },
                defer=tx.batch,
            )

    def add_readings_bulk(self, point_row: int, readings: Iterable[Mapping[str, Any]]) -> int:
        """Many readings in one transaction (imports, benchmarks); the engine uses :meth:`add_reading`.

        Each mapping has :meth:`add_reading`'s keyword names. Returns how many were stored.
        """
        with self._write() as tx:
            rows = [
                {
                    "point_id": point_row,
                    "idx": r["index"],
                    "meter_pulses": r["meter_pulses"],
                    "ref_pulses": r["ref_pulses"],
                    "kr_wh": r["kr_wh"],
                    "kt_wh": r["kt_wh"],
                    "gate_seconds": r["gate_seconds"],
                    "error_percent": r["error_percent"],
                    "instrument_error_percent": r.get("instrument_error_percent"),
                    "reference": r["reference"],
                    "taken_at": tx.at,
                }
                for r in readings
            ]
            return len(tx.insert_many(m.readings, rows)) if rows else 0

    def finish_point(
        self,
        point_row: int,
        *,
        status: str,
        error_percent: float | None,
        expanded_percent: float | None,
        coverage_factor: float | None,
        dof: float | None,
        budget: list[dict],
        verdict: str | None,
        decision_rule: str | None,
        message: str = "",
    ) -> None:
        choice("status", status, POINT_STATUSES)
        changes = {"status": status, "message": message}
        with self._write() as tx:
            changes["finished_at"] = tx.at
            known = tx.remembered.get(point_row) or self.remembered.get(point_row)
            merged = None
            if known is not None:  # a point this store wrote: no read-back, the update checks it still runs
                merged = tx.update_known(m.points, point_row, known, changes, where={"status": "running"})
            if merged is None:
                point = (
                    tx.conn.execute(sa.select(m.points).where(m.points.c.id == point_row))
                    .mappings()
                    .one_or_none()
                )
                if point is None:
                    raise InputError("point_row", "no such point", found=point_row, source="records store")
                if point["status"] != "running":
                    raise InputError(
                        "point_row",
                        f"point already {point['status']}; a result is recorded once",
                        found=point_row,
                        source="records store",
                    )
                merged = tx.update_known(
                    m.points, point_row, encoding.encode_row(m.points, point)[1], changes
                )
            tx.insert(
                m.results,
                {
                    "point_id": point_row,
                    "error_percent": error_percent,
                    "expanded_percent": expanded_percent,
                    "coverage_factor": coverage_factor,
                    "dof": dof,
                    "budget": budget,
                    "limit_lo": json.loads(merged["limit_lo"]),
                    "limit_hi": json.loads(merged["limit_hi"]),
                    "verdict": verdict,
                    "decision_rule": decision_rule,
                    "created_at": tx.at,
                },
                defer=True,
            )

    def add_wiring_check(
        self,
        run_id: int,
        *,
        position: int | None,
        rotation: str,
        findings: list[dict],
        phasors: dict,
        registration_percent: float | None,
        override_reason: str | None = None,
    ) -> int:
        with self._write() as tx:
            self._require_position(tx.conn, run_id, position)
            return tx.insert(
                m.wiring_checks,
                {
                    "run_id": run_id,
                    "position": position,
                    "rotation": rotation,
                    "findings": findings,
                    "phasors": phasors,
                    "registration_percent": registration_percent,
                    "override_reason": override_reason,
                    "checked_at": tx.at,
                },
            )

    def add_average(
        self, run_id: int, *, position: int, test_pass: str, rule: str, value_percent: float, verdict: str
    ) -> int:
        choice("test_pass", test_pass, TEST_PASSES)
        with self._write() as tx:
            self._require_position(tx.conn, run_id, position)
            return tx.insert(
                m.averages,
                {
                    "run_id": run_id,
                    "position": position,
                    "test_pass": test_pass,
                    "rule": rule,
                    "value_percent": value_percent,
                    "verdict": verdict,
                    "created_at": tx.at,
                },
            )

    def _pulse_test(
        self, table: sa.Table, run_id: int, position: int, pulses: int, seconds: float, verdict: str
    ) -> int:
        with self._write() as tx:
            self._require_position(tx.conn, run_id, position)
            return tx.insert(
                table,
                {
                    "run_id": run_id,
                    "position": position,
                    "pulses": pulses,
                    "seconds": seconds,
                    "verdict": verdict,
                    "created_at": tx.at,
                },
            )

    def add_creep(self, run_id: int, *, position: int, pulses: int, seconds: float, verdict: str) -> int:
        return self._pulse_test(m.creep, run_id, position, pulses, seconds, verdict)

    def add_starting(self, run_id: int, *, position: int, pulses: int, seconds: float, verdict: str) -> int:
        return self._pulse_test(m.starting, run_id, position, pulses, seconds, verdict)

    def set_position_outcome(self, run_id: int, position: int, outcome: str, message: str = "") -> None:
        rp = m.run_positions.c
        with self._write() as tx:
            row_id = tx.conn.execute(
                sa.select(rp.id).where(rp.run_id == run_id, rp.position == position)
            ).scalar_one_or_none()
            if row_id is None:
                raise InputError(
                    "position", f"run {run_id} has no such position", found=position, source="records store"
                )
            tx.update(m.run_positions, row_id, {"outcome": outcome, "message": message})

    def finish_run(
        self,
        run_id: int,
        outcome: str,
        *,
        bench_seconds: float,
        wall_seconds: float,
        unconfirmed: list[str] | tuple[str, ...] = (),
    ) -> None:
        """End a run; ``unconfirmed`` are the [U] commands its drivers sent (the shop opted in), kept with
        the run's settings so its certificates can state them."""
        choice("outcome", outcome, RUN_OUTCOMES)
        with self._write() as tx:
            changes = {
                "status": "finished",
                "outcome": outcome,
                "finished_at": tx.at,
                "bench_seconds": bench_seconds,
                "wall_seconds": wall_seconds,
            }
            if unconfirmed:
                row = tx.conn.execute(sa.select(m.runs.c.settings).where(m.runs.c.id == run_id)).scalar()
                settings = dict(row or {})
                settings["unconfirmed_commands"] = sorted(
                    set(settings.get("unconfirmed_commands", [])) | set(unconfirmed)
                )
                changes["settings"] = settings
            tx.update(m.runs, run_id, changes)

    def close_open_points(self, run_id: int, message: str) -> list[int]:
        """A run that ended early (an instrument error, an abort): its points still running are closed as
        failed with why, never left "running". Returns their rows."""
        p = m.points.c
        with self._write() as tx:
            rows = (
                tx.conn.execute(sa.select(p.id).where(p.run_id == run_id, p.status == "running"))
                .scalars()
                .all()
            )
            for pid in rows:
                tx.update(m.points, pid, {"status": "failed", "message": message, "finished_at": tx.at})
            return list(rows)

    def completed_points(self, run_id: int) -> set[tuple[int, str, str]]:
        """(position, point_id, test_pass) already done, failed or skipped: what a resumed run must not
        repeat."""
        p = m.points.c
        with self._read() as conn:
            rows = conn.execute(
                sa.select(p.position, p.point_id, p.test_pass).where(
                    p.run_id == run_id, p.status.in_(("done", "failed", "skipped"))
                )
            )
            return {(r.position, r.point_id, r.test_pass) for r in rows}

    # ------------------------------------------------------------------ certificates
    def record_certificate(
        self,
        run_id: int,
        position: int,
        *,
        number: str,
        content_hash: str,
        pdf_path: str,
        dcc_path: str | None,
        laboratory: dict | None = None,
    ) -> None:
        """Record an issued certificate; ``laboratory`` is the laboratory it was issued under, as data."""
        with self._write() as tx:
            self._require_position(tx.conn, run_id, position)
            c = m.certificates.c
            if tx.conn.execute(sa.select(c.id).where(c.number == number)).first() is not None:
                raise InputError(
                    "number",
                    "a certificate with this number is already recorded",
                    found=number,
                    source="records store",
                )
            cert_id = tx.insert(
                m.certificates,
                {
                    "run_id": run_id,
                    "position": position,
                    "number": number,
                    "content_hash": content_hash,
                    "pdf_path": pdf_path,
                    "dcc_path": dcc_path,
                    "issued_at": tx.at,
                },
            )
            if laboratory is not None:
                tx.insert(
                    m.certificate_snapshots,
                    {"certificate_id": cert_id, "laboratory": laboratory, "created_at": tx.at},
                )
