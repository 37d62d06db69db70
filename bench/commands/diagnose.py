"""``meterbench diagnose``: check a meter's site wiring from measured phasors.

    meterbench diagnose --form 9S --phasors site.json [--json] [--convention lagging|leading]
                        [--voltage-tolerance PCT] [--angle-envelope DEG] [--min-current A]
                        [--hookup service|series] [--format json|csv]

The phasors come from a reference standard or the meter's site diagnostics: per phase voltage and current
magnitude and angle (JSON ``{"voltages": {"A": [120, 0], ...}, "currents": {"A": [5, 0], ...}}`` or CSV
``quantity,phase,magnitude,angle_deg``; ``--phasors -`` reads standard input). Angles are lagging-positive
unless ``--convention leading``. The format follows the file extension (.csv, else JSON).

Exit 0 when the wiring is correct, 1 when there are findings, 2 for bad input.
"""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
from pathlib import Path

from procedures.errors import InputError
from procedures.forms import get_form
from procedures.wiring import CONVENTIONS, HOOKUPS, Phasors, WiringReport, analyse

ORDER = 30


def register(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "diagnose",
        help="check CT/VT polarity, rotation and cross-phasing from measured phasors",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--form", required=True, help="meter form, e.g. 2S, 5S, 9S, 12S, 16S")
    parser.add_argument(
        "--phasors", required=True, metavar="FILE", help="phasor file (.json or .csv), - for stdin"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the report")
    parser.add_argument(
        "--convention", choices=CONVENTIONS, default="lagging", help="angle sign of the input"
    )
    parser.add_argument(
        "--voltage-tolerance",
        type=float,
        default=10.0,
        metavar="PCT",
        help="allowed voltage deviation from A, %%",
    )
    parser.add_argument(
        "--angle-envelope",
        type=float,
        default=45.0,
        metavar="DEG",
        help="allowed current angle deviation, deg",
    )
    parser.add_argument(
        "--hookup",
        choices=HOOKUPS,
        default="service",
        help="service: polyphase site or 3-phase bench source; series: single-phase series-parallel bench",
    )
    parser.add_argument(
        "--min-current", type=float, default=None, metavar="A", help="a smaller current is missing"
    )
    parser.add_argument(
        "--format", choices=("json", "csv"), default=None, help="input format (default: by extension)"
    )
    parser.set_defaults(func=run)
    return parser


def read_phasors(path: str, fmt: str | None) -> Phasors:
    """Phasors from a file (or ``-`` for standard input) in JSON or CSV."""
    if path == "-":
        source, text = "<stdin>", sys.stdin.read()
    else:
        source = path
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc)
            raise InputError("--phasors", f"cannot be read: {reason}", source=source) from exc
    if fmt is None:
        fmt = "csv" if path.lower().endswith(".csv") else "json"
    return Phasors.from_csv(text, source) if fmt == "csv" else Phasors.from_json(text, source)


def run(args: argparse.Namespace) -> int:
    form = get_form(args.form)
    phasors = read_phasors(args.phasors, args.format)
    report = analyse(
        form,
        phasors,
        convention=args.convention,
        voltage_tolerance_pct=args.voltage_tolerance,
        angle_envelope_deg=args.angle_envelope,
        min_current_a=args.min_current,
        hookup=args.hookup,
    )
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print(render(report, form.title, args.convention))
    return 0 if report.ok else 1


def render(report: WiringReport, title: str, convention: str = "lagging") -> str:
    """The plain-language report a technician reads at the meter."""
    lines = [f"Wiring check, form {report.form} ({title}); angles {convention}-positive"]
    rot = {"ABC": "ABC (1-2-3)", "CBA": "CBA (3-2-1)"}.get(report.rotation, "not determined")
    lines.append(f"Phase rotation: {rot}")
    lines.append("")
    lines.append("  Element        Watts  Sign")
    for e in report.elements:
        lines.append(f"  {e.phase:<7} {e.watts:>12.1f}  {e.sign:>4}")
    lines.append("")
    if report.registration_percent is None:
        lines.append("Registration: cannot be determined (no load or no voltage)")
    else:
        lines.append(
            f"Registration: {report.registration_percent:.1f} % of what a correctly wired meter would register "
            "at this load"
        )
    if report.load_angle_deg is not None:
        lines.append(f"Load angle: {report.load_angle_deg:.0f} deg (lagging positive)")
    lines.append("")
    if report.ok:
        lines.append("Wiring OK: no findings.")
    else:
        lines.append(f"CHECK WIRING: {len(report.findings)} finding(s), in the order to check them")
        for n, f in enumerate(report.findings, start=1):
            where = f" on {', '.join(f.phases)}" if f.phases else ""
            lines.append(f"  {n}. {f.code}{where}")
            lines.append(
                textwrap.fill(f.message, width=100, initial_indent="     ", subsequent_indent="     ")
            )
    return "\n".join(lines)
