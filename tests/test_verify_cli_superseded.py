"""An auditor who scripts on `meterbench verify`'s last line or exit code must not accept a certificate a
retest withdrew: it verifies as authentic but ends "VERIFIED, BUT SUPERSEDED by <number>", exit 4."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.certify import ephemeral_demo_signer, issue_for_run
from bench.cli import EXIT_SUPERSEDED, main
from bench.records import RecordStore

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.fixture(scope="module")
def retested(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("superseded")
    db = f"sqlite:///{tmp / 'records.sqlite'}"
    main(["run", "--bench", str(EXAMPLES / "2s-board.toml"), "--plan", "ansi-c12.20-2s", "--db", db,
          "--no-certificates", "--operator", "Test Person"])  # fmt: skip
    signer, cert = ephemeral_demo_signer(tmp / "signer")
    store = RecordStore.open(db)
    first = issue_for_run(store, 1, tmp / "out", signer=signer, positions=[2])
    store.close()
    main(["retest", "1", "--point", "FL", "--position", "2", "--reason", "board knocked", "--db", db,
          "--no-certificates"])  # fmt: skip
    store = RecordStore.open(db)
    again = issue_for_run(store, 1, tmp / "out", signer=signer, positions=[2])
    store.close()
    return db, cert, first[0], again[0]


def test_a_superseded_certificate_ends_verified_but_superseded_with_its_own_exit_code(retested, capsys):
    db, cert, first, again = retested
    capsys.readouterr()
    code = main(["verify", str(first.pdf_path), "--trust", str(cert), "--db", db])
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert code == EXIT_SUPERSEDED == 4
    assert (
        last == f"VERIFIED, BUT SUPERSEDED by {again.certificate_number}: not the meter's current certificate"
    )


def test_the_certificate_that_replaced_it_verifies_with_exit_0(retested, capsys):
    db, cert, _first, again = retested
    capsys.readouterr()
    assert main(["verify", str(again.pdf_path), "--trust", str(cert), "--db", db]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1] == "VERIFIED"


def test_verify_help_documents_the_superseded_exit_code(capsys):
    with pytest.raises(SystemExit):
        main(["verify", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "4 VERIFIED, BUT SUPERSEDED" in text


def test_a_certificate_whose_wording_changed_since_is_verified_not_called_superseded(
    tmp_path, capsys, monkeypatch
):
    """A certificate issued by an earlier version whose content is built differently today (its wording),
    with nothing of its position retested: authentic and current, exit 0, the rebuilt comparison not made.
    (It read 'SUPERSEDED: results were retested after issue', exit 4, after any wording change.)"""

    db = f"sqlite:///{tmp_path / 'records.sqlite'}"
    main(["run", "--bench", str(EXAMPLES / "2s-board.toml"), "--plan", "ansi-c12.20-2s", "--db", db,
          "--no-certificates", "--operator", "Test Person"])  # fmt: skip
    signer, cert = ephemeral_demo_signer(tmp_path / "signer")
    store = RecordStore.open(db)
    issued = issue_for_run(store, 1, tmp_path / "out", signer=signer, positions=[1])
    store.close()
    monkeypatch.setattr("reports.model.content_hash", lambda data: "0" * 64)  # today's builder differs
    capsys.readouterr()
    code = main(["verify", str(issued[0].pdf_path), "--trust", str(cert), "--db", db])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "content as issued" in out and "words a certificate differently" in out
    assert "SUPERSEDED" not in out and out.strip().splitlines()[-1] == "VERIFIED"
