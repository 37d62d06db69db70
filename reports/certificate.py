"""The certificate PDF (reportlab platypus): one per meter per run, plus a batch summary per run.

Contents follow ISO/IEC 17025:2017 §7.8: title, laboratory and place of test, the certificate number and
"Page x of y" on every page, customer, item and condition, dates, method with the provenance of its
limits (unconfirmed ones flagged), deviations, conditions, reference standards and traceability, results
with units and expanded uncertainty (as found and as left), weighted average, starting and creep, register
test (register against the reference and against the test output: the meter-constant check), wiring
check with phasor diagram, error chart, decision rule, conformity statement, "relate only to the item",
sign convention, who tested and who approved, a QR code with number and content hash, and a clear end.

These functions write a plain PDF; :mod:`reports.pdfa` converts it to PDF/A-2b and :mod:`reports.signing`
signs it.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Callable

from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER
from reportlab.lib.pagesizes import A4, LETTER
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    BaseDocTemplate,
    CondPageBreak,
    Frame,
    Image,
    KeepTogether,
    PageTemplate,
    Spacer,
)

from procedures.errors import InputError
from reports.fonts import BOLD, FONT, ITALIC, register_fonts
from reports.graphics import QrCode, error_chart, phasor_diagram
from reports.labconfig import DEMO_ACCREDITATION
from reports.layout import Cell, Columns, FastDrawing, Grid, Text, keep_headings
from reports.meterport_sections import pdf_section as meterport_section
from reports.model import BatchSummary, CertificateData, PointResult, RegisterTest, content_hash, point_name

PAGE_SIZES = {"letter": LETTER, "a4": A4}
END_MARKER = "End of certificate"
RELATE_ONLY = (
    "The results in this certificate relate only to the item tested, as received and under the conditions "
    "stated. This certificate shall not be reproduced except in full without the written approval of the "
    "issuing laboratory."
)
NAVY = colors.HexColor("#1F3A5F")
LIGHT = colors.HexColor("#EEF2F7")
RULE = colors.HexColor("#9AA7B8")
PASS_TEXT = colors.HexColor("#1B5E20")
FAIL_TEXT = colors.HexColor("#8B0000")
FAIL_BG = colors.HexColor("#FBE3E3")
WARN_BG = colors.HexColor("#FFF4D6")
NOT_MEASURED = "not measured"  # a condition no one entered at a real bench: printed as words, never a number

_FONT_CMD = ("FONT", (0, 0), (-1, -1), FONT, 8)  # else Table falls back to unembedded Helvetica
KV_PAD = (6.0, 6.0, 2.0, 2.0)  # label/value blocks: a platypus Table's side padding
VERDICT_WORDS = {"pass": "PASS", "fail": "FAIL", "indeterminate": "INDETERMINATE", "not tested": "NOT TESTED"}
STATUS_WORDS = {"C": "confirmed", "D": "derived", "U": "UNCONFIRMED"}


# --- number formats (the tests read the PDF back with the same functions) -----------------------------


def fmt_v(x: float) -> str:
    return f"{x:.1f}"


def fmt_a(x: float) -> str:
    return f"{x:.3f}" if x < 10 else f"{x:.2f}"


def fmt_err(x: float) -> str:
    return f"{x:+.3f}"


def fmt_u(x: float) -> str:
    return f"{x:.3f}"


def fmt_k(x: float) -> str:
    return f"{x:.2f}"


def fmt_lim(x: float) -> str:
    return f"\u00b1{x:.2f}"


def fmt_pf(p: PointResult) -> str:
    """The load's power factor, or for a var point the sine of its angle (a var point's PF is 0 at
    sin phi 1 and says nothing of which reactive point it is)."""
    if p.quantity == "reactive":
        return f"sin {math.sin(math.radians(p.angle_deg)) + 0.0:.2f} ({p.angle_deg:.1f}\u00b0 lag)"
    return f"{p.pf:.2f} ({p.angle_deg:.1f}\u00b0 lag)" if p.angle_deg else f"{p.pf:.2f}"


def qr_payload(certificate_number: str, sha256: str) -> str:
    """What the QR code says: a short, parseable record of number and content hash."""
    return f"MBCERT:1;no={certificate_number};sha256={sha256}"


# --- styles -------------------------------------------------------------------------------------------


def _styles() -> dict[str, ParagraphStyle]:
    register_fonts()
    base = ParagraphStyle("base", fontName=FONT, fontSize=8.5, leading=11)
    return {
        "base": base,
        "small": ParagraphStyle("small", parent=base, fontSize=7.5, leading=9.5),
        "cell": ParagraphStyle("cell", parent=base, fontSize=8, leading=10),
        "cellb": ParagraphStyle("cellb", parent=base, fontName=BOLD, fontSize=8, leading=10),
        "head": ParagraphStyle(
            "head", parent=base, fontName=BOLD, fontSize=8, leading=10, textColor=colors.white
        ),
        "title": ParagraphStyle("title", parent=base, fontName=BOLD, fontSize=16, leading=20, textColor=NAVY),
        "h2": ParagraphStyle(
            "h2",
            parent=base,
            fontName=BOLD,
            fontSize=10.5,
            leading=13,
            textColor=NAVY,
            spaceBefore=8,
            spaceAfter=3,
        ),
        "note": ParagraphStyle("note", parent=base, fontName=ITALIC, fontSize=7.5, leading=9.5),
        "end": ParagraphStyle(
            "end", parent=base, fontName=BOLD, fontSize=10, alignment=TA_CENTER, spaceBefore=10
        ),
        "verdict": ParagraphStyle("verdict", parent=base, fontName=BOLD, fontSize=12, leading=15),
    }


def _p(text: str, style: ParagraphStyle) -> Text:
    return Text(text, style)


def _verdict_cell(verdict: str, st=None) -> Cell:
    return Cell(VERDICT_WORDS[verdict], BOLD, PASS_TEXT if verdict == "pass" else FAIL_TEXT)


def _cell(value, align: str = "LEFT") -> Cell:
    """A grid cell from a plain string, a :class:`Text` made by :func:`_p` (its font and colour kept), or
    a :class:`Cell`."""
    if isinstance(value, Cell):
        if align != "LEFT":
            value.align = align
        return value
    if isinstance(value, Text):
        return Cell(value.text, value.style.fontName, value.style.textColor, align)
    return Cell(str(value), FONT, colors.black, align)


def _grid(
    rows: list[list],
    widths: list[float],
    st=None,
    *,
    header: bool = True,
    verdicts: list[str] | None = None,
    right: range = range(0),
    warn: list[bool] | None = None,
) -> Grid:
    """A ruled table: navy header row, light zebra rows, failing rows tinted (and worded), ``warn`` rows
    (unconfirmed limits) tinted amber; body columns in ``right`` right-aligned."""
    first = 1 if header else 0
    cells = [[_cell(v) for v in rows[0]]] if header else []
    cells += [[_cell(v, "RIGHT" if k in right else "LEFT") for k, v in enumerate(r)] for r in rows[first:]]
    bg: list = [None] * len(rows)
    if header:
        bg[0] = NAVY
        for r in range(2, len(rows), 2):
            bg[r] = LIGHT
    for r, v in enumerate(verdicts or (), start=first):
        if v != "pass":
            bg[r] = FAIL_BG
    for r, flagged in enumerate(warn or (), start=first):
        if flagged:
            bg[r] = WARN_BG
    return Grid(cells, widths, row_bg=bg, header=first, rule=RULE)


def _kv(pairs: list[tuple[str, str]], widths: list[float], st) -> Grid:
    """A two-column label/value block (labels bold on a light background)."""
    rows = [[Cell(k, BOLD, bg=LIGHT), Cell(v or "-")] for k, v in pairs]
    return Grid(rows, widths, pad=KV_PAD, valign="TOP", rule=RULE)


# --- page furniture -----------------------------------------------------------------------------------


def _numbered_canvas(draw_furniture: Callable[[Canvas, int, int], None]) -> type[Canvas]:
    """A canvas that defers page furniture until the page count is known ("Page x of y")."""

    class NumberedCanvas(Canvas):
        def __init__(self, *args, **kwargs):
            kwargs.setdefault("initialFontName", FONT)
            super().__init__(*args, **kwargs)
            self._saved_pages: list[dict] = []

        def showPage(self):  # noqa: N802 - reportlab API
            self._saved_pages.append(dict(self.__dict__))
            self._startPage()

        def save(self):
            total = len(self._saved_pages)
            for state in self._saved_pages:
                self.__dict__.update(state)
                draw_furniture(self, self._pageNumber, total)
                Canvas.showPage(self)
            Canvas.save(self)

    return NumberedCanvas


def _furniture(
    page_size,
    lab_name: str,
    doc_label: str,
    number: str,
    short_hash: str,
    mark: str,
    label: str = "Certificate No.",
):
    width, height = page_size
    margin = 16 * mm

    def draw(c: Canvas, page: int, total: int) -> None:
        c.saveState()
        c.setFillColor(NAVY)
        c.setFont(BOLD, 9)
        c.drawString(margin, height - 11 * mm, lab_name)
        c.setFont(FONT, 8)
        c.drawString(margin, height - 15 * mm, doc_label)
        c.setFont(BOLD, 9)
        c.drawRightString(width - margin, height - 11 * mm, f"{label} {number}")
        c.setFont(FONT, 8)
        c.drawRightString(width - margin, height - 15 * mm, f"Page {page} of {total}")
        c.setStrokeColor(RULE)
        c.setLineWidth(0.6)
        c.line(margin, height - 17 * mm, width - margin, height - 17 * mm)
        c.line(margin, 14 * mm, width - margin, 14 * mm)
        c.setFillColor(colors.black)
        c.setFont(FONT, 7)
        c.drawString(margin, 10 * mm, f"{label} {number}   |   content SHA-256 {short_hash}...")
        c.drawRightString(width - margin, 10 * mm, f"Page {page} of {total}")
        c.drawString(
            margin, 6.5 * mm, "Not to be reproduced except in full without the laboratory's written approval."
        )
        if mark:  # its own line above the footer rule: every page, in words, never cut off at the margin
            c.setFillColor(FAIL_TEXT)
            c.setFont(BOLD, 7)
            c.drawCentredString(width / 2, 15.3 * mm, mark)
        c.restoreState()

    return draw


def _doc(buf: io.BytesIO, page_size, title: str, author: str, subject: str) -> BaseDocTemplate:
    width, height = page_size
    doc = BaseDocTemplate(
        buf,
        pagesize=page_size,
        leftMargin=16 * mm,
        rightMargin=16 * mm,
        topMargin=21 * mm,
        bottomMargin=19 * mm,
        title=title,
        author=author,
        subject=subject,
        creator="MeterBench",
        initialFontName=FONT,
        initialFontSize=8.5,
    )
    frame = Frame(
        doc.leftMargin,
        doc.bottomMargin,
        doc.width,
        doc.height,
        id="body",
        leftPadding=0,
        rightPadding=0,
        topPadding=0,
        bottomPadding=0,
    )
    doc.addPageTemplates([PageTemplate(id="page", frames=[frame])])
    return doc


def _page_size(page_size: str):
    try:
        return PAGE_SIZES[page_size.lower()]
    except KeyError:
        raise InputError("page_size", "unknown paper size", allowed=PAGE_SIZES, found=page_size) from None


# --- the certificate ----------------------------------------------------------------------------------

#: How many failing results page 1's result box names; the rest are counted ("and 2 more").
BOX_REASONS = 3
_FUNCTIONAL_NAMES = {
    "No-load (creep)": "no-load (creep) test",
    "Starting load": "starting test",
    "creep": "no-load (creep) test",
    "starting": "starting test",
}


_EXPECTED = re.compile(r"^.* (?P<got>\S+) \(expected (?P<want>\S+)\)$")
_ADVANCED = re.compile(r"advanced (?P<got>[-\d.]+) kWh, its window (?P<want>[-\d.]+) kWh")
_CONTEXT_ONLY = ("protocol ", "manufacturer ", "events:", "program identity", "status flags: none")
_LOGGED = re.compile(r"^\d{4}-\d\d-\d\d ")  # one entry of the event log


def _disagreeing(observed: str) -> str:
    """The parts of a meter-port check's observations that decided a failure: an identity field against
    its expected value, a status flag, a tier register against its window's energy (a page-1 box has
    no room for the ones that agree, nor for the event log, which the results table shows)."""
    keep = []
    for part in observed.split("; "):
        m = _EXPECTED.match(part) or _ADVANCED.search(part)
        if (m and m["got"] == m["want"]) or part.startswith(_CONTEXT_ONLY) or _LOGGED.match(part):
            continue
        keep.append(part)
    return "; ".join(keep) or observed


def result_reasons(data: CertificateData) -> list[str]:
    """What decided a failing or indeterminate overall result, one line per result, for page 1's box:
    "FAIL — starting test (0 pulse(s) in 600 s)", "FAIL — LL error +1.300 % outside ±1.00 %".
    The results the overall verdict rests on: the final stage's points and register tests, the starting,
    creep, weighted-average and wiring results. Empty for a pass."""
    if data.overall_verdict not in ("fail", "indeterminate"):
        return []
    final = data.stages[-1]
    stage = f" {final}" if len(data.stages) > 1 else ""
    found: list[tuple[str, str]] = []
    for p in data.points_of(final):
        what = point_name(p.point_id, p.label) + (f" element {p.element}" if p.element != "series" else "")
        where = "outside" if p.verdict == "fail" else "within U of"
        found.append(
            (p.verdict, f"{what}{stage} error {fmt_err(p.error_pct)} % {where} {fmt_lim(p.limit_pct)} %")
        )
    for f in data.functional_tests:
        found.append((f.verdict, f"{_FUNCTIONAL_NAMES.get(f.name, f.name)} ({f.observed})"))
    for t in data.register_tests:
        if t.stage != final:
            continue
        name = point_name(t.point_id, t.label)
        found.append(
            (
                t.verdict,
                f"register test {name} error {fmt_err(t.error_pct)} % against {fmt_lim(t.limit_pct)} %",
            )
        )
        found.append((t.constant_verdict, f"meter constant {name} error {fmt_err(t.constant_error_pct)} % against "
                                          f"{fmt_lim(t.constant_limit_pct)} %"))  # fmt: skip
    for t in data.meterport_tests:
        if t.stage != final:
            continue
        if t.value is not None and t.limit is not None:
            detail = f"{fmt_err(t.value)} {t.unit} against ±{t.limit:g} {t.unit}"
        else:  # a check without a number (TOU tiers, identity): the observations that do not agree
            detail = _disagreeing(t.observed)
            detail = detail if len(detail) <= 90 else detail[:89].rstrip() + "…"
        found.append((t.verdict, f"{t.kind} test {point_name(t.point_id, t.label)}: {detail}"))
    for w in data.weighted_averages:
        found.append(
            (
                w.verdict,
                f"weighted average {w.registration_pct:.3f} % {'outside' if w.verdict == 'fail' else 'within U of'} {w.low_pct:.1f} - {w.high_pct:.1f} %",
            )
        )
    if data.wiring is not None:
        found.append(
            (
                data.wiring.verdict,
                "wiring check" + (f": {data.wiring.findings[0]}" if data.wiring.findings else ""),
            )
        )
    lines = [f"{VERDICT_WORDS[v]} — {text}" for v, text in found if v in ("fail", "indeterminate")]
    if data.incomplete:
        lines.insert(0, f"NOT COMPLETED — {data.incomplete}")
    lines.sort(key=lambda line: not line.startswith("FAIL"))  # stable: failures first, in certificate order
    if len(lines) > BOX_REASONS:
        lines = lines[: BOX_REASONS - 1] + [f"and {len(lines) - BOX_REASONS + 1} more (see Results)"]
    return lines


def _title_block(data: CertificateData, st, width: float) -> list:
    lab = data.laboratory
    left = [
        _p(data.title, st["title"]),
        Spacer(1, 2),
        _p(f"Certificate No. {data.certificate_number}", st["verdict"]),
    ]
    verdict = VERDICT_WORDS[data.overall_verdict]
    meaning = {
        "pass": "the meter conforms",
        "fail": "the meter does NOT conform",
        "indeterminate": "conformity could not be decided",
        "not tested": "not tested",
    }[data.overall_verdict]
    passed = data.overall_verdict == "pass"
    lines = [_p(f"Overall result: {verdict}", st["verdict"]), Spacer(1, 6), _p(meaning, st["cell"])]
    for line in result_reasons(data):
        lines += [Spacer(1, 6), _p(line, st["cellb"])]
    box = Columns([lines], [58 * mm], box=PASS_TEXT if passed else FAIL_TEXT, box_width=1.2,
                  bg=colors.white if passed else FAIL_BG)  # fmt: skip
    cells: list[list] = [left, [box]]
    widths = [width - 60 * mm, 60 * mm]
    if lab.logo_path:
        cells = [[Image(lab.logo_path, width=22 * mm, height=22 * mm, kind="proportional")], left, [box]]
        widths = [25 * mm, width - 85 * mm, 60 * mm]
    t = Columns(cells, widths, pad=(0.0, 6.0, 3.0, 3.0), valign="MIDDLE")
    out = [t, Spacer(1, 6)]
    banners = [SIMULATED_BANNER] if data.simulated else []
    if lab.accreditation == DEMO_ACCREDITATION:
        banners.append(DEMO_BANNER)
    for text in banners:
        warn = Columns([[_p(text, st["cellb"])]], [width], box=FAIL_TEXT, box_width=0.8, bg=WARN_BG)
        out += [warn, Spacer(1, 6)]
    return out


#: Page 1 of a certificate from a simulated bench, whatever laboratory file it was issued under.
SIMULATED_BANNER = (
    "SIMULATED BENCH - the instruments and the meter were simulated. This certificate demonstrates the "
    "software; it is not a calibration of a physical meter."
)
#: Page 1 of a certificate issued under the built-in demonstration laboratory (real or simulated bench).
DEMO_BANNER = (
    "DEMONSTRATION CERTIFICATE - issued under the built-in demonstration laboratory (no laboratory file "
    "given): not valid for regulatory or billing use."
)


def footer_mark(simulated: bool, demo: bool) -> str:
    """What every page's footer says before the reproduction note: simulated, demonstration, or nothing."""
    marks = [m for m, on in (("SIMULATED BENCH", simulated), ("DEMONSTRATION LABORATORY", demo)) if on]
    return (" - ".join(marks) + " - not valid for regulatory or billing use.") if marks else ""


def _identity_section(data: CertificateData, st, width: float) -> list:
    lab, cust, m, d = data.laboratory, data.customer, data.meter, data.dates
    half = (width - 6 * mm) / 2
    lw = 30 * mm
    issuer = _kv(
        [
            ("Issued by", lab.name),
            ("Address", "\n".join((*lab.address, f"{lab.city}, {lab.country_code}"))),
            *((("Accreditation", lab.accreditation),) if lab.accreditation.strip() else ()),
            ("Place of test", lab.place_of_test),
        ],
        [lw, half - lw],
        st,
    )
    customer = _kv(
        [
            ("Customer", cust.name),
            ("Address", "\n".join((*cust.address, f"{cust.city}, {cust.country_code}" if cust.city else ""))),
            ("Customer ref.", cust.reference),
            (
                "Dates",
                f"Received {d.receipt.isoformat()}\nTested {d.test.isoformat()}\nIssued {d.issue.isoformat()}",
            ),
        ],
        [lw, half - lw],
        st,
    )
    two = Columns([[issuer], [customer]], [half + 3 * mm, half + 3 * mm], pad=(0.0, 6.0, 3.0, 3.0))
    current = []
    if m.test_amperes is not None:
        current.append(f"TA {m.test_amperes:g} A")
    if m.basic_current is not None:
        current.append(f"Ib/In {m.basic_current:g} A")
    if m.max_current is not None:
        current.append(f"Imax {m.max_current:g} A")
    nameplate = [
        ("Manufacturer", m.manufacturer),
        ("Model", m.model),
        ("Serial number", m.serial),
        *((("Utility asset no.", m.asset_id),) if m.asset_id else ()),
        ("Form", m.form),
        ("Accuracy class", m.accuracy_class),
        ("Current class", m.current_class),
        ("Current rating", ", ".join(current)),
        ("Voltage", f"{m.voltage_v:g} V"),
        ("Kh", f"{m.kh:g} Wh/rev"),
        ("Kt (test output)", f"{m.kt:g} Wh/pulse" if m.kt else "-"),
        ("Firmware", m.firmware),
        *data.record_fields,
    ]
    if len(nameplate) % 2:
        nameplate.append(("", ""))
    q = (width - 2 * lw) / 2
    rows = []
    for k in range(0, len(nameplate), 2):
        (a, av), (b, bv) = nameplate[k], nameplate[k + 1]
        rows.append(
            [
                Cell(a, BOLD, bg=LIGHT),
                Cell(av or "-"),
                Cell(b, BOLD, bg=LIGHT),
                Cell(bv or ("-" if b else "")),
            ]
        )
    rows.append([Cell("Condition as received", BOLD, bg=LIGHT), Cell(m.condition_as_received or "-")])
    item = Grid(rows, [lw, q, lw, q], pad=KV_PAD, valign="MIDDLE", rule=RULE)
    return [two, Spacer(1, 4), _p("Item tested", st["h2"]), item]


def _method_section(data: CertificateData, st, width: float) -> list:
    m = data.method
    out = [
        _p("Method", st["h2"]),
        _kv(
            [
                ("Test plan", f"{m.plan_id}, version {m.plan_version}: {m.title}"),
                ("Plan fingerprint", f"SHA-256 {m.plan_sha256}"),
                ("Standard", m.standard),
            ],
            [30 * mm, width - 30 * mm],
            st,
        ),
    ]
    if m.limits:
        rows = [[_p(h, st["head"]) for h in ("Limit", "Value", "Source", "Status")]]
        flags = []
        for lim in m.limits:
            status = STATUS_WORDS[lim.status]
            rows.append(
                [
                    _p(lim.name, st["cell"]),
                    _p(lim.value, st["cell"]),
                    _p(lim.source, st["cell"]),
                    _p(status, st["cellb"] if lim.unconfirmed else st["cell"]),
                ]
            )
            flags.append(lim.unconfirmed)
        t = _grid(rows, [52 * mm, 38 * mm, width - 118 * mm, 28 * mm], st, warn=flags)
        heading = _p("Provenance of the limits applied", st["cellb"])
        heading.heading = True  # kept with the table's first row
        out += [Spacer(1, 3), heading, t]
        if data.has_unconfirmed_limits:
            out.append(
                _p(
                    "Limits marked UNCONFIRMED are widely used values that the laboratory has not verified against "
                    "the text of the standard; results judged against them should be read with that in mind.",
                    st["note"],
                )
            )
    out += [_p("Deviations from the method", st["h2"])]
    out += [_p(f"- {dv}", st["base"]) for dv in data.deviations] or [_p("None.", st["base"])]
    c = data.conditions
    out += [
        _p("Test conditions", st["h2"]),
        _grid(
            [
                [
                    _p(h, st["head"])
                    for h in ("Temperature", "Relative humidity", "Test voltage", "Frequency", "Warm-up")
                ],
                [
                    NOT_MEASURED if c.temperature_c is None else f"{c.temperature_c:.1f} \u00b0C",
                    NOT_MEASURED if c.humidity_pct is None else f"{c.humidity_pct:.0f} %",
                    f"{c.voltage_v:.1f} V",
                    f"{c.frequency_hz:.2f} Hz",
                    f"{c.warmup_min:.0f} min",
                ],
            ],
            [(width) / 5] * 5,
            st,
        ),
    ]
    rows = [
        [
            _p(h, st["head"])
            for h in ("Reference standard", "Serial", "Calibration certificate", "Due", "Uncertainty")
        ]
    ]
    for r in data.reference_standards:
        rows.append(
            [
                _p(r.identity, st["cell"]),
                _p(r.serial, st["cell"]),
                _p(f"{r.calibration_certificate}\n{r.calibration_laboratory}", st["cell"]),
                _p(r.due_date.isoformat(), st["cell"]),
                _p(r.uncertainty, st["cell"]),
            ]
        )
    block = [
        _p("Reference standards and traceability", st["h2"]),
        _grid(rows, [44 * mm, 24 * mm, width - 150 * mm, 22 * mm, 60 * mm], st),
    ]
    block += [
        _p(f"Traceability ({r.serial}): {r.traceability}", st["small"]) for r in data.reference_standards
    ]
    out.append(KeepTogether(block))
    return out


POINT_HEADERS = (
    "Point",
    "Element",
    "Voltage (V)",
    "Current (A)",
    "PF",
    "Error (%)",
    "U (%)",
    "k",
    "Limit (%)",
    "Verdict",
)


def point_row(p: PointResult) -> list[str]:
    """The text of one results-table row, as printed (the tests compare against it cell by cell)."""
    return [
        point_name(p.point_id, p.label)
        + p.measures,  # [varh, received]: the energy and direction if not Wh delivered
        p.element,
        fmt_v(p.voltage_v),
        fmt_a(p.current_a),
        fmt_pf(p),
        fmt_err(p.error_pct),
        fmt_u(p.expanded_u_pct),
        fmt_k(p.k),
        fmt_lim(p.limit_pct),
        VERDICT_WORDS[p.verdict],
    ]


def _results_section(data: CertificateData, st, width: float) -> list:
    out: list = [
        CondPageBreak(60 * mm),
        _p("Results", st["h2"]),
        _p(
            "Error = %R - 100 (positive: meter fast). U is the expanded uncertainty of the error, in percent, with "
            "coverage factor k (about 95 % coverage). The limit is symmetric (+/-).",
            st["small"],
        ),
        Spacer(1, 3),
    ]
    widths = [30 * mm, 17 * mm, 17 * mm, 17 * mm, 25 * mm, 16 * mm, 14 * mm, 10 * mm, 16 * mm]
    widths.append(width - sum(widths))
    for stage in data.stages:
        pts = data.points_of(stage)
        rows = [[_p(h, st["head"]) for h in POINT_HEADERS]]
        for p in pts:
            cells = point_row(p)
            rows.append([_p(cells[0], st["cell"]), *cells[1:-1], _verdict_cell(p.verdict, st)])
        title = {"as-found": "As found (before adjustment)", "as-left": "As left (after adjustment, if any)"}[
            stage
        ]
        if len(data.stages) == 1:
            title = (
                "As found and as left (no adjustment made)"
                if stage == "as-left"
                else "As found (not adjusted)"
            )
        t = _grid(rows, widths, st, verdicts=[p.verdict for p in pts], right=range(2, len(widths) - 1))
        out.append(KeepTogether([_p(title, st["cellb"]), Spacer(1, 2), t, Spacer(1, 5)]))
    if data.weighted_averages:
        rows = [
            [
                _p(h, st["head"])
                for h in (
                    "Stage",
                    "Rule",
                    "Formula",
                    "Registration (%)",
                    "Error (%)",
                    "U (%)",
                    "k",
                    "Allowed (%)",
                    "Verdict",
                )
            ]
        ]
        for w in data.weighted_averages:
            rows.append(
                [
                    w.stage,
                    w.rule,
                    w.formula,
                    f"{w.registration_pct:.3f}",
                    fmt_err(w.error_pct),
                    fmt_u(w.expanded_u_pct),
                    fmt_k(w.k),
                    f"{w.low_pct:.1f} - {w.high_pct:.1f}",
                    _verdict_cell(w.verdict, st),
                ]
            )
        out.append(
            KeepTogether(
                [
                    _p("Weighted average registration", st["h2"]),
                    _grid(
                        rows,
                        [
                            17 * mm,
                            22 * mm,
                            33 * mm,
                            27 * mm,
                            16 * mm,
                            14 * mm,
                            10 * mm,
                            22 * mm,
                            width - 161 * mm,
                        ],
                        st,
                        verdicts=[w.verdict for w in data.weighted_averages],
                    ),
                ]
            )
        )
    if data.functional_tests:
        rows = [
            [_p(h, st["head"]) for h in ("Test", "Stage", "Condition", "Requirement", "Observed", "Verdict")]
        ]
        for f in data.functional_tests:
            name = {"starting": "Starting load", "creep": "No-load (creep)"}.get(f.name, f.name)
            rows.append(
                [
                    _p(name, st["cell"]),
                    f.stage,
                    _p(f.condition, st["cell"]),
                    _p(f.requirement, st["cell"]),
                    _p(f.observed, st["cell"]),
                    _verdict_cell(f.verdict, st),
                ]
            )
        out.append(
            KeepTogether(
                [
                    _p("Starting load and no-load (creep)", st["h2"]),
                    _grid(
                        rows,
                        [26 * mm, 16 * mm, 36 * mm, 36 * mm, width - 134 * mm, 20 * mm],
                        st,
                        verdicts=[f.verdict for f in data.functional_tests],
                    ),
                ]
            )
        )
    return out


REGISTER_HEADERS = (
    "Register test",
    "Stage",
    "Register start and end (kWh)",
    "Compared with",
    "Error (%)",
    "U (%)",
    "k",
    "Limit (%)",
    "Verdict",
)


def register_rows(t: RegisterTest) -> list[list[str]]:
    """The two rows of one register test as printed: register against the reference, then against the
    test output (the meter-constant check). The tests compare against them cell by cell."""
    places = max(
        0, -math.floor(math.log10(t.resolution_kwh) + 1e-9)
    )  # as many decimals as the register shows
    span = f"{t.start_kwh:.{places}f} to {t.end_kwh:.{places}f} (digit {t.resolution_kwh:g})"
    load = f"{fmt_v(t.voltage_v)} V, {fmt_a(t.current_a)} A, PF {t.pf:.2f}"
    output = (f"test output {t.test_output_kwh:.6g} kWh: {t.test_pulses} pulses x {t.kt:g} Wh and the part-pulse "
              "outside the gate" if t.test_output_kwh is not None else f"{t.test_pulses} test pulses x {t.kt:g} Wh")  # fmt: skip
    return [
        [f"{point_name(t.point_id, t.label)} at {load}: register", t.stage, span, f"reference {t.reference_kwh:.6g} kWh",
         fmt_err(t.error_pct), fmt_u(t.expanded_u_pct), fmt_k(t.k), fmt_lim(t.limit_pct),
         VERDICT_WORDS[t.verdict]],
        [f"{point_name(t.point_id, t.label)}: meter constant", t.stage, span,
         output, fmt_err(t.constant_error_pct), fmt_u(t.constant_u_pct),
         fmt_k(t.constant_k), fmt_lim(t.constant_limit_pct), VERDICT_WORDS[t.constant_verdict]],
    ]  # fmt: skip


def _register_section(data: CertificateData, st, width: float) -> list:
    if not data.register_tests:
        return []
    rows = [[_p(h, st["head"]) for h in REGISTER_HEADERS]]
    verdicts = []
    for t in data.register_tests:
        for cells, verdict in zip(register_rows(t), (t.verdict, t.constant_verdict), strict=True):
            rows.append([_p(c, st["cell"]) for c in cells[:4]] + cells[4:-1] + [_verdict_cell(verdict, st)])
            verdicts.append(verdict)
    widths = [34 * mm, 15 * mm, 32 * mm, 33 * mm, 15 * mm, 13 * mm, 10 * mm, 15 * mm]
    widths.append(width - sum(widths))
    t = _grid(rows, widths, st, verdicts=verdicts, right=range(4, len(widths) - 1))
    note = _p(
        "The register was read through the meter's port with the source off, before and after one run of "
        "energy at the stated load. Register error = 100 x register advance / reference energy - 100; meter "
        "constant = 100 x register advance / (test pulses x Kt) - 100, over the same run: it shows whether the "
        "register and the test output agree. U includes +/-1 register digit at each reading.",
        st["small"],
    )
    return [KeepTogether([_p("Register test", st["h2"]), note, Spacer(1, 3), t])]


def _wiring_section(data: CertificateData, st, width: float) -> list:
    w = data.wiring
    if w is None:
        return []
    rows = [[_p(h, st["head"]) for h in ("Phase", "V (V)", "V angle", "I (A)", "I angle", "I lags V by")]]
    for p in w.phases:
        rows.append(
            [
                p.phase,
                fmt_v(p.voltage_v),
                f"{p.voltage_deg:.1f}\u00b0",
                fmt_a(p.current_a),
                f"{p.current_deg:.1f}\u00b0",
                f"{(p.current_deg - p.voltage_deg + 180) % 360 - 180:.1f}\u00b0",
            ]
        )
    table = _grid(rows, [14 * mm, 16 * mm, 17 * mm, 15 * mm, 17 * mm, 21 * mm], st)
    left = [
        _p(f"Supply rotation: {w.rotation}", st["cellb"]),
        _p(f"Wiring check result: {w.result_text}", st["cellb"]),
        Spacer(1, 3),
        table,
        Spacer(1, 4),
        *[_p(f"- {f}", st["cell"]) for f in w.findings],
        Spacer(1, 4),
        _p(
            "Diagram: voltages solid, currents dashed, each scaled to its largest phase. Angles lag positive and "
            "are drawn clockwise from V(A) at 0\u00b0 (pointing right).",
            st["note"],
        ),
    ]
    diagram = FastDrawing(phasor_diagram(w.phases, size=62 * mm))
    t = Columns([left, [diagram]], [width - 66 * mm, 66 * mm], pad=(0.0, 6.0, 3.0, 3.0))
    return [KeepTogether([_p("Wiring check (phase rotation, polarity, phasors)", st["h2"]), t])]


def _chart_section(data: CertificateData, st, width: float) -> list:
    chart = FastDrawing(error_chart(data.points, width=width, height=70 * mm))
    return [KeepTogether([_p("Error versus test current", st["h2"]), chart])]


def _statements_section(
    data: CertificateData, st, width: float, sha: str, signed: bool = True, audit_head: str | None = None
) -> list:
    out = [
        KeepTogether(
            [
                _p("Decision rule", st["h2"]),
                _p(data.decision_rule.name, st["cellb"]),
                _p(data.decision_rule.statement, st["base"]),
            ]
        ),
        KeepTogether(
            [
                _p("Statement of conformity", st["h2"]),
                _p(f"Overall result: {VERDICT_WORDS[data.overall_verdict]}.", st["cellb"]),
                _p(data.conformity_statement, st["base"]),
            ]
        ),
        _p("Sign convention", st["h2"]),
        _p(data.sign_convention, st["base"]),
        Spacer(1, 4),
        _p(RELATE_ONLY, st["cellb"]),
    ]
    qd = QrCode(qr_payload(data.certificate_number, sha), 30 * mm, level="M")  # encoded once, one path
    signed = [
        _p("Tested by", st["cellb"]),
        _p(data.tested_by.printed, st["cell"]),
        Spacer(1, 3),
        _p("Approved (authorised) by", st["cellb"]),
        _p(data.approved_by.printed, st["cell"]),
        Spacer(1, 3),
        _p(
            "This certificate is issued electronically. Its authenticity and integrity are protected by a "
            "digital signature (PAdES); any change to the file invalidates it."
            if signed
            else "This certificate is issued electronically WITHOUT a digital signature: its integrity can be "
            "checked only against the issuing laboratory's records, by the content hash below.",
            st["small"],
        ),
    ]
    record = [
        _p(f"Run {data.run_id} on {data.bench_name}; {data.software_version}", st["small"]),
        _p(f"Content SHA-256: {sha}", st["small"]),
        *(
            [
                _p(
                    f"Records audit chain at issue: entry {audit_head.partition(':')[0]}, seal "
                    f"{audit_head.partition(':')[2][:32]}",
                    st["small"],
                )
            ]
            if audit_head
            else []
        ),  # fmt: skip
        _p(
            "The QR code carries the certificate number and this content hash; the issuing laboratory can "
            "confirm both against its records.",
            st["small"],
        ),
    ]
    auth = Columns([[*signed, Spacer(1, 6), *record], [qd]], [width - 34 * mm, 34 * mm], box=RULE)
    out += [KeepTogether([_p("Authorisation", st["h2"]), auth])]
    out += [_p(f"\u2014 {END_MARKER} {data.certificate_number} \u2014", st["end"])]
    return out


def render_certificate(
    data: CertificateData,
    *,
    page_size: str = "letter",
    sha256: str | None = None,
    signed: bool = True,
    audit_head: str | None = None,
) -> bytes:
    """The certificate as plain (not yet PDF/A) PDF bytes; ``sha256`` defaults to :func:`content_hash`.
    ``signed`` says whether a signature will be applied, so the page states it truthfully; ``audit_head``
    (``"<seq>:<hash>"``, the records' audit chain head at issue) is printed with the content hash."""
    size = _page_size(page_size)
    sha = sha256 or content_hash(data)
    st = _styles()
    buf = io.BytesIO()
    doc = _doc(
        buf,
        size,
        f"{data.title} {data.certificate_number}",
        data.laboratory.name,
        f"Meter {data.meter.serial}, form {data.meter.form}",
    )
    width = doc.width
    story: list = []
    story += _title_block(data, st, width)
    story += _identity_section(data, st, width)
    story += _method_section(data, st, width)
    story += _results_section(data, st, width)
    story += _register_section(data, st, width)
    story += meterport_section(data, st, width)
    story += _wiring_section(data, st, width)
    story += _chart_section(data, st, width)
    story += _statements_section(data, st, width, sha, signed, audit_head)
    story = keep_headings(story)
    furniture = _furniture(
        size,
        data.laboratory.name,
        data.title,
        data.certificate_number,
        sha[:16],
        footer_mark(data.simulated, data.laboratory.accreditation == DEMO_ACCREDITATION),
    )
    doc.build(story, canvasmaker=_numbered_canvas(furniture))
    return buf.getvalue()


BATCH_HEADERS = (
    "Certificate No.",
    "Serial",
    "Form",
    "Class",
    "Weighted avg. (%)",
    "Worst error (%)",
    "Verdict",
)


def batch_row(r) -> list[str]:
    return [
        r.certificate_number,
        r.serial,
        r.form,
        r.accuracy_class,
        f"{r.weighted_average_pct:.3f}" if r.weighted_average_pct is not None else "-",
        fmt_err(r.worst_error_pct) if r.worst_error_pct is not None else "-",
        VERDICT_WORDS[r.verdict],
    ]


def render_batch_summary(
    summary: BatchSummary, *, page_size: str = "letter", sha256: str | None = None
) -> bytes:
    """A run's summary (one row per meter) as plain PDF bytes. It lists certificates; it is not one."""
    size = _page_size(page_size)
    sha = sha256 or content_hash(summary)
    st = _styles()
    buf = io.BytesIO()
    doc = _doc(
        buf,
        size,
        f"{summary.title} {summary.summary_number}",
        summary.laboratory.name,
        f"Run {summary.run_id}",
    )
    width = doc.width
    counts = summary.counts
    story: list = [
        _p(summary.title, st["title"]),
        Spacer(1, 4),
        _kv(
            [
                ("Laboratory", f"{summary.laboratory.name}, {summary.laboratory.city}"),
                ("Run", f"{summary.run_id} on {summary.bench_name}, plan {summary.plan_id}"),
                ("Test date", summary.test_date.isoformat()),
                ("Tested by", summary.tested_by.printed),
                (
                    "Meters",
                    f"{len(summary.rows)} tested: {counts['pass']} PASS, {counts['fail']} FAIL, "
                    f"{counts['indeterminate']} INDETERMINATE, {counts['not tested']} NOT TESTED",
                ),
            ],
            [30 * mm, width - 30 * mm],
            st,
        ),
        Spacer(1, 6),
    ]
    rows = [[_p(h, st["head"]) for h in BATCH_HEADERS]]
    for r in summary.rows:
        cells = batch_row(r)
        rows.append([*cells[:-1], _verdict_cell(r.verdict, st)])
    story.append(
        _grid(
            rows,
            [36 * mm, 30 * mm, 14 * mm, 14 * mm, 28 * mm, 26 * mm, width - 148 * mm],
            st,
            verdicts=[r.verdict for r in summary.rows],
        )
    )
    story += [
        Spacer(1, 6),
        _p(
            "Each meter's result is stated in full, with uncertainties and the decision rule, "
            "in its own certificate; this summary is not a certificate.",
            st["note"],
        ),
    ]
    story += [_p(n, st["base"]) for n in summary.notes]
    story += [
        _p(f"Content SHA-256: {sha}; {summary.software_version}", st["small"]),
        _p(f"\u2014 End of batch summary {summary.summary_number} \u2014", st["end"]),
    ]
    furniture = _furniture(
        size,
        summary.laboratory.name,
        summary.title,
        summary.summary_number,
        sha[:16],
        footer_mark(False, summary.laboratory.accreditation == DEMO_ACCREDITATION),
        "Summary No.",
    )
    doc.build(story, canvasmaker=_numbered_canvas(furniture))
    return buf.getvalue()
