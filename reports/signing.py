"""PAdES signatures with pyHanko: the shop's signing identity, a demo identity, and signing a PDF/A.

A shop signs with an RSA key held in a PKCS#12 file (``.p12``/``.pfx``) or a PEM key plus certificate. The
passphrase comes from the ``MB_SIGNING_PASSPHRASE`` environment variable or an interactive prompt; it is
never written anywhere. RSA only: an ECDSA P-256 key makes pyHanko raise the PDF version to 2.0, which
breaks PDF/A-2b. Signing is an incremental update appended after the PDF/A conversion, so the signed
revision is the validated PDF/A file byte for byte.

:func:`load_signer` returns a :class:`KeyOnceSigner`: pyHanko's ``SimpleSigner`` re-parses (and re-checks)
the private key from DER on every signature, which for an RSA-3072 key costs more than the rest of the
signature; this signer parses it once and keeps the parsed key for every certificate it signs.
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import fields, signers
from pyhanko_certvalidator.util import get_pyca_cryptography_hash, process_pss_params

from procedures.errors import InputError
from reports.signing_paths import ENV_PASSPHRASE, default_signing_dir, get_passphrase  # noqa: F401 - re-exported

SIGNATURE_FIELD = "MeterBenchCertificateSignature"
IDENTITY_FILE = "identity.p12"
CERT_FILE = "certificate.pem"
#: room for the CMS signature: an RSA-4096 certificate chain of three fits comfortably
SIGNATURE_BYTES = 16384


@dataclass(frozen=True)
class DemoIdentity:
    """Where ``meterbench keys init`` put a self-signed identity."""

    directory: Path
    p12_path: Path
    cert_path: Path
    subject: str


def make_demo_identity(
    directory: str | Path | None = None,
    name: str = "MeterBench Demonstration Signer",
    *,
    passphrase: bytes,
    organisation: str = "MeterBench Demonstration Meter Shop",
    overwrite: bool = False,
    years: int = 3,
) -> DemoIdentity:
    """Create a self-signed RSA-3072 signing identity (PKCS#12, passphrase-protected) and its certificate.

    For demos and tests: a verifier trusts it only when ``certificate.pem`` is given as a trust root.
    """
    directory = Path(directory) if directory else default_signing_dir()
    p12_path, cert_path = directory / IDENTITY_FILE, directory / CERT_FILE
    if not name.strip():
        raise InputError("--name", "must not be empty")
    if not passphrase:
        raise InputError("passphrase", "must not be empty (the key is always stored encrypted)")
    if p12_path.exists() and not overwrite:
        raise InputError(
            "--dir",
            "already holds a signing identity; refusing to overwrite it",
            found=str(p12_path),
            allowed="another directory, or remove the old identity first",
        )
    key = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation),
            x509.NameAttribute(
                NameOID.ORGANIZATIONAL_UNIT_NAME, "Demonstration only - not a trusted identity"
            ),
        ]
    )
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=365 * years))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    p12 = pkcs12.serialize_key_and_certificates(
        name.encode("utf-8"), key, cert, None, serialization.BestAvailableEncryption(passphrase)
    )
    directory.mkdir(parents=True, exist_ok=True)
    _write_private(p12_path, p12)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return DemoIdentity(directory, p12_path, cert_path, subject.rfc4514_string())


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


class KeyOnceSigner(signers.SimpleSigner):
    """A pyHanko ``SimpleSigner`` that parses its RSA private key once and reuses it for every signature.

    The signatures are the same bytes pyHanko's own signer makes (RSA PKCS#1 v1.5 and PSS are
    deterministic in the key, respectively the same call); other key types are left to pyHanko.
    """

    _parsed_key: rsa.RSAPrivateKey | None = None

    @classmethod
    def of(cls, signer: signers.SimpleSigner) -> KeyOnceSigner:
        return cls(
            signing_cert=signer.signing_cert,
            signing_key=signer.signing_key,
            cert_registry=signer.cert_registry,
            signature_mechanism=signer.signature_mechanism,
            prefer_pss=signer.prefer_pss,
            embed_roots=signer.embed_roots,
        )

    def private_key(self) -> rsa.RSAPrivateKey:
        if self._parsed_key is None:
            key = serialization.load_der_private_key(self.signing_key.dump(), password=None)
            if not isinstance(key, rsa.RSAPrivateKey):
                raise TypeError("KeyOnceSigner signs with RSA keys only")
            self._parsed_key = key
        return self._parsed_key

    def sign_raw(self, data: bytes, digest_algorithm: str) -> bytes:
        mechanism = self.get_signature_mechanism_for_digest(digest_algorithm)
        try:
            algo = mechanism.signature_algo
        except ValueError:
            algo = mechanism["algorithm"].native
        if algo == "rsassa_pkcs1v15":
            return self.private_key().sign(data, PKCS1v15(), get_pyca_cryptography_hash(digest_algorithm))
        if algo == "rsassa_pss":
            padding, hash_algo = process_pss_params(mechanism["parameters"])
            return self.private_key().sign(data, padding, hash_algo)
        return super().sign_raw(data, digest_algorithm)

    async def async_sign(self, data_digest: bytes, digest_algorithm: str, *args, **kwargs):
        """pyHanko's CMS signature; after two checked alike, later ones are made from a template.

        A PAdES signature's CMS container is the same bytes for every document signed by one signer with
        one digest algorithm except the message digest and the RSA signature value (PAdES puts no signing
        time among the signed attributes: it is in the signature dictionary). pyHanko assembles that
        container object by object in asn1crypto (most of a signature's cost). So the first signature
        made is kept as a template, the second is made both ways and compared byte for byte, and only
        when they agree are later signatures made from the template: the digest put in place, the signed
        attributes signed with the parsed key. A call with other settings (a dry run, a timestamper, ...)
        or a container in which the digest or signature is not found once goes to pyHanko every time.
        """
        # the signing time is not among a PAdES signature's attributes: the second signature's byte-for-byte
        # check below is what makes sure of that (a container that carries it never matches)
        settings = kwargs.get("signed_attr_settings")
        if settings is not None:
            kw = dict(kwargs, signed_attr_settings=(settings.cades_signed_attrs, settings.adobe_revinfo_attr))
        key = (digest_algorithm, repr(args), repr(sorted((kw if settings is not None else kwargs).items())))
        template = self._templates.get(key) if self._templates is not None else None
        if template is not None and template.checked:
            return template.make(self, data_digest)
        made = await super().async_sign(data_digest, digest_algorithm, *args, **kwargs)
        if args or kwargs.get("dry_run") or kwargs.get("timestamper") or kwargs.get("encap_content_info"):
            return made
        if self._templates is None:
            self._templates = {}
        if template is None:
            self._templates[key] = _CmsTemplate.of(made, data_digest, digest_algorithm)
        else:
            template.checked = template.make(self, data_digest).dump() == made.dump()
            if not template.checked:
                self._templates[key] = None  # not a fixed container: pyHanko from now on
        return made

    _templates: dict | None = None

    def __reduce__(self):
        """Pickled as DER (asn1crypto objects do not unpickle in a fresh process), for spawned batch
        workers; the key travels in memory through the pool's pipe, is never written, and each worker
        parses it once."""
        mech = self.signature_mechanism
        return (
            _rebuild_signer,
            (
                self.signing_cert.dump(),
                self.signing_key.dump(),
                [c.dump() for c in self.cert_registry],
                mech.dump() if mech is not None else None,
                self.prefer_pss,
                self.embed_roots,
            ),
        )


class _CmsTemplate:
    """A signature container with the places of its message digest and signature value (see
    :meth:`KeyOnceSigner.async_sign`)."""

    def __init__(self, der: bytes, attrs: bytes, digest_at: int, attrs_digest_at: int, sig_at: int, sig_len: int,
                 digest_len: int, digest_algorithm: str):  # fmt: skip
        self.der, self.attrs = der, attrs
        self.digest_at, self.attrs_digest_at, self.sig_at = digest_at, attrs_digest_at, sig_at
        self.sig_len, self.digest_len, self.digest_algorithm = sig_len, digest_len, digest_algorithm
        self.checked = False

    @classmethod
    def of(cls, made, digest: bytes, digest_algorithm: str) -> _CmsTemplate | None:
        der = made.dump()
        info = made["content"]["signer_infos"][0]
        attrs = info["signed_attrs"].dump()
        sig = info["signature"].native
        if der.count(digest) != 1 or attrs.count(digest) != 1 or der.count(sig) != 1:
            return None
        return cls(der, attrs, der.index(digest), attrs.index(digest), der.index(sig), len(sig), len(digest),
                   digest_algorithm)  # fmt: skip

    def make(self, signer: KeyOnceSigner, digest: bytes):
        from asn1crypto import cms

        if len(digest) != self.digest_len:
            raise ValueError("digest of another length than the template's")
        a = self.attrs
        attrs = b"\x31" + a[1 : self.attrs_digest_at] + digest + a[self.attrs_digest_at + len(digest) :]
        sig = signer.sign_raw(attrs, self.digest_algorithm)
        if len(sig) != self.sig_len:
            raise ValueError("signature of another length than the template's")
        d, i, j = self.der, self.digest_at, self.sig_at
        return cms.ContentInfo.load(d[:i] + digest + d[i + len(digest) : j] + sig + d[j + len(sig) :])


def _rebuild_signer(cert, key, registry, mech, prefer_pss, embed_roots) -> KeyOnceSigner:
    from asn1crypto import algos, keys
    from asn1crypto import x509 as asn1_x509
    from pyhanko_certvalidator.registry import SimpleCertificateStore

    return KeyOnceSigner(
        signing_cert=asn1_x509.Certificate.load(cert),
        signing_key=keys.PrivateKeyInfo.load(key),
        cert_registry=SimpleCertificateStore.from_certs([asn1_x509.Certificate.load(c) for c in registry]),
        signature_mechanism=algos.SignedDigestAlgorithm.load(mech) if mech is not None else None,
        prefer_pss=prefer_pss,
        embed_roots=embed_roots,
    )


def load_signer(
    identity: str | Path, *, cert_path: str | Path | None = None, passphrase: bytes | None = None
) -> KeyOnceSigner:
    """A pyHanko signer from a PKCS#12 file, or a PEM/DER key plus ``cert_path``; RSA keys only."""
    identity = Path(identity)
    src = str(identity)
    if not identity.is_file():
        raise InputError("signing identity", "file not found", source=src)
    if passphrase is None:
        passphrase = get_passphrase(source=src)
    suffix = identity.suffix.lower()
    if suffix in (".p12", ".pfx"):
        signer = signers.SimpleSigner.load_pkcs12(str(identity), passphrase=passphrase)
    elif suffix in (".pem", ".key", ".der"):
        if cert_path is None:
            raise InputError(
                "signing certificate", "a PEM/DER key needs its certificate file too", source=src
            )
        signer = signers.SimpleSigner.load(str(identity), str(cert_path), key_passphrase=passphrase)
    else:
        raise InputError(
            "signing identity",
            "unknown file type",
            allowed=".p12, .pfx, .pem, .key, .der",
            source=src,
            found=identity.suffix,
        )
    if signer is None:  # pyHanko logs and returns None on a wrong passphrase or a damaged file
        raise InputError(
            "signing identity",
            "could not be opened: wrong passphrase or not a key file",
            source=src,
            allowed=f"the passphrase set in {ENV_PASSPHRASE}",
        )
    algo = signer.signing_cert.public_key.algorithm
    if algo != "rsa":
        raise InputError(
            "signing identity",
            "key must be RSA (other keys break PDF/A-2b)",
            source=src,
            found=algo,
            allowed="rsa",
        )
    return KeyOnceSigner.of(signer)


def signer_subject(signer: signers.Signer) -> str:
    return signer.signing_cert.subject.human_friendly


def _let_signer_own_producer(writer: IncrementalPdfFileWriter) -> None:
    """Drop /Producer from the Info dict so pyHanko writes the same producer to Info and to XMP.

    pyHanko appends itself to an existing Info /Producer but sets XMP pdf:Producer to itself alone; the
    two would then disagree, which PDF/A forbids. With no Info /Producer it writes the same string to both.
    """
    info_ref = writer.trailer.raw_get("/Info") if "/Info" in writer.trailer else None
    if info_ref is None:
        return
    info = info_ref.get_object()
    if "/Producer" in info:
        del info["/Producer"]
        writer.mark_update(info_ref)


def sign_pdf(
    src: str | Path,
    dst: str | Path,
    signer: signers.Signer,
    *,
    reason: str,
    location: str,
    contact: str | None = None,
) -> None:
    """Append a PAdES (ETSI.CAdES.detached) signature to ``src`` as an incremental update, writing ``dst``.

    ``dst`` appears only when signing succeeded (written to a temporary file in the same folder, then
    renamed), so a failure never leaves a half-signed certificate behind.
    """
    dst = Path(dst)
    meta = signers.PdfSignatureMetadata(
        field_name=SIGNATURE_FIELD,
        subfilter=fields.SigSeedSubFilter.PADES,
        md_algorithm="sha256",
        reason=reason,
        location=location,
        contact_info=contact,
    )
    fd, tmp = tempfile.mkstemp(prefix=".signing-", suffix=".pdf", dir=dst.parent)
    try:
        with open(src, "rb") as inf, os.fdopen(fd, "wb") as outf:
            writer = IncrementalPdfFileWriter(inf, strict=False)
            _let_signer_own_producer(writer)
            # reserving room up front skips pyHanko's dummy signing pass (which re-parses the key: ~0.15 s)
            signers.sign_pdf(writer, meta, signer=signer, output=outf, bytes_reserved=SIGNATURE_BYTES)
        os.replace(tmp, dst)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
