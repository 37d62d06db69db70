"""The ``meterbench`` command line.

Each subcommand lives in its own module under ``bench/commands/`` and exposes
``register(subparsers) -> argparse.ArgumentParser`` that sets ``func`` (taking the parsed namespace and
returning an exit code). Commands are discovered, so adding one never means editing this file.

Exit codes: 0 success; 1 the job ran and something failed (a meter, a verification); 2 bad input
(argument, file, plan) — the message names the field and what is allowed; 3 an instrument or safety
fault; 4 `verify`: the certificate is authentic but SUPERSEDED by a retest; 130 interrupted by Ctrl-C
(outputs already switched off by the engine).
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

import bench.commands
from instruments.errors import InstrumentError
from procedures.errors import InputError

EXIT_OK, EXIT_FAILED, EXIT_INPUT, EXIT_INSTRUMENT, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
EXIT_SUPERSEDED = 4  # verify: authentic as issued, but replaced by a later certificate


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse's own exit code 2 matches ours; keep its text plain
        from bench.records.store import mask_url

        message = mask_url(message)  # argparse echoes what was typed: a database URL's password too
        typo = _bad_value(message)
        if typo:  # a mistyped value: one line naming the option and what it takes, not the usage block
            self.exit(EXIT_INPUT, f"{self.prog}: error: {typo}\n")
        self.print_usage(sys.stderr)
        self.exit(EXIT_INPUT, f"{self.prog}: error: {message}\n")


_TYPE_WORDS = {"float": "a number, e.g. 22.5", "int": "a whole number, e.g. 3"}


def _bad_value(message: str) -> str | None:
    """argparse's "argument --temperature: invalid float value: 'abc'" as our one-line form, else None."""
    import re

    m = re.fullmatch(r"argument (\S+?): invalid (\w+) value: (.*)", message)
    if m:
        option, kind, found = m.groups()
        allowed = _TYPE_WORDS.get(kind, f"a {kind} value")
        return f"{option}: not {allowed.split(',')[0]} (found {found}); allowed: {allowed}"
    m = re.fullmatch(r"argument (\S+?): invalid choice: (.*?) \(choose from (.*)\)", message)
    if m:
        option, found, choices = m.groups()
        return f"{option}: not one of its choices (found {found}); allowed: {choices.replace(chr(39), '')}"
    return None


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="meterbench",
        description="Meter test bench: accuracy tests, wiring checks and certificates for electricity meters.",
    )
    from bench import __version__

    parser.add_argument("--version", action="version", version=f"meterbench {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    modules = []
    for info in pkgutil.iter_modules(bench.commands.__path__):
        if info.name.startswith("_"):
            continue
        modules.append(importlib.import_module(f"bench.commands.{info.name}"))
    for mod in sorted(modules, key=lambda m: (getattr(m, "ORDER", 50), m.__name__)):
        mod.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_INPUT
    try:
        return int(args.func(args) or 0)
    except InputError as err:
        print(f"meterbench {args.command}: error: {err}", file=sys.stderr)
        return EXIT_INPUT
    except InstrumentError as err:
        # a real bench's failure (no reply, refused, lost link) is one line and exit 3, never a traceback;
        # every command that energises has switched the source off before this point
        print(f"meterbench {args.command}: instrument error: {err}", file=sys.stderr)
        return EXIT_INSTRUMENT
    except OSError as err:
        # a disk that filled or a folder that vanished mid-command: one line naming the file; the records
        # committed so far stay (each reading is committed when taken) and the source is already off
        where = f"{err.filename}: " if getattr(err, "filename", None) else ""
        print(f"meterbench {args.command}: error: {where}{err.strerror or err}", file=sys.stderr)
        return EXIT_INPUT
    except KeyboardInterrupt:
        print(
            "meterbench: interrupted; source outputs were switched off. `meterbench runs` lists the run as "
            "interrupted with its `meterbench resume N` command",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
