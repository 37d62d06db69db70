"""What every optical-probe driver shares: one probe (one serial port) reads one socket's meter, drives
nothing, and so has nothing to make safe."""

from __future__ import annotations

from procedures.errors import InputError


class OpticalProbe:
    """Base of a meter-port driver: subclasses set ``link`` and implement ``port(position)``."""

    link = None

    def port(self, position: int):  # pragma: no cover - abstract
        raise NotImplementedError

    def identify(self) -> str:
        return self.port(0).identify()

    def meter_ports(self, positions: tuple[int, ...]) -> dict:
        if len(positions) != 1:
            raise InputError("positions", "an optical probe reads one socket: give exactly one position",
                             found=list(positions))  # fmt: skip
        return {positions[0]: self.port(positions[0])}

    def safe_state(self) -> None:
        """A meter port drives nothing: its safe state is no open session (each read ends its own)."""

    def confirm_safe(self) -> list[str]:
        return []

    def close(self) -> None:
        self.link.close()
