"""A bench's own measured repeatability, pooled from its records (what a plan with
``test_time = "from-uncertainty"`` uses instead of taking several readings at every point).

Model: each earlier accuracy point of the same bench with n_i >= 2 readings is a group; the pooled
one-reading standard deviation is s_p = √(Σ Σ (x_ij − x̄_i)² / Σ (n_i − 1)) with ν = Σ (n_i − 1) degrees
of freedom (GUM 4.2.8, pooled estimate). Groups differ in meter and day, not only in noise, but their
means are removed, so only the scatter within a point enters. Comparable points: the same kind
(accuracy), the same energy quantity, the current's lag within ``LAG_TOLERANCE_DEG`` and the current
within ``CURRENT_TOLERANCE`` of the point's. Only finished points count, of the ``RECENT_RUNS`` latest
other runs of the bench (a bench changes: its recent history speaks for it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import sqlalchemy as sa

from bench.records import models as m

LAG_TOLERANCE_DEG = 0.5
CURRENT_TOLERANCE = 0.1  # relative
RECENT_RUNS = 50
MIN_DOF = 5  # fewer degrees of freedom than this: too little history to stand for the bench


@dataclass(frozen=True)
class PooledRepeatability:
    """The bench's one-reading standard deviation at a kind of point, and what it rests on."""

    s_percent: float
    dof: int
    readings: int
    runs: int

    @property
    def basis(self) -> str:
        return (
            f"from {self.readings} readings pooled over {self.runs} earlier run"
            f"{'s' if self.runs != 1 else ''} of this bench, {self.dof} degrees of freedom"
        )


def pooled_repeatability(
    conn: sa.Connection, run_id: int, *, current_a: float, lag_deg: float, quantity: str = "active"
) -> PooledRepeatability | None:
    """The pooled repeatability of earlier runs of ``run_id``'s bench at points like this one, or None
    when they give fewer than :data:`MIN_DOF` degrees of freedom."""
    runs, pts, rd = m.runs.c, m.points.c, m.readings.c
    bench_id = conn.execute(sa.select(runs.bench_id).where(runs.id == run_id)).scalar_one_or_none()
    if bench_id is None:
        return None
    recent = (
        sa.select(runs.id)
        .where(runs.bench_id == bench_id, runs.id != run_id)
        .order_by(runs.id.desc())
        .limit(RECENT_RUNS)
    )
    quantity_is = pts.quantity == quantity
    if quantity == "active":
        quantity_is = sa.or_(quantity_is, pts.quantity.is_(None))  # rows from before migration 0003
    amps = abs(current_a)
    stmt = (
        sa.select(pts.id, pts.run_id, rd.error_percent)
        .join(m.readings, rd.point_id == pts.id)
        .where(
            pts.run_id.in_(recent.scalar_subquery()),
            pts.kind == "accuracy",
            pts.status == "done",
            quantity_is,
            sa.between(pts.lag_deg, lag_deg - LAG_TOLERANCE_DEG, lag_deg + LAG_TOLERANCE_DEG),
            sa.between(pts.current_a, amps * (1 - CURRENT_TOLERANCE), amps * (1 + CURRENT_TOLERANCE)),
        )
    )
    groups: dict[int, list[float]] = {}
    run_of: dict[int, int] = {}
    for point, run, err in conn.execute(stmt):
        groups.setdefault(point, []).append(float(err))
        run_of[point] = run
    ss = 0.0
    dof = n = 0
    used_runs: set[int] = set()
    for point, values in groups.items():
        if len(values) < 2:
            continue
        mean = math.fsum(values) / len(values)
        ss += math.fsum((v - mean) ** 2 for v in values)
        dof += len(values) - 1
        n += len(values)
        used_runs.add(run_of[point])
    if dof < MIN_DOF:
        return None
    return PooledRepeatability(math.sqrt(ss / dof), dof, n, len(used_runs))
