"""meterbench run: run a plan on a bench for every loaded meter, record it, and issue certificates."""

from __future__ import annotations

import argparse

from bench.kernel import KernelSettings
from procedures.errors import InputError

ORDER = 10


def add_run_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--operator",
        default="",
        help="the technician's name as the certificate prints it (default: $MB_OPERATOR, else the account's "
        "full name; required when neither is a person's name)",
    )
    p.add_argument("--db", metavar="URL", help="records database URL (default: SQLite in the user data dir)")
    p.add_argument(
        "--json", metavar="OUT", dest="json_out", help="write the run as JSON (README: 'The run JSON')"
    )
    p.add_argument("--certificates", metavar="DIR", help="certificate folder (default: ./certificates)")
    p.add_argument("--no-certificates", action="store_true", help="record the run but issue no certificates")
    p.add_argument(
        "--as-left",
        action="store_true",
        help="after the as-found pass, wait for adjustment and run an as-left pass",
    )
    p.add_argument(
        "--type-registers",
        action="store_true",
        help="a position without a meter port: type its register's start and end readings (kWh) from the "
        "meter's display; the record says they were typed",
    )
    p.add_argument(
        "--override-wiring",
        action="append",
        default=[],
        metavar="POS=REASON",
        help="continue a position (or 'board') despite a wiring finding; the reason is recorded",
    )
    p.add_argument(
        "--allow-overdue",
        action="store_true",
        help="test with a reference standard past its calibration due date (recorded on the run and stated on its certificates)",
    )
    p.add_argument(
        "--speed",
        type=float,
        default=None,
        help="simulation speed: 0 = virtual time (as fast as possible), N = N x real time",
    )
    p.add_argument(
        "--temperature", type=float, metavar="DEG_C", help="bench temperature (stated on certificates)"
    )
    p.add_argument("--humidity", type=float, metavar="PCT", help="relative humidity (stated on certificates)")
    p.add_argument("--warmup", type=float, default=0.0, metavar="SECONDS", help="warm-up time before testing")
    p.add_argument(
        "--sign",
        action="store_true",
        help="sign certificates with the configured signing identity (the default when one exists: its "
        "passphrase from $MB_SIGNING_PASSPHRASE, else asked for before the test)",
    )
    p.add_argument(
        "--no-sign",
        action="store_true",
        help="issue the certificates UNSIGNED although a signing identity exists (they say so)",
    )
    p.add_argument(
        "--lab",
        metavar="FILE",
        help="laboratory named on the certificates (see examples/lab/laboratory.toml; "
        "default: $MB_LABORATORY, else the built-in demonstration laboratory)",
    )


def parse_overrides(items: list[str]) -> dict[int | None, str]:
    out: dict[int | None, str] = {}
    for item in items:
        pos, sep, reason = item.partition("=")
        if not sep or not reason.strip():
            raise InputError(
                "--override-wiring",
                "needs a position and a reason",
                allowed="POS=REASON or board=REASON, e.g. 3='CT polarity checked by hand'",
                found=item,
            )
        if pos.strip().lower() == "board":
            out[None] = reason.strip()
            continue
        try:
            out[int(pos)] = reason.strip()
        except ValueError:
            raise InputError("--override-wiring", "position must be a number or 'board'", found=pos) from None
    return out


def environment_from(args) -> dict:
    env = {}
    if args.temperature is not None:
        if not -20.0 <= args.temperature <= 60.0:
            raise InputError(
                "--temperature",
                "is not a plausible bench temperature",
                allowed="-20 to 60 °C",
                found=args.temperature,
            )
        env["temperature_c"] = args.temperature
    if args.humidity is not None:
        if not 0.0 <= args.humidity <= 100.0:
            raise InputError(
                "--humidity", "must be a relative humidity", allowed="0 to 100 %", found=args.humidity
            )
        env["humidity_pct"] = args.humidity
    return env


def settings_from(args) -> KernelSettings:
    from procedures import bounds

    if args.speed is not None:
        bounds.speed(args.speed)  # NaN, inf and nonsense refused (a bare "< 0" check let NaN through)
    bounds.warmup_s(args.warmup)
    from bench.certify import configured_laboratory

    configured_laboratory(
        getattr(args, "lab", None)
    )  # a bad laboratory file stops us before the run, not after
    preflight_outputs(args)
    s = KernelSettings(
        warmup_s=args.warmup,
        passes=("as-found", "as-left") if args.as_left else ("as-found",),
        allow_overdue=args.allow_overdue,
        wiring_overrides=parse_overrides(args.override_wiring),
    )
    if args.as_left:

        def adjust() -> bool:
            try:
                answer = input("Adjust the meters now, then press Enter for the as-left pass (s = skip): ")
            except EOFError:
                return True
            return answer.strip().lower() != "s"

        s.adjust = adjust
    if getattr(args, "type_registers", False):
        s.register_entry = typed_register
    return s


def typed_register(position: int, which: str) -> float | None:
    """Ask the technician for a register reading (kWh) until it is one; an empty answer gives none."""
    while True:
        try:
            text = input(f"Position {position}: type the register's {which} reading in kWh (empty: none): ")
        except EOFError:
            return None
        text = text.strip().replace(",", ".")
        if not text:
            return None
        try:
            value = float(text)
        except ValueError:
            value = -1.0
        if value >= 0 and value == value and value != float("inf"):
            return value
        print(f"  {text!r} is not a register reading: type a number of kWh >= 0, e.g. 12345.678")


def _writable(option: str, path, *, folder: bool) -> None:
    """Refuse, before anything is energised, an output path the run could not write at its end."""
    import os
    import tempfile
    from pathlib import Path

    target = Path(path).expanduser()
    if target.exists() and folder != target.is_dir():
        raise InputError(option, f"is not a {'folder' if folder else 'file'}", found=str(path))
    if target.exists() and not folder and not os.access(target, os.W_OK):
        raise InputError(option, "cannot be written by this account", found=str(path))
    probe = target if folder else target.parent
    while not probe.exists():
        probe = probe.parent
    try:  # a real write, not os.access: root "may" write /proc, and a read-only mount says yes too
        with tempfile.TemporaryFile(dir=probe):
            pass
    except OSError as exc:
        why = exc.strerror or str(exc)
        raise InputError(
            option, f"cannot be written (a test file in {probe} failed: {why})", found=str(path)
        ) from None


def preflight_outputs(args) -> None:
    """Everything that could fail after the test is checked before it: where the certificates and the
    run JSON go, and the signing identity with its passphrase (prompted for now, not after an hour of
    testing). The loaded signer is kept on ``args`` for :func:`finish`."""
    if getattr(args, "json_out", None):
        _writable("--json", args.json_out, folder=False)
    if getattr(args, "no_certificates", False):
        return
    _writable("--certificates", getattr(args, "certificates", None) or "certificates", folder=True)
    if getattr(args, "no_sign", False):
        if getattr(args, "sign", False):
            raise InputError("--no-sign", "contradicts --sign", allowed="one of --sign, --no-sign")
        return
    if getattr(args, "sign", False) or _identity_exists():
        # never a silent downgrade: with an identity, the certificates are signed or the run does not start
        import os
        import sys

        from bench.certify import configured_signer
        from reports.signing_paths import ENV_PASSPHRASE

        if not os.environ.get(ENV_PASSPHRASE) and not sys.stdin.isatty() and _identity_exists():
            raise InputError(
                ENV_PASSPHRASE,
                "is not set and there is no terminal to ask for the signing identity's passphrase",
                allowed=f"set {ENV_PASSPHRASE}, or pass --no-sign to issue the certificates unsigned",
            )
        args.preloaded_signer = configured_signer()  # asks for the passphrase (masked) on a terminal


def finish(outcome, store, args, *, certificates: bool, positions=None) -> int:
    from bench.certify import configured_laboratory
    from bench.cli import EXIT_FAILED, EXIT_INSTRUMENT, EXIT_OK
    from bench.summary import print_summary

    lab = configured_laboratory(getattr(args, "lab", None))
    record = store.run_record(outcome.run_id)
    issued = []
    if certificates and outcome.outcome in ("passed", "failed"):
        from bench.certify import issue_for_run

        signer = getattr(args, "preloaded_signer", None)
        sign = signer is not None or getattr(args, "sign", False)
        issued = issue_for_run(
            store,
            outcome.run_id,
            args.certificates,
            sign=sign,
            signer=signer,
            positions=positions,
            lab=lab,
        )
        if issued and not sign:
            print(
                "Certificates are NOT signed (--no-sign)."
                if getattr(args, "no_sign", False)
                else "Certificates are NOT signed: run `meterbench keys init` once to sign them."
            )
        record = store.run_record(outcome.run_id)
    print_summary(record, issued)
    if certificates and outcome.outcome in ("passed", "failed"):
        wanted = set(positions) if positions else {p["position"] for p in record["positions"]}
        numbers = {c.certificate_number for c in issued}
        got = {c["position"] for c in record["certificates"] if c["number"] in numbers}
        # the certificate layer's own reasons, if it gives them; else asked of it position by position
        skipped = getattr(issued, "not_issued", None) or {}
        for p in record["positions"]:
            if p["position"] in wanted - got:
                reason = skipped.get(p["position"]) or why_no_certificate(record, p["position"], lab)
                print(f"Position {p['position']}: no certificate: {reason}")
    store.close()
    if outcome.outcome == "passed":
        return EXIT_OK
    if outcome.outcome == "failed":
        return EXIT_FAILED
    return EXIT_INSTRUMENT


def why_no_certificate(record, position: int, lab) -> str:
    """The reason the certificate layer gives for not certifying a position (its own error, not a guess)."""
    from bench.certify import build_certificate_data

    p = next(p for p in record["positions"] if p["position"] == position)
    state, why = p.get("outcome") or "not tested", p.get("message") or ""
    why = why if why.startswith(state) else f"{state}: {why}".rstrip(": ")
    try:
        build_certificate_data(record, position, lab=lab)
    except InputError as err:
        if err.field == "run" and "no accuracy result" in err.problem:
            return f"no accuracy result to certify ({why})"
        return f"{err} ({why})"
    return f"not issued ({why})"


def _identity_exists() -> bool:
    """Sign by default when the shop has a signing identity (its passphrase is asked for at preflight)."""
    import os

    from reports.signing_paths import default_signing_dir

    return bool(os.environ.get("MB_SIGNING_IDENTITY")) or any(default_signing_dir().glob("*.p12"))


def run(args) -> int:
    from bench.commands._preflight import check_bench
    from bench.people import operator_name
    from bench.progress import ProgressView
    from bench.safety import sigterm_as_interrupt
    from bench.service import RunService
    from bench.session import RunRequest
    from procedures import bounds

    # who tests, checked before anything is energised: a certificate names a person, never a login
    operator = operator_name(bounds.text("--operator", args.operator) if args.operator else None)
    req = RunRequest(
        bench_file=args.bench,
        plan=args.plan,
        manifest=args.meters,
        operator=operator,
        db_url=args.db,
        json_out=args.json_out,
        certificates_dir=args.certificates,
        settings=settings_from(args),
        speed=args.speed,
        environment=environment_from(args),
    )
    check_bench(req, conditions=True)
    with (
        sigterm_as_interrupt(),
        ProgressView(title=f"{args.plan} on {args.bench}", speed=args.speed or None) as view,
    ):
        service = RunService(db_url=args.db)
        outcome = service.run(req, [view])
    return finish(outcome, service.store, args, certificates=not args.no_certificates)


def register(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("run", help="run a test plan on a bench", description=__doc__)
    p.add_argument(
        "--bench", required=True, metavar="FILE", help="bench file (TOML), e.g. examples/2s-board.toml"
    )
    p.add_argument(
        "--plan", required=True, metavar="ID", help="plan id (see `meterbench plans`) or a plan file"
    )
    p.add_argument(
        "--meters",
        metavar="MANIFEST.csv",
        help="meters on the board (default: the bench file's simulated meters)",
    )
    add_run_options(p)
    p.set_defaults(func=run)
    return p
