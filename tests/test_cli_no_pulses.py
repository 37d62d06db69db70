"""A meter that gives no pulses on a received or a varh point: the message a technician reads says that
the meter's pulse output must be set to that quantity and direction (most are set to Wh delivered)."""

from __future__ import annotations

from pathlib import Path

from bench.cli import main

ROOT = Path(__file__).resolve().parents[1]
NET = ROOT / "examples" / "2s-net-metering.toml"


def _run(tmp_path, bench: Path, plan: str, capsys, monkeypatch) -> str:
    monkeypatch.setenv("COLUMNS", "80")
    main(["run", "--bench", str(bench), "--plan", plan, "--db", f"sqlite:///{tmp_path / 'r.sqlite'}",
          "--no-certificates", "--operator", "Test Person"])  # fmt: skip
    out = capsys.readouterr().out
    return " ".join(out[out.index("Position 1:") :].split())


def _position(flat: str, pos: int) -> str:
    start = flat.index(f"Position {pos}:")
    end = flat.find("Position ", start + 1)
    return flat[start : end if end > 0 else None]


def test_no_pulses_on_a_received_point_names_the_received_output(tmp_path, capsys, monkeypatch):
    flat = _run(tmp_path, NET, "ansi-c12.20-2s-net", capsys, monkeypatch)
    # socket 2 is delivered-only (a detent): its first received point gives no pulses
    two = _position(flat, 2)
    assert two.startswith("Position 2: NO PULSES no pulses:")
    assert "check the pickup, the meter's test output and Kt" in two
    assert "this point measures Wh received: the meter's pulse output must be set to Wh received" in two
    # socket 3's output is set to varh, so a Wh delivered point gets no pulses: no received/var hint there
    three = _position(flat, 3)
    assert three.startswith("Position 3: NO PULSES") and "this point measures" not in three


def test_no_pulses_on_a_varh_point_names_the_varh_output(tmp_path, capsys, monkeypatch):
    # the net-metering board's sockets 1 and 2 pulse Wh; socket 3 pulses varh. One sin phi 1 point:
    plan = (ROOT / "procedures" / "data" / "plans" / "iec-62053-23.toml").read_text()
    head = plan[: plan.index("[[points]]")]
    point = plan[plan.index('[[points]]\nid = "sin1-0.5Ib"') :]
    (tmp_path / "var.toml").write_text(head + point[: point.index("[[points]]", 1)])
    bench = tmp_path / "bench.toml"
    bench.write_text(NET.read_text().replace('accuracy_class = "0.5"', 'accuracy_class = "iec23:2"'))
    flat = _run(tmp_path, bench, str(tmp_path / "var.toml"), capsys, monkeypatch)
    for pos in (1, 2):
        text = _position(flat, pos)
        assert text.startswith(f"Position {pos}: NO PULSES"), text
        assert (
            "this point measures varh delivered: the meter's pulse output must be set to varh delivered"
            in text
        )
    assert "NO PULSES" not in _position(flat, 3)
