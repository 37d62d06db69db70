"""pyvisa-sim devices coupled to the bench physics, without forking pyvisa-sim.

Every simulated instrument is a pair of files beside each other in ``instruments/sim/``:

- ``<driver>.yaml``: its command set as a plain pyvisa-sim definition (dialogues, properties with
  getters and setters, channels for per-phase or per-position commands, the SCPI error queue). It opens
  on its own with ``pyvisa.ResourceManager("<file>@sim")`` and answers with static values there.
- ``<driver>.py``: a :class:`DeviceHooks` subclass: for each YAML property, what reading it returns from
  the physics model and what setting it does to the model; plus the dialogues that are actions.

:class:`CoupledSimLibrary` (a :class:`pyvisa_sim.highlevel.SimVisaLibrary`) parses each YAML with
pyvisa-sim's own parser, then swaps the devices' properties for live ones and the device class for
:class:`CoupledDevice`, which adds injected faults (no reply, slow reply, garbage, refused) and a log
of what was received. Matching stays pyvisa-sim's, byte for byte.

This touches pyvisa-sim private attributes (``Device._properties``, ``_dialogues``, ``_channels``,
``_error_queues``, ``_output_buffers``, ``Channels._selected``); pyproject pins pyvisa-sim==0.7.1.

Hook for real transports (next step, another engineer): :meth:`CoupledSimLibrary.device` returns the
:class:`CoupledDevice` for a resource; a small TCP server can feed received bytes to ``device.write``
and send back what ``device.read`` yields, so pyvisa-py's ``TCPIP::127.0.0.1::<port>::SOCKET`` /
``ASRLsocket://`` transports reach the same physics and dropped connections can be tested for real.
"""

from __future__ import annotations

import itertools
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyvisa import rname
from pyvisa_sim import parser as sim_parser
from pyvisa_sim.channels import ChannelProperty
from pyvisa_sim.component import NoResponse, Property
from pyvisa_sim.devices import Device, Devices
from pyvisa_sim.highlevel import SimVisaLibrary

SIM_DIR = Path(__file__).resolve().parent
GARBAGE = b"\x15#?\xfe@!"


@dataclass
class Fault:
    """A fault on one simulated device, for commands starting with ``command`` ("" = all).

    kinds: ``no_reply`` (swallows everything), ``slow_reply`` (replies after ``delay_s`` wall seconds),
    ``garbage`` (replies with junk), ``refused`` (settings are refused via the error queue / NAK).
    ``overload`` is physics, not protocol: see :class:`instruments.sim.physics.BenchPhysics`.
    """

    kind: str
    command: str = ""
    delay_s: float = 0.0

    def applies(self, query: bytes) -> bool:
        return query.decode("utf-8", "replace").upper().startswith(self.command.upper())


class DeviceHooks:
    """The physics behind one simulated instrument's YAML properties (subclass per instrument).

    ``get`` returns the value the YAML getter formats; ``set`` receives the value the YAML setter parsed
    (already checked against the YAML ``specs``); ``command`` is told of every matched dialogue.
    ``channel`` is the pyvisa-sim channel id (phase or position) or None for device-level properties.
    """

    refused_error = '-221,"Settings conflict"'  # queued for a refused command (SCPI error queue)
    refused_reply: bytes | None = (
        None  # what a refused command answers: None for SCPI, e.g. b"UPNAK" for ZERA
    )
    device: CoupledDevice

    def get(self, prop: str, channel: Any) -> Any:
        raise KeyError(prop)

    def set(self, prop: str, channel: Any, value: Any) -> None:
        raise KeyError(prop)

    def command(self, query: str) -> None:
        """A YAML dialogue matched (an action like ``*RST`` or ``ENER:ABOR``)."""


class LiveProperty(Property):
    """A device property whose value lives in the physics model."""

    def __init__(self, original: Property, hooks: DeviceHooks) -> None:
        self.name, self.specs, self._hooks = original.name, original.specs, hooks

    def get_value(self):
        return self._hooks.get(self.name, None)

    def set_value(self, string_value):
        self._hooks.set(self.name, None, self.validate_value(string_value))


class LiveChannelProperty(ChannelProperty):
    """A channel property (per phase / per position) whose value lives in the physics model."""

    def __init__(self, original: ChannelProperty, hooks: DeviceHooks) -> None:
        self.name, self.specs, self._hooks = original.name, original.specs, hooks
        self._channel = original._channel

    def get_value(self):
        return self._hooks.get(self.name, _channel_id(self._channel._selected))

    def set_value(self, string_value):
        self._hooks.set(self.name, _channel_id(self._channel._selected), self.validate_value(string_value))


def _channel_id(selected: Any) -> Any:
    try:
        return int(selected)
    except (TypeError, ValueError):
        return selected


class CoupledDevice(Device):
    """A pyvisa-sim device with live properties, injected faults and a log of received messages."""

    hooks: DeviceHooks
    faults: list[Fault]
    log: list[str]
    _release_at: float
    _lock: threading.RLock

    def couple(self, hooks: DeviceHooks) -> None:
        self.hooks, self.faults, self.log, self._release_at = hooks, [], [], 0.0
        self._lock = threading.RLock()
        hooks.device = self
        for name, prop in list(self._properties.items()):
            self._properties[name] = LiveProperty(prop, hooks)
        for channels in self._channels.values():
            for name, prop in list(channels._properties.items()):
                channels._properties[name] = LiveChannelProperty(prop, hooks)
            # pyvisa-sim rebuilds a channel's command table on every lookup (its ChDict.__missing__ does
            # not store what it builds): on a 24-position counter that was most of the engine's CPU.
            # The tables are fixed once the YAML is loaded, so build each one once.
            for table in (channels._getters, channels._dialogues):
                for ch_id in channels._ids:
                    table[ch_id] = table[ch_id]

    def push_error(self, text: str) -> None:
        """Queue an error for every error-queue query (``SYST:ERR?``) the YAML declares."""
        for queue in self._error_queues.values():
            queue._queue.append(text.encode("utf-8"))

    def clear_errors(self) -> None:
        for queue in self._error_queues.values():
            queue.clear()

    def _fault(self, query: bytes) -> Fault | None:
        for fault in self.faults:
            if fault.applies(query):
                return fault
        return None

    def _match(self, query: bytes):
        with self._lock:
            self.log.append(query.decode("utf-8", "replace"))
            fault = self._fault(query)
            if fault and fault.kind == "no_reply":
                return NoResponse
            is_query = query.rstrip().endswith(b"?")
            if fault and fault.kind == "refused" and not is_query:
                self.push_error(self.hooks.refused_error)
                return NoResponse if self.hooks.refused_reply is None else self.hooks.refused_reply
            response = super()._match(query)
            if query in self._dialogues:
                self.hooks.command(query.decode("utf-8"))
            if fault and fault.kind == "garbage" and response not in (None, NoResponse):
                return GARBAGE
            if fault and fault.kind == "slow_reply":
                self._release_at = time.monotonic() + fault.delay_s
            return response

    def read(self):
        if time.monotonic() < self._release_at:
            return b"", False
        return super().read()

    def reset_buffers(self) -> None:
        self._output_buffers.clear()
        self._input_buffer = bytearray()


_ids = itertools.count(1)


class CoupledSimLibrary(SimVisaLibrary):
    """A pyvisa-sim library holding coupled devices; one instance per simulated bench."""

    @classmethod
    def create(cls) -> CoupledSimLibrary:
        # pyvisa caches one library per (class, path): a unique path gives each bench its own devices
        return cls(f"meterbench-sim-{next(_ids)}")

    def _init(self) -> None:
        self.sessions = {}
        self.devices = Devices()

    def attach(
        self, resource_name: str, yaml_path: str | Path, hooks: DeviceHooks, device_name: str | None = None
    ) -> CoupledDevice:
        """Load one instrument's YAML definition at ``resource_name`` and couple it to ``hooks``."""
        loader = sim_parser.Loader(str(yaml_path), False)
        names = list(loader.data.get("devices", {}))
        name = device_name or names[0]
        device_dict = loader.get_device_dict(name, None, False, sim_parser.SPEC_VERSION_TUPLE[0])
        device = sim_parser.get_device(name, device_dict, loader, {})
        device.__class__ = CoupledDevice  # same layout, more behaviour: no pyvisa-sim fork needed
        assert isinstance(device, CoupledDevice)
        device.couple(hooks)
        self.devices.add_device(rname.to_canonical_name(resource_name), device)
        return device

    def attach_instrument(self, resource_name: str, instrument: Any) -> Any:
        """Serve a :class:`~instruments.sim.protocol.SimInstrument` at ``resource_name`` (framing, serial
        settings and refusals are the instrument's own)."""
        from instruments.sim.protocol import ProtocolDevice

        device = ProtocolDevice(instrument, name=type(instrument).__name__)
        self.devices.add_device(rname.to_canonical_name(resource_name), device)
        return device

    def open(self, session, resource_name, *args, **kwargs):  # type: ignore[override]
        handle, status = super().open(session, resource_name, *args, **kwargs)
        sess = self.sessions.get(handle)
        device = getattr(sess, "device", None)
        if sess is not None and hasattr(device, "new_connection"):
            device.session = sess  # a fresh VISA session is a fresh connection to the instrument
            device.new_connection()
        return handle, status

    def device(self, resource_name: str) -> CoupledDevice:
        return self.devices[rname.to_canonical_name(resource_name)]  # type: ignore[return-value]
