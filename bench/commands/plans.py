"""``meterbench plans``: list the built-in test plans, or show one resolved for a meter.

    meterbench plans [--json]
    meterbench plans show ID|FILE.toml --form 2S --class 0.2 [--ta 30] [--voltage 240] [--json]

``show`` prints every point in amperes and volts with the energy it measures ("Wh del", "varh rcv", and
its frequency when not the plan's), its phase angle (lagging positive) and PF (a var point's sin phi),
element, limit and the limit's provenance (standard, clause, status), so a technician can see what the
bench will do and a reviewer where each limit comes from.
"""

from __future__ import annotations

import argparse
import json
import math
from typing import TYPE_CHECKING

from procedures.errors import InputError

if TYPE_CHECKING:  # the plan catalogue loads when a plans command runs, not to build every parser
    from procedures.plans import ResolvedPlan, ResolvedPoint

ORDER = 20


def register(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "plans", help="list built-in test plans or show one resolved for a meter", description=__doc__
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    sub = parser.add_subparsers(dest="plans_command", metavar="ACTION", parser_class=type(parser))
    show = sub.add_parser("show", help="show a plan's points in amperes and volts for one meter")
    show.add_argument("plan", help="a built-in plan id or a path to a plan .toml file")
    show.add_argument("--form", help="meter form, e.g. 2S, 9S, 12S, 16S (default: the plan's only form)")
    show.add_argument(
        "--class",
        dest="accuracy_class",
        help="accuracy class, e.g. 0.2, 0.5S, 1 (default: the plan's only one)",
    )
    show.add_argument("--ta", type=float, help="test amperes (default: the form's typical class TA)")
    show.add_argument("--current-class", help="current class, e.g. CL200 (default: from --ta or the form)")
    show.add_argument("--voltage", type=float, help="nameplate element voltage (default: the form's first)")
    show.add_argument("--ib", type=float, help="IEC basic current Ib (default: TA)")
    show.add_argument("--in", dest="in_", type=float, help="IEC nominal current In (default: TA)")
    show.add_argument("--imax", type=float, help="maximum current (default: the class current)")
    show.add_argument("--average-rule", help="override the plan's weighted-average rule (e.g. nc-method-4)")
    show.add_argument("--json", dest="show_json", action="store_true", help="print JSON instead of a table")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    if getattr(args, "plans_command", None) == "show":
        return _show(args)
    return _list(args)


def _list(args: argparse.Namespace) -> int:
    from procedures.plans import list_plans

    plans = list_plans()
    if args.json:
        rows = [
            {
                "id": p.id,
                "title": p.title,
                "standard": p.standard,
                "version": p.version,
                "forms": list(p.forms),
                "classes": list(p.classes),
                "decision_rule": p.decision_rule,
                "target_share": p.target_share,
                "points": len(p.points),
                "sha256": p.sha256,
            }
            for p in plans
        ]
        print(json.dumps(rows, indent=2))
        return 0
    from bench.textfit import fit

    rows = [
        (p.id, p.standard, " ".join(p.forms), " ".join(p.classes), str(len(p.points)), p.title) for p in plans
    ]
    # an id is never cut (it is what --plan takes); the classes and forms wrap, the title goes last
    fit(
        _console(),
        ("id", "standard", "forms", "classes", "points", "title"),
        rows,
        keep=("id", "title"),
        drop=("points", "classes", "standard", "forms"),
        title="Built-in test plans",
    )
    return 0


def _only(plan, option: str, given, choices, what: str):
    """What was given, else the plan's only choice; with several, say which there are (one line)."""
    if given is not None:
        return given
    if len(choices) == 1:
        return choices[0]
    raise InputError(
        option, f"is needed: plan {plan.id} covers several {what}", allowed=" ".join(choices) or "none"
    )


def _show(args: argparse.Namespace) -> int:
    from procedures.plans import load_plan

    plan = load_plan(args.plan)
    rp = plan.resolve(
        _only(plan, "--form", args.form, plan.forms, "meter forms"),
        _only(plan, "--class", args.accuracy_class, plan.classes, "accuracy classes"),
        ta=args.ta,
        ib=args.ib,
        in_=args.in_,
        imax=args.imax,
        voltage=args.voltage,
        current_class=args.current_class,
        average_rule=args.average_rule,
    )
    if args.show_json or args.json:
        print(json.dumps(resolved_to_dict(rp), indent=2))
        return 0
    from bench.resultwords import class_text
    from bench.textfit import fit

    head = (
        f"{rp.plan_id} v{rp.version} — {rp.title}\nform {rp.form.name}, class {class_text(rp.accuracy_class)}, "
        f"{rp.current_class} TA {rp.ta_a:g} A, {rp.voltage_v:g} V; decision rule {rp.decision_rule}, "
        f"target share {rp.target_share:g}; sha256 {rp.sha256[:16]}…"
        + (f"; {rp.frequency_hz:g} Hz" if rp.frequency_hz else "")
    )
    columns = (
        "#",
        "id",
        "kind",
        "energy",
        "element",
        "V",
        "A",
        "lag°",
        "PF",
        "limit",
        "standard",
        "clause",
        "status",
    )
    rows = []
    for k, pt in enumerate(rp.points, 1):
        prov = pt.limit_provenance
        rows.append(
            (
                str(k),
                pt.id,
                pt.kind,
                _energy_text(pt, rp.frequency_hz),
                pt.element,
                f"{pt.voltage_v:g}",
                f"{pt.current_a:g}",
                f"{pt.lag_deg:g}",
                _pf_text(pt) if pt.current_a else "—",
                _limit_text(pt),
                prov.standard if prov else "",
                prov.clause if prov else "",
                prov.status if prov else "",
            )
        )
    console = _console()
    # the provenance (standard, clause, confirmed or not) is what this command is for: never cut it
    fit(
        console,
        columns,
        rows,
        keep=("id", "limit", "status", "standard"),
        drop=("#", "kind", "clause", "PF", "element"),
        whole={"PF": [r[8] for r in rows if r[8] != "—"]},
        title=head,
        right=("#", "V", "A", "lag°", "PF"),
    )
    if rp.average_rule:
        avg = rp.average_rule
        p = avg.limit_provenance
        console.print(
            f"average rule {avg.name}: {avg.rule.title}; limit ±{avg.limit_percent:g} % on the average "
            f"({p.standard}, {p.status}); rule source {avg.rule.provenance.standard} ({avg.rule.provenance.status})"
        )
    console.print("error = %R - 100 (positive = meter fast); angles lagging positive.")
    return 0


def _console():
    from bench.textfit import make_console

    return make_console()  # the terminal's width (COLUMNS wins); tables fit it without cutting an id


DIRECTION_WORDS = {"delivered": "del", "received": "rcv"}


def _energy_text(pt: ResolvedPoint, plan_hz: float | None) -> str:
    """What the point measures, compactly: its energy unit and direction ("Wh del", "varh rcv"), and its
    frequency when not the plan's ("varh del 51 Hz", an influence point's)."""
    text = f"{pt.unit} {DIRECTION_WORDS.get(pt.direction, pt.direction)}"
    if pt.frequency_hz is not None and pt.frequency_hz != plan_hz:
        text += f" {pt.frequency_hz:g} Hz"
    return text


def _pf_text(pt: ResolvedPoint) -> str:
    """The power factor; a var point's sin phi instead (its cos phi is 0 at sin phi 1), inductive when the
    current lags: "0.50 lag", "sin phi 1 ind", "sin phi 0.5 cap". ASCII, as the certificate spells phi."""
    if pt.quantity == "reactive":
        sin = math.sin(math.radians(pt.lag_deg))
        return f"sin phi {abs(sin):.2f}".rstrip("0").rstrip(".") + (" ind" if sin > 0 else " cap")
    pf = pt.power_factor
    if abs(pt.lag_deg) < 1e-9:
        return "1"
    return f"{pf:.2f} {'lag' if pt.lag_deg > 0 else 'lead'}"


def _limit_text(pt: ResolvedPoint) -> str:
    if pt.limit is None:
        return ""
    lim = pt.limit
    role = " (adjust)" if pt.limit_role == "adjust" else ""
    if lim.unit == "percent":
        return f"±{lim.value:g} %{role}"
    if lim.unit == "pulses":
        return f"≤{lim.value:g} pulse" + (f" in {pt.duration_s:g} s" if pt.duration_s else "")
    if lim.unit == "deg":
        return f"±{lim.value:g}°"
    if pt.kind == "starting":
        return "starts" + (f" within {pt.duration_s:g} s" if pt.duration_s else "")
    return f"{lim.value:g} {lim.unit}"


def resolved_to_dict(rp: ResolvedPlan) -> dict:
    """A JSON-ready view of a resolved plan (amperes, volts, limits with provenance)."""

    def prov(p):
        return (
            None
            if p is None
            else {k: getattr(p, k) for k in ("standard", "edition", "clause", "status", "note")}
        )

    return {
        "plan_id": rp.plan_id,
        "version": rp.version,
        "sha256": rp.sha256,
        "title": rp.title,
        "standard": rp.standard,
        "decision_rule": rp.decision_rule,
        "target_share": rp.target_share,
        "form": rp.form.name,
        "accuracy_class": rp.accuracy_class,
        "current_class": rp.current_class,
        "ta_a": rp.ta_a,
        "voltage_v": rp.voltage_v,
        "imax_a": rp.imax_a,
        "frequency_hz": rp.frequency_hz,
        "average_rule": None
        if rp.average_rule is None
        else {
            "name": rp.average_rule.name,
            "weights": dict(rp.average_rule.rule.weights),
            "limit_percent": rp.average_rule.limit_percent,
            "limit_provenance": prov(rp.average_rule.limit_provenance),
        },
        "points": [
            {
                "id": pt.id,
                "label": pt.label,
                "kind": pt.kind,
                "element": pt.element,
                "voltage_v": pt.voltage_v,
                "current_a": pt.current_a,
                "lag_deg": pt.lag_deg,
                "power_factor": round(pt.power_factor, 6),
                "limit_percent": pt.limit_percent,
                "limit_value": pt.limit_value,
                "limit_unit": pt.limit_unit,
                "limit_ref": pt.limit.ref if pt.limit else None,
                "limit_role": pt.limit_role,
                "limit_provenance": prov(pt.limit_provenance),
                "readings": pt.readings,
                "settle_s": pt.settle_s,
                "duration_s": pt.duration_s,
                "pulse_divisor": pt.pulse_divisor,
                "quantity": pt.quantity,
                "direction": pt.direction,
                "unit": pt.unit,
                "frequency_hz": pt.frequency_hz,
            }
            for pt in rp.points
        ],
    }
