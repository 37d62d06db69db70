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


# ---- a signing identity exists: the certificates are signed, or the run does not start -------------------
@pytest.fixture(scope="module")
def identity_home(tmp_path_factory):
    from reports.signing import make_demo_identity

    config = tmp_path_factory.mktemp("config")
    make_demo_identity(config / "meterbench" / "signing", "Bench 7 Signer", passphrase=b"bench7 pass")
    return config


@pytest.fixture
def identity_no_passphrase(identity_home, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(identity_home))
    monkeypatch.delenv("MB_SIGNING_IDENTITY", raising=False)
    monkeypatch.delenv("MB_SIGNING_PASSPHRASE", raising=False)
    monkeypatch.setattr("sys.stdin.isatty", lambda: False, raising=False)


def _signed(pdf: Path) -> bool:
    from reports.verify import verify_pdf

    return verify_pdf(pdf, None).signed


def test_an_identity_without_its_passphrase_and_no_terminal_is_refused_naming_both_ways_on(
    tmp_path, identity_no_passphrase, capsys
):
    assert _run(tmp_path, "--certificates", str(tmp_path / "certs")) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith(
        "meterbench run: error: MB_SIGNING_PASSPHRASE: is not set"
    )
    assert "--no-sign" in err
    assert not (tmp_path / "r.sqlite").exists() or _runs(f"sqlite:///{tmp_path / 'r.sqlite'}") == 0
    assert not list((tmp_path / "certs").glob("*.pdf")) if (tmp_path / "certs").exists() else True


def test_no_sign_issues_unsigned_certificates_and_says_so(tmp_path, identity_no_passphrase, capsys):
    certs = tmp_path / "certs"
    assert _run(tmp_path, "--certificates", str(certs), "--no-sign") == 1
    out = capsys.readouterr().out
    assert "Certificates are NOT signed (--no-sign)." in out
    pdfs = sorted(certs.glob("*.pdf"))
    assert pdfs and not any(_signed(p) for p in pdfs)


def test_on_a_terminal_the_passphrase_is_asked_for_masked_and_the_certificates_are_signed(
    tmp_path, identity_no_passphrase, monkeypatch, capsys
):
    asked = []
    monkeypatch.setattr("sys.stdin.isatty", lambda: True, raising=False)
    monkeypatch.setattr("getpass.getpass", lambda prompt: asked.append(prompt) or "bench7 pass")
    certs = tmp_path / "certs"
    assert _run(tmp_path, "--certificates", str(certs)) == 1  # socket 3 fails its starting test
    assert len(asked) == 1 and asked[0].startswith("Passphrase for ")
    pdfs = sorted(certs.glob("*.pdf"))
    assert len(pdfs) == 3 and all(_signed(p) for p in pdfs)
    assert "NOT signed" not in capsys.readouterr().out


def test_a_retest_never_replaces_a_signed_certificate_with_an_unsigned_one(
    tmp_path, identity_home, identity_no_passphrase, monkeypatch, capsys
):
    certs = tmp_path / "certs"
    monkeypatch.setenv("MB_SIGNING_PASSPHRASE", "bench7 pass")
    _run(tmp_path, "--certificates", str(certs))
    assert all(_signed(p) for p in certs.glob("*.pdf"))
    monkeypatch.delenv("MB_SIGNING_PASSPHRASE")  # a new shell, where the passphrase was never set
    db = f"sqlite:///{tmp_path / 'r.sqlite'}"
    code = main(["retest", "1", "--point", "FL", "--position", "2", "--reason", "board knocked", "--db", db,
                 "--certificates", str(certs)])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and "MB_SIGNING_PASSPHRASE" in err and "--no-sign" in err
    assert not list(certs.glob("*-R1.pdf"))
