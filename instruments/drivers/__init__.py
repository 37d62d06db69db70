"""Instrument drivers, and the small SCPI/ASCII link they share.

A driver module (see ``fluke6100.py``) is thin and declarative: a table of commands with their
provenance, a class with the role methods of :mod:`instruments.interfaces`, and a
:class:`instruments.registry.DriverSpec` named ``DRIVER`` that says which roles it fills, how to open it
and where its simulation lives (``instruments/sim/<name>.yaml`` + ``instruments/sim/<name>.py``).

:class:`Link` turns every pyvisa failure into a typed :mod:`instruments.errors` error naming the
instrument, the command and what came back, so no driver has to.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from instruments.errors import (
    ConnectionLost,
    InstrumentError,
    InstrumentTimeout,
    UnconfirmedCommand,
    UnparseableReply,
)
from instruments.interfaces import Clock
from procedures.errors import InputError


@dataclass(frozen=True)
class Transport:
    """How a VISA session to one instrument is set up: the instrument's documented defaults (a driver's
    ``DriverSpec.transport``), overridden key by key by the bench file's ``transport`` table.

    Serial settings apply only to serial (ASRL) resources; a TCP socket or GPIB ignores them.
    """

    read_termination: str = "\n"
    write_termination: str = "\n"
    timeout_ms: int = 2000
    baud_rate: int | None = None
    data_bits: int | None = None
    stop_bits: float | None = None
    parity: str | None = None

    def merged(self, overrides: Mapping[str, Any]) -> Transport:
        from dataclasses import replace

        return replace(self, **dict(overrides))

    def apply(self, resource: Any) -> None:
        """Set the session up (a test double without an attribute is left alone)."""
        from pyvisa import constants

        values: list[tuple[str, Any]] = [
            ("timeout", self.timeout_ms),
            ("read_termination", self.read_termination),
            ("write_termination", self.write_termination),
            ("encoding", "latin-1"),  # decode never fails; garbage is caught by Link with the bytes shown
        ]
        if _is_serial(resource):
            if self.baud_rate is not None:
                values.append(("baud_rate", self.baud_rate))
            if self.data_bits is not None:
                values.append(("data_bits", self.data_bits))
            if self.stop_bits is not None:
                stop = {1.0: constants.StopBits.one, 1.5: constants.StopBits.one_and_a_half}
                values.append(("stop_bits", stop.get(float(self.stop_bits), constants.StopBits.two)))
            if self.parity is not None:
                values.append(("parity", getattr(constants.Parity, self.parity)))
        for attr, value in values:
            with contextlib.suppress(Exception):
                setattr(resource, attr, value)


def _is_serial(resource: Any) -> bool:
    from pyvisa import constants

    return getattr(resource, "interface_type", None) == constants.InterfaceType.asrl


@dataclass(frozen=True)
class DriverContext:
    """What a driver is opened with."""

    resource: Any  # an open pyvisa resource (or a test double with write/read/close/timeout)
    name: str  # how errors name it: "fluke6100 GPIB0::17::INSTR (source, reference)"
    clock: Clock
    options: Mapping[str, Any]
    where: str = "instruments"  # bench-file table of the options, for InputError
    source_file: str = ""  # the bench file
    transport: Transport | None = None  # None: the driver's own defaults (see Link.from_context)
    allow_unconfirmed: bool = False  # the bench file opted in to [U] commands for this instrument


class Link:
    """A message-based connection: write, query, typed errors, printable-ASCII replies only.

    Commands found in no public source go through ``write(..., unconfirmed=True)`` /
    ``query(..., unconfirmed=True)``: refused with :class:`UnconfirmedCommand` before anything is sent
    unless the bench file opted in (``allow_unconfirmed``); those sent are kept in :attr:`unconfirmed_sent`
    so a run can record them and its certificate say so.
    """

    def __init__(
        self,
        resource: Any,
        name: str,
        *,
        timeout_ms: int = 2000,
        termination: str = "\n",
        transport: Transport | None = None,
        allow_unconfirmed: bool = False,
    ) -> None:
        self.resource, self.name = resource, name
        self.transport = transport or Transport(termination, termination, timeout_ms)
        self.transport.apply(resource)
        self.allow_unconfirmed = allow_unconfirmed
        self.unconfirmed_sent: set[str] = set()

    @classmethod
    def from_context(cls, ctx: DriverContext, defaults: Transport, **overrides: Any) -> Link:
        """The link a driver opens: its instrument's documented ``defaults``, then the bench file's
        transport table (``ctx.transport``, already merged by :func:`instruments.bench.open_bench`)."""
        transport = ctx.transport or defaults
        if overrides:
            transport = transport.merged(overrides)
        return cls(ctx.resource, ctx.name, transport=transport, allow_unconfirmed=ctx.allow_unconfirmed)

    def _guard(self, command: str, unconfirmed: bool) -> None:
        if not unconfirmed:
            return
        if not self.allow_unconfirmed:
            raise UnconfirmedCommand(
                self.name,
                command,
                None,
                "this command is found in no public source for the instrument [U] and was not sent; "
                "set allow_unconfirmed = true for this instrument in the bench file to send it",
            )
        self.unconfirmed_sent.add(command.split(" ", 1)[0])

    def _translate(self, exc: Exception, command: str) -> InstrumentError:
        import pyvisa

        if isinstance(exc, pyvisa.errors.VisaIOError):
            if exc.error_code == pyvisa.constants.StatusCode.error_timeout:
                return InstrumentTimeout(
                    self.name, command, None, f"no reply within {self.resource.timeout} ms"
                )
            return ConnectionLost(
                self.name, command, None, f"VISA error {exc.abbreviation}: {exc.description}"
            )
        if isinstance(exc, InstrumentError):
            return exc
        if isinstance(exc, OSError | EOFError | ConnectionError):
            return ConnectionLost(self.name, command, None, f"link failed: {exc}")
        return ConnectionLost(self.name, command, None, f"unexpected {type(exc).__name__}: {exc}")

    def write(self, command: str, *, unconfirmed: bool = False) -> None:
        self._guard(command, unconfirmed)
        try:
            self.resource.write(command)
        except Exception as exc:  # noqa: BLE001 - translated, never swallowed
            raise self._translate(exc, command) from exc

    def query(self, command: str, *, unconfirmed: bool = False) -> str:
        self.write(command, unconfirmed=unconfirmed)
        try:
            reply = self.resource.read()
        except Exception as exc:  # noqa: BLE001 - translated, never swallowed
            raise self._translate(exc, command) from exc
        reply = reply.strip("\r\n ")
        if not reply or not (reply.isascii() and reply.isprintable()):  # printable ASCII only
            raise UnparseableReply(self.name, command, reply, "reply is empty or not printable ASCII")
        return reply

    def close(self) -> None:
        self.resource.close()


def parse_numbers(link_name: str, command: str, reply: str, count: int) -> list[float]:
    """``count`` comma-separated numbers, or UnparseableReply."""
    parts = reply.split(",")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        values = []
    if len(values) != count:
        raise UnparseableReply(link_name, command, reply, f"expected {count} comma-separated number(s)")
    return values


def read_options(
    ctx: DriverContext, schema: Mapping[str, tuple[type, Any, Callable[[Any], bool], str]]
) -> dict:
    """Validate a driver's ``options`` table: ``schema[key] = (type, default, check, what is allowed)``."""
    out = {}
    for key in ctx.options:
        if key not in schema:
            raise InputError(
                f"{ctx.where}.options.{key}",
                "unknown option",
                allowed=sorted(schema),
                source=ctx.source_file or None,
            )
    for key, (kind, default, check, allowed) in schema.items():
        value = ctx.options.get(key, default)
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or isinstance(value, bool) != (kind is bool) or not check(value):
            raise InputError(
                f"{ctx.where}.options.{key}",
                "bad option value",
                found=value,
                allowed=allowed,
                source=ctx.source_file or None,
            )
        out[key] = value
    return out


def check_phases(phases: Mapping[str, Any]) -> None:
    """Only phases A, B and C can be set on a source."""
    from instruments.interfaces import PHASES

    unknown = set(phases) - set(PHASES)
    if unknown:
        raise InputError("phases", "unknown phase", allowed=PHASES, found=sorted(unknown))


class AllInOneRoles:
    """Role views of an instrument that is source, reference and one position's error calculator at once.

    Subclasses set ``ONE_CALCULATOR`` (how the message names their single pulse input).
    """

    ONE_CALCULATOR = "this instrument has one error calculator"
    position: int
    kr_wh: float

    def as_source(self):
        return self

    def as_reference(self, kr_wh: float, calibration):
        self.kr_wh, self.calibration = kr_wh, calibration
        return self

    def calculators(self, positions: tuple[int, ...]) -> dict:
        if len(positions) != 1:
            raise InputError(
                "positions", f"{self.ONE_CALCULATOR}: give exactly one position", found=list(positions)
            )
        self.position = positions[0]
        return {self.position: self}
