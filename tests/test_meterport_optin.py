"""A meter-port test that must write to the meter (demand reset, set clock: commands found in no public
source) on a port the bench file did not opt in is refused before anything is energised, naming the
position and the setting; it is never recorded as the meter's failure (found by the new-user review)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.service import RunService
from bench.session import RunRequest
from procedures.errors import InputError

ROOT = Path(__file__).resolve().parents[1]


def test_a_demand_reset_without_the_opt_in_is_refused_before_energising(tmp_path):
    text = (ROOT / "examples" / "2s-meterport-c1218.toml").read_text(encoding="utf-8")
    first = "allow_unconfirmed = true          # the demand test resets the demand"
    assert first in text
    bench = tmp_path / "no-optin.toml"
    bench.write_text(text.replace(first, first.replace("true ", "false"), 1), encoding="utf-8")
    db = f"sqlite:///{tmp_path / 'r.sqlite'}"
    service = RunService(db_url=db)
    with pytest.raises(InputError) as err:
        service.run(RunRequest(bench_file=str(bench), plan="ansi-meterport-2s", operator="Test Technician",
                               db_url=db))  # fmt: skip
    assert service.store.list_runs() == []  # nothing energised, nothing recorded
    service.store.close()
    assert err.value.field == "points.demand"
    assert "allow_unconfirmed = true for the meter port(s) of position(s) 1" in str(err.value)
    assert "demand reset" in str(err.value)
