"""Reading the records back: one run whole, runs by filter, point rows, a meter's history, a certificate."""

from __future__ import annotations

import json
from datetime import datetime

import sqlalchemy as sa

from bench.records import audit
from bench.records import models as m
from bench.records.rows import (
    current_rows,
    jsonable,
    point_columns,
)
from procedures.errors import InputError


class RunReads:
    """Reading the records back: one run whole, runs by filter, point rows, a meter's history, a certificate.

    A part of :class:`bench.records.store.RecordStore` (its transactions are the store's).
    """

    def find_certificate(self, number: str) -> dict | None:
        """The certificate row plus its run's plan, meter serial and position outcome, or None."""
        c, rp = m.certificates.c, m.run_positions.c
        with self._read() as conn:
            row = conn.execute(sa.select(m.certificates).where(c.number == number)).mappings().one_or_none()
            if row is None:
                return None
            out = jsonable(row)
            pos = (
                conn.execute(
                    sa.select(m.run_positions).where(
                        rp.run_id == row["run_id"], rp.position == row["position"]
                    )
                )
                .mappings()
                .one()
            )
            run = conn.execute(sa.select(m.runs).where(m.runs.c.id == row["run_id"])).mappings().one()
            out.update(
                serial=pos["meter"]["serial"],
                meter=pos["meter"],
                position_outcome=pos["outcome"],
                plan_id=run["plan_id"],
                plan_version=run["plan_version"],
                run_outcome=run["outcome"],
                run_started_at=audit.iso(run["started_at"]),
            )
            return out

    # ------------------------------------------------------------------ reading back
    def run_record(self, run_id: int) -> dict:
        """Everything about one run as plain JSON-able data (times as ISO 8601 UTC text)."""
        with self._read() as conn:
            run = conn.execute(sa.select(m.runs).where(m.runs.c.id == run_id)).mappings().one_or_none()
            if run is None:
                raise InputError("run", "no such run", found=run_id)

            def rows(table: sa.Table, *where, order=None) -> list[dict]:
                stmt = sa.select(table).where(*where).order_by(*(order or [table.c.id]))
                return [jsonable(r) for r in conn.execute(stmt).mappings()]

            bench = rows(m.benches, m.benches.c.id == run["bench_id"])[0]
            instruments = []
            for link in rows(m.run_instruments, m.run_instruments.c.run_id == run_id):
                inst = rows(m.instruments, m.instruments.c.id == link["instrument_id"])[0]
                cal = link["calibration_id"]
                inst["calibration"] = rows(m.calibrations, m.calibrations.c.id == cal)[0] if cal else None
                instruments.append(inst)
            pts = rows(m.points, m.points.c.run_id == run_id)
            by_point = {p["id"]: p for p in pts}
            for p in pts:
                p["readings"], p["result"] = [], None
            if by_point:
                ids = list(by_point)
                for r in rows(
                    m.readings,
                    m.readings.c.point_id.in_(ids),
                    order=[m.readings.c.point_id, m.readings.c.idx, m.readings.c.id],
                ):
                    by_point[r["point_id"]]["readings"].append(r)
                for r in rows(m.results, m.results.c.point_id.in_(ids)):
                    by_point[r["point_id"]]["result"] = r
            points, old_points = current_rows(pts, ("position", "point_id", "test_pass"))
            averages, old_averages = current_rows(
                rows(m.averages, m.averages.c.run_id == run_id), ("position", "test_pass", "rule")
            )
            certs = rows(m.certificates, m.certificates.c.run_id == run_id)
            if certs:
                snaps = {
                    sn["certificate_id"]: sn["laboratory"]
                    for sn in rows(
                        m.certificate_snapshots,
                        m.certificate_snapshots.c.certificate_id.in_([c["id"] for c in certs]),
                    )
                }
                for c in certs:
                    c["laboratory"] = snaps.get(c["id"])
            return {
                "run": jsonable(run, drop=("heartbeat_at",))
                | {"heartbeat_at": audit.iso(run["heartbeat_at"])},
                "bench": bench,
                "instruments": instruments,
                "positions": rows(
                    m.run_positions, m.run_positions.c.run_id == run_id, order=[m.run_positions.c.position]
                ),
                "points": points,
                "wiring_checks": rows(m.wiring_checks, m.wiring_checks.c.run_id == run_id),
                "averages": averages,
                # Rows a later attempt replaced (a retested point, an interrupted point run again on
                # resume, an average recomputed after a retest): kept and shown, never the result.
                "superseded": {"points": old_points, "averages": old_averages},
                "creep": rows(m.creep, m.creep.c.run_id == run_id),
                "starting": rows(m.starting, m.starting.c.run_id == run_id),
                "certificates": certs,
            }

    @staticmethod
    def _run_filters(
        stmt: sa.Select, *, serial=None, form=None, outcome=None, since=None, until=None, bench=None
    ) -> sa.Select:
        r, rp, mt = m.runs.c, m.run_positions.c, m.meters.c
        if serial is not None or form is not None:
            sub = sa.select(rp.run_id).join(m.meters, mt.id == rp.meter_id)
            if serial is not None:
                sub = sub.where(mt.serial == serial)
            if form is not None:
                sub = sub.where(mt.form == form)
            stmt = stmt.where(r.id.in_(sub))
        if outcome is not None:
            stmt = stmt.where(
                r.status == outcome if outcome in ("running", "interrupted") else r.outcome == outcome
            )
        if since is not None:
            stmt = stmt.where(r.started_at >= since)
        if until is not None:
            stmt = stmt.where(r.started_at < until)
        if bench is not None:
            stmt = stmt.where(r.bench_id.in_(sa.select(m.benches.c.id).where(m.benches.c.name == bench)))
        return stmt

    def list_runs(
        self,
        *,
        serial: str | None = None,
        form: str | None = None,
        outcome: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        bench: str | None = None,
        limit: int = 100,
    ) -> list[dict]:
        """Newest first: run summary with bench name and positions (serial, form, outcome).

        ``outcome`` may also be "running" or "interrupted" (a status); ``until`` is exclusive.
        """
        r = m.runs.c
        stmt = sa.select(m.runs, m.benches.c.name.label("bench")).join(
            m.benches, m.benches.c.id == r.bench_id
        )
        stmt = (
            self._run_filters(
                stmt, serial=serial, form=form, outcome=outcome, since=since, until=until, bench=bench
            )
            .order_by(r.started_at.desc(), r.id.desc())
            .limit(limit)
        )
        with self._read() as conn:
            out = [
                jsonable(row, drop=("environment", "settings", "heartbeat_at"))
                for row in conn.execute(stmt).mappings()
            ]
            if out:
                rp = m.run_positions.c
                positions: dict[int, list] = {}
                for row in conn.execute(
                    sa.select(rp.run_id, rp.position, rp.meter, rp.outcome)
                    .where(rp.run_id.in_([o["id"] for o in out]))
                    .order_by(rp.position)
                ):
                    positions.setdefault(row.run_id, []).append(
                        {
                            "position": row.position,
                            "serial": row.meter["serial"],
                            "form": row.meter["form"],
                            "outcome": row.outcome,
                        }
                    )
                for o in out:
                    o["positions"] = positions.get(o["id"], [])
            return out

    def point_rows(
        self,
        *,
        serial: str | None = None,
        form: str | None = None,
        outcome: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        bench: str | None = None,
        run_id: int | None = None,
    ) -> list[dict]:
        """One flat row per point (with its result, if any): what exports and fleet analysis read.

        Filters select runs as in :meth:`list_runs`; ``serial``/``form`` also select the position.
        """
        r, p, rp, mt = m.runs.c, m.points.c, m.run_positions.c, m.meters.c
        stmt = (
            sa.select(*point_columns())
            .select_from(m.points)
            .join(m.runs, r.id == p.run_id)
            .join(m.benches, m.benches.c.id == r.bench_id)
            .join(m.run_positions, sa.and_(rp.run_id == p.run_id, rp.position == p.position))
            .join(m.meters, mt.id == rp.meter_id)
            .outerjoin(m.results, m.results.c.point_id == p.id)
        )
        stmt = self._run_filters(stmt, outcome=outcome, since=since, until=until, bench=bench)
        if serial is not None:
            stmt = stmt.where(mt.serial == serial)
        if form is not None:
            stmt = stmt.where(mt.form == form)
        if run_id is not None:
            stmt = stmt.where(r.id == run_id)
        stmt = stmt.order_by(r.started_at, r.id, p.position, p.id)
        with self._read() as conn:
            rows = [dict(row) for row in conn.execute(stmt).mappings()]
            ids = sorted({row["run_id"] for row in rows})
            settings = (
                dict(conn.execute(sa.select(r.id, r.settings).where(r.id.in_(ids))).all()) if ids else {}
            )
        for row in rows:  # the customer and record fields as the run's snapshot of the manifest gave them
            snap = ((settings.get(row["run_id"]) or {}).get("meters") or {}).get(str(row["position"])) or {}
            row["customer"] = snap.get("customer") or snap.get("owner") or ""
            fields = dict(snap.get("record_fields") or ())
            row["record_fields"] = json.dumps(fields, ensure_ascii=False) if fields else ""
        return rows

    def meter_history(self, serial: str) -> list[dict]:
        """Every run of one meter, oldest first: run, position, outcome, and each point's result."""
        r, rp, mt = m.runs.c, m.run_positions.c, m.meters.c
        stmt = (
            sa.select(
                r.id.label("run_id"),
                r.started_at,
                r.plan_id,
                r.plan_version,
                m.benches.c.name.label("bench"),
                r.operator,
                r.status.label("run_status"),
                r.outcome.label("run_outcome"),
                rp.position,
                rp.outcome.label("position_outcome"),
                rp.meter,
            )
            .select_from(m.run_positions)
            .join(m.runs, r.id == rp.run_id)
            .join(m.benches, m.benches.c.id == r.bench_id)
            .join(m.meters, mt.id == rp.meter_id)
            .where(mt.serial == serial)
            .order_by(r.started_at, r.id, rp.position)
        )
        with self._read() as conn:
            history = {
                (row["run_id"], row["position"]): {**jsonable(row), "points": []}
                for row in conn.execute(stmt).mappings()
            }
        keys = (
            "test_pass",
            "point_id",
            "label",
            "status",
            "error_percent",
            "expanded_percent",
            "coverage_factor",
            "limit_lo",
            "limit_hi",
            "verdict",
            "readings",
        )
        for row in self.point_rows(serial=serial):
            entry = history.get((row["run_id"], row["position"]))
            if entry is not None:  # a run started between the two queries is left for next time
                entry["points"].append({k: row[k] for k in keys})
        return list(history.values())

    def pooled_repeatability(
        self, run_id: int, *, current_a: float, lag_deg: float, quantity: str = "active"
    ):
        """This run's bench's own repeatability at points like this one, pooled from its earlier runs
        (:mod:`bench.records.repeatability`), or None when its history is too short."""
        from bench.records.repeatability import pooled_repeatability

        with self._read() as conn:
            return pooled_repeatability(conn, run_id, current_a=current_a, lag_deg=lag_deg, quantity=quantity)
