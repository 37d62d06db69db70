"""A batch on forked workers does its once-per-batch work once: one PDF/A check, one key parse, one checked
signature template, however many workers; and its slices cover the batch in order, smaller at the end."""

from __future__ import annotations

import pytest

from reports import issue, pdfa, signing
from reports.issue import _chunks, issue_batch
from reports.samples import sample_certificate_data
from reports.signing import load_signer, make_demo_identity
from reports.verify import verify_pdf

PASS = b"pool-passphrase"


@pytest.fixture(scope="module")
def identity(tmp_path_factory):
    return make_demo_identity(tmp_path_factory.mktemp("keys"), "Pool Signer", passphrase=PASS)


def _log(path, what: str) -> None:
    with open(path, "a") as f:  # appended from whichever process does it (forked workers inherit the wrapper)
        f.write(what + "\n")


@pytest.mark.skipif("fork" not in __import__("multiprocessing").get_all_start_methods(), reason="no fork")
def test_forked_workers_inherit_the_batch_check_the_key_and_the_template(identity, tmp_path, monkeypatch):
    log = tmp_path / "log"
    real_to_pdfa, real_parse = pdfa.to_pdfa, signing.serialization.load_der_private_key

    def to_pdfa(*a, check=False, **k):
        if check:
            _log(log, "pdfa check")
        return real_to_pdfa(*a, check=check, **k)

    def parse(*a, **k):
        _log(log, "key parsed")
        return real_parse(*a, **k)

    monkeypatch.setattr(issue, "to_pdfa", to_pdfa)
    monkeypatch.setattr(signing.serialization, "load_der_private_key", parse)
    signer = load_signer(identity.p12_path, passphrase=PASS)
    batch = [
        sample_certificate_data("2S", certificate_number=f"P-{k:03d}", serial=f"S{k}") for k in range(12)
    ]
    result = issue_batch(batch, tmp_path / "out", signer=signer, workers=2, chunk=2, progress=False)
    assert result.how == "2 processes (fork)" and not result.refused
    assert [c.certificate_number for c in result.issued] == [d.certificate_number for d in batch]
    assert sorted(log.read_text().splitlines()) == ["key parsed", "pdfa check"]
    for cert in (result.issued[0], result.issued[2], result.issued[-1]):  # this process's and the workers'
        rep = verify_pdf(cert.pdf_path, trust_roots=[identity.cert_path])
        assert rep.ok, rep.problems
        assert pdfa.check_pdfa(cert.pdf_path).ok


@pytest.mark.parametrize(
    ("n", "chunk", "workers"), [(198, 4, 2), (7, 4, 2), (1, 4, 2), (50, 1, 3), (13, 5, 8)]
)
def test_slices_cover_the_batch_in_order_and_shrink_at_the_end(n, chunk, workers):
    items = list(range(n))
    parts = _chunks(items, chunk, workers)
    assert [x for part in parts for x in part] == items
    sizes = [len(p) for p in parts]
    assert max(sizes) <= chunk and min(sizes) >= 1 and sizes == sorted(sizes, reverse=True)
    assert sizes[-1] == 1  # the last slices are single certificates, so no worker waits long for another
