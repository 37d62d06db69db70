"""Simulated instruments over a real TCP socket, so the real pyvisa-py I/O path can be tested.

:class:`EmulatorServer` serves one :class:`~instruments.sim.library.CoupledDevice` (the same pyvisa-sim
device, coupled to the same bench physics) on ``127.0.0.1`` at an ephemeral port. pyvisa-py reaches it as

- ``TCPIP::127.0.0.1::<port>::SOCKET`` (a LAN instrument, e.g. a COM5003 on port 6320), or
- ``ASRLsocket://127.0.0.1:<port>::INSTR`` (a serial instrument through pyserial's ``socket://`` URL,
  e.g. an MT7xx behind a serial-to-LAN bridge).

Faults that only a real link has are injected here: :meth:`EmulatorServer.drop` closes every open
connection (a pulled cable or a crashed bridge), ``drop_on`` closes the connection when a command starting
with that text arrives (a drop in the middle of a gate), ``refuse`` stops accepting new connections.
Protocol faults (no reply, garbage, NAK) stay on the device (``Simulation.inject``) and travel the socket.

The server is bounded: daemon threads, a lifetime after which it stops itself (default 120 s), and
:meth:`stop` (also on ``with`` exit) closes everything. :func:`attach_real_transport` re-opens one role of
an already opened simulated bench through pyvisa-py and this server, so engine-level tests run on it.
"""

from __future__ import annotations

import contextlib
import select
import socket
import threading
import time
from typing import Any

POLL_S = 0.01  # how often a connection looks for device output (slow replies are released by time)


class EmulatorServer:
    """A small threaded TCP server feeding received bytes to a simulated device and sending its replies."""

    def __init__(self, device: Any, *, lifetime_s: float = 120.0, port: int = 0) -> None:
        self.device = device
        self.lifetime_s = lifetime_s
        self.drop_on: str | None = None  # close the connection when a command starting with this arrives
        self.refuse = False  # refuse (close at once) new connections
        self.connections_served = 0
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", port))  # loopback only: never reachable from another host
        self._listener.listen(5)
        self._listener.settimeout(POLL_S * 5)
        self.port: int = self._listener.getsockname()[1]
        self._stop = threading.Event()
        self._clients: list[socket.socket] = []
        self._lock = threading.Lock()
        self._deadline = time.monotonic() + lifetime_s
        self._thread = threading.Thread(target=self._accept_loop, name=f"emulator:{self.port}", daemon=True)
        self._thread.start()

    # ---- addresses --------------------------------------------------------------------------
    @property
    def tcp_resource(self) -> str:
        return f"TCPIP::127.0.0.1::{self.port}::SOCKET"

    @property
    def serial_resource(self) -> str:
        return f"ASRLsocket://127.0.0.1:{self.port}::INSTR"

    # ---- faults ----------------------------------------------------------------------------
    def drop(self) -> None:
        """Close every open connection now (the instrument side of a pulled cable)."""
        with self._lock:
            clients, self._clients = self._clients, []
        for c in clients:
            with contextlib.suppress(OSError):
                c.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                c.close()

    # ---- life -------------------------------------------------------------------------------
    def stop(self) -> None:
        self._stop.set()
        self.drop()
        with contextlib.suppress(OSError):
            self._listener.close()
        self._thread.join(timeout=1.0)

    def __enter__(self) -> EmulatorServer:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def _alive(self) -> bool:
        return not self._stop.is_set() and time.monotonic() < self._deadline

    def _accept_loop(self) -> None:
        try:
            while self._alive():
                try:
                    conn, _ = self._listener.accept()
                except TimeoutError:
                    continue
                except OSError:
                    break
                if self.refuse:
                    conn.close()
                    continue
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                with self._lock:
                    self._clients.append(conn)
                self.connections_served += 1
                threading.Thread(target=self._serve, args=(conn,), daemon=True).start()
        finally:
            self._stop.set()
            self.drop()
            with contextlib.suppress(OSError):
                self._listener.close()

    def _serve(self, conn: socket.socket) -> None:
        if hasattr(self.device, "serve_bytes"):
            return self._serve_protocol(conn)
        line = bytearray()
        try:
            while self._alive():
                try:
                    ready, _, _ = select.select([conn], [], [], POLL_S)
                except (OSError, ValueError):
                    return
                if ready:
                    data = conn.recv(4096)
                    if not data:
                        return
                    for byte in data:
                        line.append(byte)
                        if byte == 0x0A:  # one command per line: check the drop trigger before the device
                            text = line.decode("latin-1").strip()
                            line.clear()
                            if self.drop_on is not None and text.upper().startswith(self.drop_on.upper()):
                                self.drop()
                                return
                            with self.device._lock:
                                self.device.write(text.encode("latin-1") + b"\n")
                self._send_output(conn)
        except OSError:
            return
        finally:
            self._forget(conn)

    def _serve_protocol(self, conn: socket.socket) -> None:
        """A :class:`~instruments.sim.protocol.ProtocolDevice`: the instrument frames the byte stream
        (CR, LF, a newline-terminated XML document) and each client is its own connection."""
        device = self.device
        client = device.instrument.connect()
        rx = bytearray()
        try:
            while self._alive():
                try:
                    ready, _, _ = select.select([conn], [], [], POLL_S)
                except (OSError, ValueError):
                    return
                if not ready:
                    continue
                data = conn.recv(4096)
                if not data:
                    return
                if self.drop_on is not None and self.drop_on.upper().encode() in (bytes(rx) + data).upper():
                    self.drop()
                    return
                out = device.serve_bytes(data, client, rx)
                if out:
                    delay = device._release_at - time.monotonic()
                    if delay > 0:
                        time.sleep(min(delay, 30.0))
                    conn.sendall(out)
        except OSError:
            return
        finally:
            self._forget(conn)

    def _forget(self, conn: socket.socket) -> None:
        with self._lock:
            if conn in self._clients:
                self._clients.remove(conn)
        with contextlib.suppress(OSError):
            conn.close()

    def _send_output(self, conn: socket.socket) -> None:
        out = bytearray()
        with self.device._lock:
            while True:
                b, _end = self.device.read()
                if not b:
                    break
                out += b
        if out:
            conn.sendall(bytes(out))


def attach_real_transport(
    bench: Any, role: str, *, kind: str = "tcp", timeout_ms: int = 500, lifetime_s: float = 120.0
) -> EmulatorServer:
    """Serve ``role``'s simulated device over TCP and re-bind every role that instrument fills on
    ``bench`` to a driver opened through pyvisa-py on that socket (``kind`` = "tcp" or "serial").

    The old simulated link stays open (other roles on other instruments are unaffected). The server and
    the new VISA session are closed with the bench. Returns the server (for :meth:`EmulatorServer.drop`).
    """
    import pyvisa

    from instruments.drivers import DriverContext
    from instruments.registry import get_driver

    sim = bench.simulator
    if sim is None:
        raise ValueError("attach_real_transport needs a simulated bench")
    device = sim.devices[role]
    config = bench.config
    roles = [r for r, d in sim.devices.items() if d is device]
    first = config.instruments[role][0]
    spec = get_driver(first.driver)
    server = EmulatorServer(device, lifetime_s=lifetime_s)
    rm = pyvisa.ResourceManager("@py")
    resource_name = server.tcp_resource if kind == "tcp" else server.serial_resource
    resource = rm.open_resource(resource_name)
    options = dict(first.options)
    options["timeout_ms"] = timeout_ms
    ctx = DriverContext(resource, f"{spec.name} {resource_name} ({', '.join(roles)})", bench.clock, options)
    inst = spec.open(ctx)
    if "source" in roles:
        bench.source = inst.as_source()
    if "reference" in roles:
        ref = config.reference
        bench.reference = inst.as_reference(ref.kr_wh, ref.calibration)
    if "calculators" in roles:
        positions = tuple(
            p
            for c in config.instruments["calculators"]
            if sim.library.device(c.resource) is device
            for p in c.positions
        )
        inst.kr_wh = config.reference.kr_wh
        bench.calculators.update(inst.calculators(positions))
    bench.closers.extend([server.stop, rm.close, resource.close])
    return server
