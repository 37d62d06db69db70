"""Certificate content a regulator reads (issue 13): page 1's result box names what failed, creep and
starting tests show where their criteria come from, the template's accreditation placeholder is never
printed, and the error chart plots each point at its test current."""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path

import pytest
from pypdf import PdfReader
from reportlab.graphics.shapes import Circle, Line, Rect

from reports.certificate import render_certificate
from reports.graphics import error_chart
from reports.labconfig import TEMPLATE_ACCREDITATION, load_laboratory
from reports.model import PointResult
from reports.samples import sample_certificate_data

ROOT = Path(__file__).resolve().parents[1]


def _pages(pdf: bytes) -> list[str]:
    return [" ".join((p.extract_text() or "").split()) for p in PdfReader(io.BytesIO(pdf)).pages]


def test_page_one_names_a_failing_starting_test():
    data = sample_certificate_data("2S")
    tests = tuple(
        dataclasses.replace(f, verdict="fail", observed="0 pulse(s) in 600 s") if f.name == "starting" else f
        for f in data.functional_tests
    )
    data = dataclasses.replace(data, functional_tests=tests, overall_verdict="fail")
    page1 = _pages(render_certificate(data))[0]
    assert "Overall result: FAIL" in page1
    assert "FAIL \u2014 starting test (0 pulse(s) in 600 s)" in page1


def test_page_one_names_the_failing_point_and_its_limit():
    data = sample_certificate_data("2S")
    points = tuple(
        dataclasses.replace(p, error_pct=1.3, limit_pct=1.0, verdict="fail")
        if (p.point_id, p.stage) == ("LL", "as-left")
        else p
        for p in data.points
    )
    data = dataclasses.replace(data, points=points, overall_verdict="fail")
    page1 = _pages(render_certificate(data))[0]
    # the final (as-left) stage decides; the as-found failures that were adjusted are not the reason
    assert "FAIL \u2014 Light load (LL) as-left error +1.300 % outside \u00b11.00 %" in page1
    assert "Full load (FL) as-left" not in page1


def test_a_passing_certificate_names_no_failure():
    page1 = _pages(render_certificate(sample_certificate_data("2S")))[0]
    assert "Overall result: PASS" in page1 and "FAIL \u2014" not in page1


def test_the_templates_accreditation_placeholder_is_never_printed(tmp_path):
    lab = load_laboratory(ROOT / "examples" / "lab" / "laboratory.toml")
    assert lab.accreditation == ""
    text = " ".join(
        _pages(render_certificate(dataclasses.replace(sample_certificate_data("2S"), laboratory=lab)))
    )
    assert "Accreditation" not in text and "state the scope" not in text
    # a copy of the old template that still carries the placeholder is read as "none given"
    old = (ROOT / "examples" / "lab" / "laboratory.toml").read_text(encoding="utf-8")
    copy = tmp_path / "lab.toml"
    copy.write_text(old.replace("[laboratory]", f'[laboratory]\naccreditation = "{TEMPLATE_ACCREDITATION}"'))
    assert load_laboratory(copy).accreditation == ""
    # an accredited shop's accreditation is stated
    copy.write_text(old.replace("[laboratory]", '[laboratory]\naccreditation = "A2LA 1234.01"'))
    lab = load_laboratory(copy)
    text = " ".join(
        _pages(render_certificate(dataclasses.replace(sample_certificate_data("2S"), laboratory=lab)))
    )
    assert "Accreditation A2LA 1234.01" in text


def _markers(drawing):
    return [(s.cx, s.cy) for s in drawing.contents if isinstance(s, Circle) and s.r == 2.8] + [
        (s.x + s.width / 2, s.y + s.height / 2)
        for s in drawing.contents
        if isinstance(s, Rect) and s.width == 5.2
    ]


def _grid_x(drawing) -> set[float]:
    """x of every vertical grid line (one per 1, 2, ... 9 x 10^n amperes)."""
    return {round(s.x1, 6) for s in drawing.contents if isinstance(s, Line) and s.x1 == s.x2}


def test_error_chart_plots_each_point_exactly_at_its_test_current():
    data = sample_certificate_data("2S")  # FL and PF both at 30 A, LL at 3 A; as found and as left
    chart = error_chart(data.points)
    markers = _markers(chart)
    assert len(markers) == len(data.points)
    xs = {round(x, 6) for x, _y in markers}
    assert len(xs) == 2  # 3 A and 30 A: no sideways jitter between FL, PF or the two stages
    assert xs <= _grid_x(chart)  # and each sits on its current's grid line (3 A, 30 A)


def test_points_at_one_current_with_one_error_keep_distinct_labels():
    p = PointResult("FL", "FL", "series", 240.0, 30.0, 1.0, 0.0, 0.1, 0.02, 2.0, 0.5, "pass")
    q = dataclasses.replace(p, point_id="PF", label="PF", pf=0.5, angle_deg=60.0)
    r = dataclasses.replace(p, point_id="HF", label="HF")
    chart = error_chart((p, q, r))
    from reportlab.graphics.shapes import String

    labels = [
        (s.x, s.y, s.textAnchor) for s in chart.contents if isinstance(s, String) and s.text in "FL PF HF"
    ]
    assert len(labels) == 3 and len(set(labels)) == 3
    assert len({round(x, 6) for x, _ in _markers(chart)}) == 1


@pytest.fixture(scope="module")
def demo_record(tmp_path_factory):
    """The 2S example board run once, as a shop would, with its starting and creep tests."""
    from bench.records import RecordStore
    from bench.service import RunService
    from bench.session import RunRequest

    tmp = tmp_path_factory.mktemp("regulator")
    db = f"sqlite:///{tmp / 'r.sqlite'}"
    service = RunService(db_url=db)
    out = service.run(RunRequest(bench_file=str(ROOT / "examples" / "2s-board.toml"), plan="ansi-c12.20-2s",
                                 operator="Test Technician", db_url=db, positions=[1]))  # fmt: skip
    service.store.close()
    store = RecordStore.open(db)
    record = store.run_record(out.run_id)
    store.close()
    return record


def test_creep_and_starting_criteria_have_provenance_rows(demo_record):
    from bench.certify import build_certificate_data

    data = build_certificate_data(demo_record, 1)
    rows = {lim.name: lim for lim in data.method.limits}
    assert rows["No-load (creep)"].value == "at most 1 test pulse at 264 V, no current"
    assert rows["Starting load"].value.startswith("meter starts at ")
    assert all("shop practice" in rows[n].source or "ANSI C12.20" in rows[n].source for n in rows)
    text = " ".join(_pages(render_certificate(data)))
    provenance = text.split("Provenance of the limits applied", 1)[1].split("Deviations from the method", 1)[
        0
    ]
    assert "No-load (creep) at most 1 test pulse at 264 V, no current" in provenance
    assert "Starting load meter starts at" in provenance
