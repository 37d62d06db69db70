"""The machine-readable twin of a certificate: a PTB Digital Calibration Certificate (DCC 3.3.0) in XML.

Administrative data (software, core data with the certificate number and dates, the meter with its
identifications, the laboratory, responsible persons, customer, statements for the decision rule and
conformity) and one result per test point as a D-SI ``si:real`` in ``\\percent`` with its expanded
uncertainty (coverage factor and probability). The issued PDF can be embedded as the DCC's ``document``.
Built with lxml; validated offline against the schema in the tests.
"""

from __future__ import annotations

import base64
import re

from lxml import etree

from reports.meterport_sections import dcc_results as meterport_results
from reports.model import CertificateData, PointResult, RegisterTest, point_name

DCC_NS = "https://ptb.de/dcc"
SI_NS = "https://ptb.de/si"
SCHEMA_VERSION = "3.3.0"
#: ~95 % coverage is what k = 2 (normal distribution) means on our certificates
COVERAGE_PROBABILITY = "0.95"
_CONFORMITY = {"pass": "pass", "fail": "fail", "indeterminate": "noPass", "not tested": "noPass"}


def ref_type(name: str) -> str:
    """A DCC refType token for a result named in words: ``No-load (creep)`` -> ``meterbench_noLoadCreep``.

    A refType attribute is a space-separated list of tokens, so a name with spaces would become several.
    """
    words = re.findall(r"[A-Za-z0-9]+", name)
    camel = "".join(w.lower() if i == 0 else w[:1].upper() + w[1:].lower() for i, w in enumerate(words))
    return f"meterbench_{camel or 'result'}"


def _d(tag: str) -> str:
    return f"{{{DCC_NS}}}{tag}"


def _si(tag: str) -> str:
    return f"{{{SI_NS}}}{tag}"


def _sub(parent, tag: str, text: str | None = None, **attrib):
    el = etree.SubElement(parent, tag, **attrib)
    if text is not None:
        el.text = text
    return el


def _text(parent, tag: str, text: str, lang: str = "en"):
    """A dcc:textType element (``name``, ``description``...) with one content in ``lang``."""
    el = _sub(parent, _d(tag))
    _sub(el, _d("content"), text, lang=lang)
    return el


def _location(parent, tag: str, city: str, country: str, street_lines: tuple[str, ...] = ()):
    loc = _sub(parent, _d(tag))
    for line in street_lines:
        if line.strip():
            _sub(loc, _d("street"), line)
    if city.strip():
        _sub(loc, _d("city"), city)
    _sub(loc, _d("countryCode"), country)
    return loc


def _num(x: float) -> str:
    return format(x, ".6g") if abs(x) >= 1e-6 or x == 0 else format(x, ".6e")


def _real(
    parent,
    value: float,
    unit: str,
    *,
    label: str | None = None,
    u: float | None = None,
    k: float | None = None,
):
    real = _sub(parent, _si("real"))
    if label:
        _sub(real, _si("label"), label)
    _sub(real, _si("value"), _num(value))
    _sub(real, _si("unit"), unit)
    if u is not None and k is not None:
        mu = _sub(real, _si("measurementUncertaintyUnivariate"))
        exp = _sub(mu, _si("expandedMU"))
        _sub(exp, _si("valueExpandedMU"), _num(u))
        _sub(exp, _si("coverageFactor"), _num(k))
        _sub(exp, _si("coverageProbability"), COVERAGE_PROBABILITY)
    return real


def _quantity(parent, name: str, value: float, unit: str, **kw):
    q = _sub(parent, _d("quantity"))
    _text(q, "name", name)
    _real(q, value, unit, **kw)
    return q


def _point_result(results, p: PointResult) -> None:
    res = _sub(results, _d("result"), refType="meterbench_accuracyPoint")
    _text(res, "name", f"{point_name(p.point_id, p.label)}{p.measures} ({p.stage}, element {p.element})")
    desc = _sub(res, _d("description"))
    said = f"Verdict: {p.verdict.upper()}; limit +/-{p.limit_pct:g} %."
    if p.measures:  # not active energy delivered: say which energy, in which unit and direction
        said += f" Energy measured: {p.quantity or 'active'} ({p.unit}), {p.direction or 'delivered'}."
        said += " The error is the variation from the reference condition." if p.kind == "influence" else ""
    _sub(desc, _d("content"), said, lang="en")
    data = _sub(res, _d("data"))
    _quantity(data, "Error (%R - 100)", p.error_pct, "\\percent", label="error", u=p.expanded_u_pct, k=p.k)
    _quantity(data, "Acceptance limit (+/-)", p.limit_pct, "\\percent", label="limit")
    _quantity(data, "Test voltage", p.voltage_v, "\\volt", label="voltage")
    _quantity(data, "Test current", p.current_a, "\\ampere", label="current")
    _quantity(data, "Power factor", p.pf, "\\one", label="powerFactor")
    _quantity(data, "Current lag", p.angle_deg, "\\degree", label="phaseAngleLag")


def _register_result(results, t: RegisterTest) -> None:
    """A register test: the register against the reference and against the test output (meter constant)."""
    res = _sub(results, _d("result"), refType="meterbench_registerTest")
    _text(res, "name", f"{point_name(t.point_id, t.label)} register test ({t.stage})")
    _sub(
        _sub(res, _d("description")),
        _d("content"),
        f"Register read before and after one run of energy with the source off. Register against the "
        f"reference: {t.verdict.upper()}, limit +/-{t.limit_pct:g} %. Register against the test output "
        f"(meter constant): {t.constant_verdict.upper()}, limit +/-{t.constant_limit_pct:g} %.",
        lang="en",
    )
    data = _sub(res, _d("data"))
    _quantity(data, "Register error against the reference (%R - 100)", t.error_pct, "\\percent",
              label="registerError", u=t.expanded_u_pct, k=t.k)  # fmt: skip
    _quantity(data, "Register against test output x Kt (%R - 100)", t.constant_error_pct, "\\percent",
              label="meterConstantError", u=t.constant_u_pct, k=t.constant_k)  # fmt: skip
    kwh = "\\kilo\\watt\\hour"
    for name, value, unit, label in (
        ("Register error limit (+/-)", t.limit_pct, "\\percent", "registerLimit"),
        ("Meter-constant limit (+/-)", t.constant_limit_pct, "\\percent", "meterConstantLimit"),
        ("Register at start", t.start_kwh, kwh, "registerStart"),
        ("Register at end", t.end_kwh, kwh, "registerEnd"),
        ("Register resolution", t.resolution_kwh, kwh, "registerResolution"),
        ("Reference energy", t.reference_kwh, kwh, "referenceEnergy"),
        ("Test-output pulses", float(t.test_pulses), "\\one", "testPulses"),
        ("Test-output constant Kt", t.kt, "\\watt\\hour", "kt"),
        ("Test voltage", t.voltage_v, "\\volt", "voltage"),
        ("Test current", t.current_a, "\\ampere", "current"),
        ("Power factor", t.pf, "\\one", "powerFactor"),
    ):
        _quantity(data, name, value, unit, label=label)


AUDIT_HEAD_NAME = "Records audit chain head at issue (seq:seal)"


def build_dcc(
    data: CertificateData,
    sha256: str,
    *,
    pdf_bytes: bytes | None = None,
    software_release: str | None = None,
    audit_head: str | None = None,
) -> bytes:
    """The DCC XML (UTF-8 bytes) for one certificate; ``pdf_bytes`` embeds the issued PDF as its document;
    ``audit_head`` (``"<seq>:<hash>"``) is the records' audit chain head at issue."""
    root = _root()
    adm = _sub(root, _d("administrativeData"))
    sw = _sub(_sub(adm, _d("dccSoftware")), _d("software"))
    _text(sw, "name", "MeterBench")
    _sub(sw, _d("release"), software_release or data.software_version)

    lab, m = data.laboratory, data.meter
    core = _sub(adm, _d("coreData"))
    _sub(core, _d("countryCodeISO3166_1"), lab.country_code)
    _sub(core, _d("usedLangCodeISO639_1"), "en")
    _sub(core, _d("mandatoryLangCodeISO639_1"), "en")
    _sub(core, _d("uniqueIdentifier"), data.certificate_number)
    ids = _sub(core, _d("identifications"))
    for issuer, value, name in (
        ("calibrationLaboratory", data.run_id, "Run id"),
        ("calibrationLaboratory", f"sha256:{sha256}", "Content hash (canonical JSON)"),
        ("calibrationLaboratory", f"audit:{audit_head}" if audit_head else None, AUDIT_HEAD_NAME),
        ("customer", data.customer.reference, "Customer reference"),
    ):
        if value:
            ident = _sub(ids, _d("identification"))
            _sub(ident, _d("issuer"), issuer)
            _sub(ident, _d("value"), value)
            _text(ident, "name", name)
    _sub(core, _d("receiptDate"), data.dates.receipt.isoformat())
    _sub(core, _d("beginPerformanceDate"), data.dates.test.isoformat())
    _sub(core, _d("endPerformanceDate"), data.dates.test.isoformat())
    _sub(core, _d("performanceLocation"), "laboratory")
    _sub(core, _d("issueDate"), data.dates.issue.isoformat())

    items = _sub(adm, _d("items"))
    item = _sub(items, _d("item"))
    _text(item, "name", f"Electricity meter, form {m.form}, class {m.accuracy_class}")
    desc = _sub(item, _d("description"))
    nameplate = [f"{m.voltage_v:g} V", f"Kh {m.kh:g}"]
    if m.current_class:
        nameplate.append(m.current_class)
    if m.test_amperes is not None:
        nameplate.append(f"TA {m.test_amperes:g} A")
    if m.basic_current is not None:
        nameplate.append(f"Ib/In {m.basic_current:g} A")
    if m.max_current is not None:
        nameplate.append(f"Imax {m.max_current:g} A")
    if m.kt:
        nameplate.append(f"Kt {m.kt:g}")
    if m.firmware:
        nameplate.append(f"firmware {m.firmware}")
    _sub(desc, _d("content"), "Nameplate: " + ", ".join(nameplate), lang="en")
    if m.condition_as_received:
        _sub(desc, _d("content"), f"Condition as received: {m.condition_as_received}", lang="en")
    manu = _sub(item, _d("manufacturer"))
    _text(manu, "name", m.manufacturer or "not stated")  # an empty name is invalid in the DCC schema
    _sub(item, _d("model"), m.model or "not stated")
    ids = _sub(item, _d("identifications"))
    for issuer, value, name in (
        ("manufacturer", m.serial, "Serial number"),
        ("owner", m.asset_id, "Asset number"),
        *(("customer", value, title) for title, value in data.record_fields),
    ):
        if value:
            ident = _sub(ids, _d("identification"))
            _sub(ident, _d("issuer"), issuer)
            _sub(ident, _d("value"), value)
            _text(ident, "name", name)

    cal = _sub(adm, _d("calibrationLaboratory"))
    if lab.accreditation:
        _sub(cal, _d("calibrationLaboratoryCode"), lab.accreditation)
    contact = _sub(cal, _d("contact"))
    _text(contact, "name", lab.name)
    if lab.email:
        _sub(contact, _d("eMail"), lab.email)
    if lab.phone:
        _sub(contact, _d("phone"), lab.phone)
    _location(contact, "location", lab.city, lab.country_code, lab.address)

    persons = _sub(adm, _d("respPersons"))
    for person, main in ((data.approved_by, True), (data.tested_by, False)):
        rp = _sub(persons, _d("respPerson"))
        _text(_sub(rp, _d("person")), "name", person.name)
        if person.role:
            _sub(rp, _d("role"), person.role)
        _sub(rp, _d("mainSigner"), "true" if main else "false")

    cust = _sub(adm, _d("customer"))
    _text(cust, "name", data.customer.name)
    _location(cust, "location", data.customer.city or "-", data.customer.country_code, data.customer.address)

    statements = _sub(adm, _d("statements"))
    st = _sub(statements, _d("statement"), refType="basic_conformity")
    _text(st, "name", "Decision rule and statement of conformity")
    d = _sub(st, _d("description"))
    _sub(d, _d("content"), f"{data.decision_rule.name}: {data.decision_rule.statement}", lang="en")
    _sub(d, _d("content"), data.conformity_statement, lang="en")
    # the norm the statement rests on: the standard only when every limit applied is confirmed from it
    _sub(st, _d("norm"), data.method.limits_basis.removeprefix("the limits of "))
    _sub(st, _d("conformity"), _CONFORMITY[data.overall_verdict])
    st2 = _sub(statements, _d("statement"))
    _text(st2, "name", "Sign convention")
    _sub(_sub(st2, _d("description")), _d("content"), data.sign_convention, lang="en")
    st3 = _sub(statements, _d("statement"))
    _text(st3, "name", "Scope")
    _sub(
        _sub(st3, _d("description")), _d("content"), "The results relate only to the item tested.", lang="en"
    )

    mrs = _sub(root, _d("measurementResults"))
    mr = _sub(mrs, _d("measurementResult"))
    _text(mr, "name", "Accuracy test (percent error of registration)")
    methods = _sub(mr, _d("usedMethods"))
    um = _sub(methods, _d("usedMethod"))
    _text(um, "name", f"{data.method.plan_id} v{data.method.plan_version}: {data.method.title}")
    mdesc = _sub(um, _d("description"))
    _sub(mdesc, _d("content"), f"Test plan SHA-256 {data.method.plan_sha256}", lang="en")
    for lim in data.method.limits:
        status = {"C": "confirmed", "D": "derived", "U": "UNCONFIRMED"}[lim.status]
        _sub(mdesc, _d("content"), f"Limit {lim.name}: {lim.value} ({lim.source}; {status})", lang="en")
    for dv in data.deviations:
        _sub(mdesc, _d("content"), f"Deviation: {dv}", lang="en")
    _sub(um, _d("norm"), data.method.standard)

    equipment = _sub(mr, _d("measuringEquipments"))
    for ref in data.reference_standards:
        eq = _sub(equipment, _d("measuringEquipment"))
        _text(eq, "name", ref.identity)
        ed = _sub(eq, _d("description"))
        _sub(
            ed,
            _d("content"),
            f"Calibration {ref.calibration_certificate} by {ref.calibration_laboratory}, due "
            f"{ref.due_date.isoformat()}; uncertainty {ref.uncertainty}. {ref.traceability}",
            lang="en",
        )
        eids = _sub(eq, _d("identifications"))
        ident = _sub(eids, _d("identification"))
        _sub(ident, _d("issuer"), "manufacturer")
        _sub(ident, _d("value"), ref.serial.strip() or "not recorded")  # the schema wants a non-blank value

    conds = _sub(mr, _d("influenceConditions"))
    c = data.conditions
    for name, value, unit in (
        ("Ambient temperature", c.temperature_c, "\\degreecelsius"),
        ("Relative humidity", c.humidity_pct, "\\percent"),
        ("Supply frequency", c.frequency_hz, "\\hertz"),
        ("Warm-up time", c.warmup_min, "\\minute"),
    ):
        cond = _sub(conds, _d("influenceCondition"))
        _text(cond, "name", name)
        if value is None:  # not measured: said in words, never a number in its place
            _sub(_sub(_sub(cond, _d("data")), _d("text")), _d("content"), "not measured", lang="en")
        else:
            _quantity(_sub(cond, _d("data")), name, value, unit)

    results = _sub(mr, _d("results"))
    for p in data.points:
        _point_result(results, p)
    for w in data.weighted_averages:
        res = _sub(results, _d("result"), refType="meterbench_weightedAverage")
        _text(res, "name", f"Weighted average {w.rule} {w.formula} ({w.stage})")
        _sub(
            _sub(res, _d("description")),
            _d("content"),
            f"Verdict: {w.verdict.upper()}; allowed {w.low_pct:g}-{w.high_pct:g} %.",
            lang="en",
        )
        _quantity(
            _sub(res, _d("data")),
            "Registration",
            w.registration_pct,
            "\\percent",
            label="registration",
            u=w.expanded_u_pct,
            k=w.k,
        )
    for f in data.functional_tests:
        res = _sub(results, _d("result"), refType=ref_type(f.name))
        _text(res, "name", f"{f.name} ({f.stage})")
        _sub(
            _sub(_sub(res, _d("data")), _d("text")),
            _d("content"),
            f"{f.condition}. Requirement: {f.requirement}. Observed: {f.observed}. Verdict: {f.verdict.upper()}.",
            lang="en",
        )
    for t in data.register_tests:
        _register_result(results, t)
    meterport_results(results, data)
    if data.wiring is not None:
        w = data.wiring
        res = _sub(results, _d("result"), refType="meterbench_wiringCheck")
        _text(res, "name", f"Wiring check, rotation {w.rotation}: {w.result_text}")
        wd = _sub(res, _d("data"))
        _sub(_sub(wd, _d("text")), _d("content"), " ".join(w.findings), lang="en")
        for ph in w.phases:
            _quantity(wd, f"V{ph.phase}", ph.voltage_v, "\\volt")
            _quantity(wd, f"V{ph.phase} angle (lag)", ph.voltage_deg, "\\degree")
            _quantity(wd, f"I{ph.phase}", ph.current_a, "\\ampere")
            _quantity(wd, f"I{ph.phase} angle (lag)", ph.current_deg, "\\degree")

    if pdf_bytes is not None:
        _document(root, data.certificate_number, pdf_bytes)
    return _serialise(root)


def _root() -> etree._Element:
    return etree.Element(
        _d("digitalCalibrationCertificate"), nsmap={"dcc": DCC_NS, "si": SI_NS}, schemaVersion=SCHEMA_VERSION
    )


def _serialise(root: etree._Element) -> bytes:
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def _document(root, number: str, pdf_bytes: bytes) -> None:
    doc = _sub(root, _d("document"))
    _text(doc, "name", "Human-readable certificate (PDF/A-2b, PAdES-signed when issued with a signer)")
    _sub(doc, _d("fileName"), f"{number}.pdf")
    _sub(doc, _d("mimeType"), "application/pdf")
    _sub(doc, _d("dataBase64"), base64.b64encode(pdf_bytes).decode("ascii"))


_CLOSE = b"</dcc:digitalCalibrationCertificate>\n"


def with_document(xml: bytes, number: str, pdf_bytes: bytes) -> bytes:
    """``xml`` (a DCC from :func:`build_dcc` without a document) with the issued PDF embedded: the same
    bytes as ``build_dcc(..., pdf_bytes=pdf_bytes)``, without building the whole DCC a second time.

    Issuing builds the DCC once to hash it before the PDF is signed, then embeds the signed PDF. The
    document element is serialised on its own and put before the closing tag, indented as
    :func:`build_dcc` would; a DCC that does not end as :func:`build_dcc` ends one is parsed and the
    document appended to its tree instead.
    """
    if not xml.endswith(_CLOSE):
        root = parse_dcc(xml)
        _document(root, number, pdf_bytes)
        return _serialise(root)
    shell = _root()
    _document(shell, number, pdf_bytes)
    alone = _serialise(shell)
    inner = alone[alone.index(b">\n", alone.index(b"<dcc:digitalCalibrationCertificate")) + 2 : -len(_CLOSE)]
    return xml[: -len(_CLOSE)] + inner + _CLOSE


def _safe_parser() -> etree.XMLParser:
    """No entities, no network, no huge trees: a hostile DCC file is read as data, not obeyed."""
    return etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, load_dtd=False)


def parse_dcc(xml: bytes) -> etree._Element:
    """The DCC's root element; raises ``ValueError`` naming the problem for anything that is not one."""
    try:
        root = etree.fromstring(xml, _safe_parser())
    except etree.XMLSyntaxError as err:
        raise ValueError(f"not well-formed XML: {err}") from None
    if root is None or root.tag != _d("digitalCalibrationCertificate"):
        raise ValueError("not a DCC (no dcc:digitalCalibrationCertificate root element)")
    return root


def dcc_data_hash(xml: bytes) -> str:
    """SHA-256 of the DCC without its embedded document, canonicalised (C14N 2.0, whitespace-only text
    dropped). Issuing puts this hash in the PDF's metadata *before* signing the PDF, and the signed PDF is
    then embedded in the DCC: the PDF's one signature covers the XML's every value, without the circle of
    a file containing its own hash."""
    import hashlib

    root = parse_dcc(xml)
    for doc in root.findall(_d("document")):
        root.remove(doc)
    canon = etree.tostring(root, method="c14n2", strip_text=True)
    return hashlib.sha256(canon).hexdigest()


def read_dcc(xml: bytes) -> dict:
    """What a verifier needs from a DCC: number, content hash, audit head, embedded PDF (bytes or None)."""
    root = parse_dcc(xml)
    number = root.findtext(f"{_d('administrativeData')}/{_d('coreData')}/{_d('uniqueIdentifier')}")
    values = root.xpath(
        "d:administrativeData/d:coreData/d:identifications/d:identification/d:value/text()",
        namespaces={"d": DCC_NS},
    )
    sha = next((v[7:] for v in values if v.startswith("sha256:")), None)
    head = next((v[6:] for v in values if v.startswith("audit:")), None)
    pdf = None
    data = root.findtext(f"{_d('document')}/{_d('dataBase64')}")
    if data:
        try:
            pdf = base64.b64decode(data, validate=True)
        except ValueError:
            pdf = b""
    return {"number": number, "content_hash": sha, "audit_head": head, "pdf": pdf}
