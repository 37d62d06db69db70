"""The certificate's and the DCC's section for the tests of the meter's own tables read through its optical
port (demand, clock, TOU, identity): one row per test with what was observed, the value with its U and k,
the limit and where it comes from, and the verdict. Kept out of :mod:`reports.certificate` (whose layout is
tuned for speed) and :mod:`reports.dcc`: each calls one function here."""

from __future__ import annotations

from reports.model import CertificateData, MeterPortTest, point_name

HEADERS = ("Meter-port test", "Stage", "Observed", "Value", "U", "k", "Limit", "Limit from", "Verdict")
DSI_UNITS = {"%": "\\percent", "s/day": "\\second\\day\\tothe{-1}", "kWh": "\\kilo\\watt\\hour"}
NOTE = (
    "Read through the meter's optical port. Demand: the meter's demand over an interval wholly inside one "
    "constant load, against the mean of the reference's power readings over that load; error = 100 x demand / "
    "reference power - 100 (positive = reads high); U includes the demand register's digit. Clock: the "
    "meter's seconds tick timed against the bench clock at the start and end of the stated span; drift in "
    "s/day, positive = fast; U includes the tick timing and the bench time base. TOU: each tier register's "
    "advance across a tier change of the expected calendar against the reference energy of its window, within "
    "two register digits and the accuracy limit. Identity: serial, model and firmware against the manifest, "
    "and the meter's status flags and event log in words."
)


def _num(x: float | None, places: int = 3) -> str:
    return "-" if x is None else f"{x:+.{places}f}"


def rows(t: MeterPortTest) -> list[str]:
    """One test's cells as printed (the tests compare against them)."""
    lim = "-" if t.limit is None else f"±{t.limit:g} {t.unit}"
    return [f"{point_name(t.point_id, t.label)}: {t.quantity}", t.stage, t.observed,
            "-" if t.value is None else f"{_num(t.value)} {t.unit}",
            "-" if t.expanded_u is None else f"{t.expanded_u:.3f}", "-" if t.k is None else f"{t.k:.2f}",
            lim, t.limit_source]  # fmt: skip


def pdf_section(data: CertificateData, st, width: float) -> list:
    if not data.meterport_tests:
        return []
    from reportlab.lib.units import mm
    from reportlab.platypus import KeepTogether, Spacer

    from reports import certificate as c

    table = [[c._p(h, st["head"]) for h in HEADERS]]  # noqa: SLF001 - the certificate's own cell helpers
    verdicts = []
    for t in data.meterport_tests:
        cells = rows(t)
        table.append([c._p(x, st["cell"]) for x in cells] + [c._verdict_cell(t.verdict, st)])  # noqa: SLF001
        verdicts.append(t.verdict)
    widths = [27 * mm, 15 * mm, 45 * mm, 19 * mm, 11 * mm, 8 * mm, 15 * mm]
    widths += [max(width - sum(widths) - 17 * mm, 16 * mm), 17 * mm]
    grid = c._grid(table, widths, st, verdicts=verdicts)  # noqa: SLF001
    return [KeepTogether([c._p("Meter-port tests", st["h2"]), c._p(NOTE, st["small"]), Spacer(1, 3), grid])]  # noqa: SLF001


def dcc_results(results, data: CertificateData) -> None:
    """One dcc:result per meter-port test, with its value, U and limit as D-SI quantities."""
    from reports import dcc

    for t in data.meterport_tests:
        res = dcc._sub(results, dcc._d("result"), refType=dcc.ref_type(f"{t.kind} test"))  # noqa: SLF001
        dcc._text(res, "name", f"{point_name(t.point_id, t.label)}: {t.quantity} ({t.stage})")  # noqa: SLF001
        words = f"{t.observed}. Verdict: {t.verdict.upper()}."
        if t.limit is not None:
            words += f" Limit +/-{t.limit:g} {t.unit} ({t.limit_source})."
        dcc._sub(dcc._sub(res, dcc._d("description")), dcc._d("content"), words, lang="en")  # noqa: SLF001
        body = dcc._sub(res, dcc._d("data"))  # noqa: SLF001
        unit = DSI_UNITS.get(t.unit, "\\one")
        if t.value is not None:
            dcc._quantity(body, t.quantity, t.value, unit, label=f"{t.kind}Value", u=t.expanded_u, k=t.k)  # noqa: SLF001
        else:
            dcc._sub(dcc._sub(body, dcc._d("text")), dcc._d("content"), t.observed, lang="en")  # noqa: SLF001
        if t.limit is not None:
            dcc._quantity(body, f"{t.quantity} limit (+/-)", t.limit, unit, label=f"{t.kind}Limit")  # noqa: SLF001
