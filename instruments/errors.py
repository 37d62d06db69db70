"""Typed instrument errors: which instrument, which command, what came back.

Every driver raises one of these (never a bare pyvisa error), so the engine can switch the source off,
record what happened and tell the technician something useful. ``str(err)`` reads e.g.::

    fluke6100 'source' (GPIB0::17::INSTR): command 'OUTP:STAT ON' -> reply '-221,"Settings conflict"':
    the instrument refused the command

Bad *files* and *arguments* are :class:`procedures.errors.InputError`; an instrument that answers
nonsense is an :class:`UnparseableReply` here, because the cure is at the bench, not in a file.
"""

from __future__ import annotations


class InstrumentError(Exception):
    """Base of all instrument trouble; ``instrument`` names it (driver, role and VISA resource)."""

    kind = "instrument error"

    def __init__(self, instrument: str, command: str | None, reply: str | None, message: str) -> None:
        self.instrument = instrument
        self.command = command
        self.reply = reply
        self.message = message
        super().__init__(self._text())

    def _text(self) -> str:
        text = f"{self.instrument}"
        if self.command is not None:
            text += f": command {self.command!r}"
            text += f" -> reply {self.reply!r}" if self.reply is not None else " -> no reply"
        elif self.reply is not None:
            text += f": reply {self.reply!r}"
        return f"{text}: {self.message}"

    def __reduce__(self):  # keep pickling (multiprocessing, logging handlers) working with our __init__
        return (type(self), (self.instrument, self.command, self.reply, self.message))


class InstrumentTimeout(InstrumentError):
    """No (complete) reply, or a state not reached, within the allowed time."""

    kind = "timeout"


class CommandRefused(InstrumentError):
    """The instrument understood the command and said no (SCPI error queue, NAK)."""

    kind = "command refused"


class UnparseableReply(InstrumentError):
    """A reply that does not have the format the command set promises (garbage, truncated, wrong type)."""

    kind = "unparseable reply"


class InstrumentFault(InstrumentError):
    """The instrument reports a fault of its own: current overload, cannot regulate, over-temperature."""

    kind = "instrument fault"


class ConnectionLost(InstrumentError):
    """The link to the instrument is gone (cable, TCP connection, serial adapter)."""

    kind = "connection lost"


class UnconfirmedCommand(InstrumentError):
    """A command found in no public source ([U]) that the bench file did not opt in to send.

    Raised *before* anything is sent: a real instrument must not receive guessed commands unless the shop
    says ``allow_unconfirmed = true`` for that instrument in its bench file.
    """

    kind = "unconfirmed command"
