"""What could fail at the end of a run is checked before anything is energised: the signing identity
(and its passphrase), the certificate folder and the run JSON path. A refused run records nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.cli import main
from bench.records import RecordStore

ROOT = Path(__file__).resolve().parents[1]
BENCH = str(ROOT / "examples" / "2s-board.toml")


@pytest.fixture
def no_identity(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))  # no `keys init` identity here
    monkeypatch.delenv("MB_SIGNING_IDENTITY", raising=False)
    monkeypatch.delenv("MB_SIGNING_PASSPHRASE", raising=False)


def _runs(db: str) -> int:
    store = RecordStore.open(db)
    try:
        return len(store.list_runs())
    finally:
        store.close()


def _run(tmp_path, *extra) -> int:
    db = f"sqlite:///{tmp_path / 'r.sqlite'}"
    args = ["run", "--bench", BENCH, "--plan", "ansi-c12.20-2s", "--speed", "0", "--db", db, *extra]
    return main(args)


def test_sign_without_an_identity_is_refused_before_energising(tmp_path, no_identity, capsys):
    assert _run(tmp_path, "--sign", "--certificates", str(tmp_path / "certs")) == 2
    err = capsys.readouterr().err
    assert "--sign: no signing identity is configured" in err and "Traceback" not in err
    assert not (tmp_path / "r.sqlite").exists() or _runs(f"sqlite:///{tmp_path / 'r.sqlite'}") == 0
    assert not (tmp_path / "certs").exists()


@pytest.mark.parametrize(
    "option,value,why",
    [
        ("--certificates", "/proc/meterbench-certs", "cannot be written"),
        ("--certificates", "A_FILE", "is not a folder"),
        ("--json", "/proc/meterbench/run.json", "cannot be written"),
    ],
)
def test_an_unwritable_output_is_refused_before_energising(tmp_path, no_identity, capsys, option, value, why):
    if value == "A_FILE":
        value = str(tmp_path / "certificates.txt")
        Path(value).write_text("not a folder")
    assert _run(tmp_path, option, value) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"meterbench run: error: {option}: {why}") and len(err.splitlines()) == 1
    assert not (tmp_path / "r.sqlite").exists() or _runs(f"sqlite:///{tmp_path / 'r.sqlite'}") == 0
