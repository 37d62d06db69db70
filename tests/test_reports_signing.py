"""Signed certificates: they verify, stay PDF/A, name the signer, and one changed byte anywhere fails."""

import pytest

from procedures.errors import InputError
from reports.issue import issue_certificate
from reports.model import content_hash
from reports.samples import sample_certificate_data
from reports.signing import ENV_PASSPHRASE, load_signer, make_demo_identity
from reports.verify import verify_pdf

PASS = b"correct horse battery staple"


@pytest.fixture(scope="module")
def signed(tmp_path_factory):
    root = tmp_path_factory.mktemp("signed")
    ident = make_demo_identity(root / "keys", "Bench 2 Signer", passphrase=PASS)
    signer = load_signer(ident.p12_path, passphrase=PASS)
    data = sample_certificate_data("2S")
    cert = issue_certificate(data, root / "out", signer=signer)
    return data, cert, ident


def test_signed_certificate_verifies_against_its_trust_root(signed):
    data, cert, ident = signed
    rep = verify_pdf(cert.pdf_path, trust_roots=[ident.cert_path])
    assert rep.ok, rep.problems
    assert rep.signature_intact and rep.signature_valid and rep.pdfa_ok
    assert "Bench 2 Signer" in rep.signer
    assert rep.signed_at
    assert rep.certificate_number == data.certificate_number
    assert rep.content_hash == content_hash(data) == cert.content_hash


def test_self_signed_identity_is_not_trusted_without_its_certificate(signed):
    _data, cert, _ident = signed
    rep = verify_pdf(cert.pdf_path)
    assert rep.signature_intact
    assert not rep.signature_valid and not rep.ok
    assert any("not trusted" in p for p in rep.problems)


def test_another_identity_as_trust_root_does_not_make_it_trusted(signed, tmp_path):
    _data, cert, _ident = signed
    other = make_demo_identity(tmp_path / "other", "Somebody Else", passphrase=PASS)
    rep = verify_pdf(cert.pdf_path, trust_roots=[other.cert_path])
    assert not rep.signature_valid


def _flip(data: bytes, pos: int) -> bytes:
    b = bytearray(data)
    # change to a different character of the same class so the file still parses where possible
    c = b[pos]
    if chr(c) in "0123456789":
        b[pos] = ord("1") if c != ord("1") else ord("2")
    elif chr(c).isalpha():
        b[pos] = c ^ 0x20 if chr(c ^ 0x20).isalpha() else ord("x")
    else:
        b[pos] = (c + 1) % 256
    return bytes(b)


def _positions(data: bytes) -> dict[str, int]:
    contents = data.rindex(b"/Contents <") + len(b"/Contents <")
    end_blob = data.index(b">", contents)
    zeros = data.rindex(b"00", contents, end_blob)
    return {
        "header": 5,
        "first page content": len(data) // 5,
        "middle": len(data) // 2,
        "signature blob": contents + 200,
        "signature padding": zeros,
        "byte range": data.rindex(b"/ByteRange [") + len(b"/ByteRange [") + 2,
        "last byte before EOF": len(data) - 8,
    }


@pytest.mark.parametrize(
    "where",
    [
        "header",
        "first page content",
        "middle",
        "signature blob",
        "signature padding",
        "byte range",
        "last byte before EOF",
    ],
)
def test_one_changed_byte_anywhere_fails_verification(signed, tmp_path, where):
    _data, cert, ident = signed
    data = cert.pdf_path.read_bytes()
    pos = _positions(data)[where]
    bad = tmp_path / "tampered.pdf"
    bad.write_bytes(_flip(data, pos))
    rep = verify_pdf(bad, trust_roots=[ident.cert_path])
    assert not rep.ok
    assert not (rep.signature_intact and rep.signature_valid), (where, rep)
    assert rep.problems


def test_appended_bytes_fail(signed, tmp_path):
    _data, cert, ident = signed
    bad = tmp_path / "appended.pdf"
    bad.write_bytes(cert.pdf_path.read_bytes() + b"\n% appended\n")
    rep = verify_pdf(bad, trust_roots=[ident.cert_path])
    assert not rep.ok and any("entire file" in p for p in rep.problems)


def test_garbage_and_unsigned_files_are_reported_not_raised(tmp_path):
    junk = tmp_path / "junk.pdf"
    junk.write_bytes(b"not a pdf at all")
    rep = verify_pdf(junk)
    assert not rep.ok and rep.problems
    unsigned = issue_certificate(sample_certificate_data("9S"), tmp_path / "u", dcc=False)
    rep = verify_pdf(unsigned.pdf_path)
    assert rep.pdfa_ok and not rep.signature_intact
    assert not rep.signed and "not signed: the file carries no digital signature" in rep.problems
    assert rep.content_hash == unsigned.content_hash


def test_wrong_passphrase_and_missing_passphrase_are_input_errors(signed, monkeypatch):
    _data, _cert, ident = signed
    with pytest.raises(InputError, match="wrong passphrase"):
        load_signer(ident.p12_path, passphrase=b"nope")
    monkeypatch.setenv(ENV_PASSPHRASE, PASS.decode())
    assert load_signer(ident.p12_path) is not None  # read from the environment
    monkeypatch.delenv(ENV_PASSPHRASE)
    monkeypatch.setattr("sys.stdin.isatty", lambda: False, raising=False)
    with pytest.raises(InputError, match=ENV_PASSPHRASE):
        load_signer(ident.p12_path)


def test_identity_is_stored_encrypted_and_private(signed):
    _data, _cert, ident = signed
    assert ident.p12_path.stat().st_mode & 0o077 == 0
    assert b"PRIVATE KEY" not in ident.p12_path.read_bytes()
    assert PASS not in ident.p12_path.read_bytes()
    with pytest.raises(InputError, match="refusing to overwrite"):
        make_demo_identity(ident.directory, passphrase=PASS)


def test_random_single_byte_changes_all_fail(signed, tmp_path):
    import random

    _data, cert, ident = signed
    data = cert.pdf_path.read_bytes()
    rng = random.Random(20261121)
    bad = tmp_path / "random.pdf"
    for pos in rng.sample(range(len(data)), 20):
        bad.write_bytes(_flip(data, pos))
        rep = verify_pdf(bad, trust_roots=[ident.cert_path])
        assert not rep.ok, f"byte {pos} ({data[pos : pos + 1]!r}) changed and verification still passed"


def test_hex_case_flip_in_signature_blob_fails(signed, tmp_path):
    """Hex is case-insensitive: flipping one letter's case inside /Contents keeps the signature bytes, but
    it is still a changed byte of the certificate and must fail."""
    import re

    _data, cert, ident = signed
    data = bytearray(cert.pdf_path.read_bytes())
    m = re.search(rb"/Contents\s*<([0-9A-Fa-f]+)>", bytes(data))
    hexpart = m.group(1)
    k = next(i for i, ch in enumerate(hexpart) if chr(ch) in "abcdefABCDEF")
    pos = m.start(1) + k
    data[pos] ^= 0x20  # a <-> A
    bad = tmp_path / "case.pdf"
    bad.write_bytes(bytes(data))
    assert not verify_pdf(bad, trust_roots=[ident.cert_path]).ok


def test_the_key_is_parsed_once_for_many_signatures(signed, tmp_path, monkeypatch):
    """One signer for a batch: its RSA key is parsed (and checked) once, and every signature verifies."""
    from cryptography.hazmat.primitives import serialization

    _data, _cert, ident = signed
    calls = []
    real = serialization.load_der_private_key
    monkeypatch.setattr(
        serialization, "load_der_private_key", lambda *a, **k: calls.append(1) or real(*a, **k)
    )
    signer = load_signer(ident.p12_path, passphrase=PASS)
    certs = [
        issue_certificate(
            sample_certificate_data(form, certificate_number=f"ONCE-{form}"), tmp_path, signer=signer
        )
        for form in ("2S", "9S")
    ]
    assert len(calls) == 1
    for cert in certs:
        rep = verify_pdf(cert.pdf_path, trust_roots=[ident.cert_path])
        assert rep.ok, rep.problems


def test_signatures_made_from_the_checked_template_verify_and_differ_per_document(signed, tmp_path):
    """After two signatures agree byte for byte, later ones come from the container template: each still
    verifies, covers its own document (its own digest and RSA value) and breaks when a byte changes."""
    _data, _cert, ident = signed
    signer = load_signer(ident.p12_path, passphrase=PASS)
    certs = [
        issue_certificate(sample_certificate_data(("2S", "9S")[k % 2], certificate_number=f"TPL-{k}"),
                          tmp_path, signer=signer)
        for k in range(4)
    ]  # fmt: skip
    templates = [t for t in signer._templates.values() if t is not None]
    assert len(templates) == 1 and templates[0].checked  # the 3rd and 4th signatures used it
    blobs = set()
    for cert in certs:
        rep = verify_pdf(cert.pdf_path, trust_roots=[ident.cert_path])
        assert rep.ok and rep.signature_intact and rep.signature_valid, rep.problems
        raw = cert.pdf_path.read_bytes()
        start = raw.rindex(b"/Contents <") + 11
        blobs.add(raw[start : raw.index(b">", start)].rstrip(b"0"))
    assert len(blobs) == 4
    raw = bytearray(certs[-1].pdf_path.read_bytes())
    raw[len(raw) // 3] ^= 0x01
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(bytes(raw))
    assert not verify_pdf(broken, trust_roots=[ident.cert_path]).ok
