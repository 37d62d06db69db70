"""The register test: what the meter's own register shows against the energy the reference measured.

Called by the engine for a plan point of kind "register" (see :meth:`bench.engine.Engine._run_point`).
"""

from __future__ import annotations


def register_point(engine, point, test_pass: str, todo: list[int]) -> None:
    """Run one register point on the positions in ``todo``. Not built yet: recorded as skipped."""
    for pos in todo:
        row = engine._add_point(pos, point, test_pass, {})
        engine.store.finish_point(row, status="skipped", error_percent=None, expanded_percent=None,
                                  coverage_factor=None, dof=None, budget=[], verdict=None,
                                  decision_rule=None, message="register test not built yet")  # fmt: skip
