"""Safety: de-energise first, on every path out, and when the engine stops moving.

The rule is simple and absolute: whatever ends a run — normal end, abort, an instrument error, a timeout,
Ctrl-C, SIGTERM, an exception in a listener, a stalled engine — the source output goes off *before*
anything else is done (recording, reporting, re-raising). :func:`de_energise` is the one function that
does it; :class:`Watchdog` calls it from its own thread when the engine stops reporting progress.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
import time
from collections.abc import Callable, Iterator

log = logging.getLogger(__name__)
UNCONFIRMED = "the source did not confirm its output is off: use the bench's emergency stop and check it"


def de_energise(bench, *, interruptible: bool = False) -> list[Exception]:
    """Source outputs off first, then every other role to its safe state. Never raises, except that with
    ``interruptible`` a Ctrl-C (or SIGTERM) that came meanwhile is raised once the bench is safe (it must
    stop a run that is starting, not be swallowed)."""
    try:
        errors = bench.safe_state()
    except BaseException as exc:  # noqa: BLE001 - the safe state must not be the thing that fails
        errors = [exc]
        with contextlib.suppress(BaseException):
            bench.source.output_off()
    # A mute or broken source can accept "off" and stay on: ask, and say so loudly if it will not confirm.
    # A bench (or a source driver) that can confirm its safe state itself says what is wrong in words
    # (``confirm_safe() -> list[str]``, empty = confirmed); otherwise the source's output state is read back.
    confirm = getattr(bench, "confirm_safe", None) or getattr(bench.source, "confirm_safe", None)
    if callable(confirm):
        try:
            problems = [str(p) for p in confirm()]
        except BaseException as exc:  # noqa: BLE001
            problems = [f"could not confirm the safe state: {exc}"]
        errors += [RuntimeError(p) for p in problems]
        unconfirmed = bool(problems)
    else:
        try:
            unconfirmed = bench.source.output_is_on() is not False
        except BaseException as exc:  # noqa: BLE001
            unconfirmed = True
            errors.append(exc)
    if unconfirmed:
        errors.append(RuntimeError(UNCONFIRMED))
    for err in errors:
        log.error("safe state: %s", err)
    stop = next((e for e in errors if isinstance(e, KeyboardInterrupt)), None)
    if interruptible and stop is not None:
        raise stop
    return errors


class Watchdog:
    """De-energises the bench when the engine has not called :meth:`kick` for ``timeout_s`` wall seconds.

    Wall time, not bench time: a stall is a stuck process (a hung driver call, a deadlock), which virtual
    time would never see. A gate longer than the timeout is not a stall: the engine kicks while polling.
    """

    def __init__(
        self,
        bench,
        timeout_s: float = 30.0,
        on_trip: Callable[[], None] | None = None,
        *,
        heartbeat: Callable[[], None] | None = None,
        heartbeat_s: float = 30.0,
    ) -> None:
        self.bench = bench
        self.timeout_s = timeout_s
        self.on_trip = on_trip
        # "This run is alive", every ``heartbeat_s`` while the run makes progress or waits for a person:
        # another host then does not take a long gate or a long question for a dead process.
        self.heartbeat = heartbeat
        self.heartbeat_s = heartbeat_s
        self._beat = 0.0
        self.tripped = threading.Event()
        self._last = time.monotonic()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._held = False

    def kick(self) -> None:
        self._last = time.monotonic()

    @contextlib.contextmanager
    def waiting_for_person(self) -> Iterator[None]:
        """The engine waits for a technician's answer with the source off: however long that takes, it is
        not a stall. Only for waits after the board is de-energised."""
        self._held = True
        try:
            yield
        finally:
            self._held = False
            self.kick()

    def start(self) -> Watchdog:
        self.kick()
        self._stop.clear()
        self._thread = threading.Thread(target=self._watch, name="meterbench-watchdog", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=2.0)
        self._thread = None

    def _watch(self) -> None:
        interval = min(1.0, self.timeout_s / 4, self.heartbeat_s if self.heartbeat else 1.0)
        while not self._stop.wait(interval):
            now = time.monotonic()
            alive = self._held or now - self._last <= self.timeout_s
            if alive and self.heartbeat is not None and now - self._beat >= self.heartbeat_s:
                self._beat = now
                try:
                    self.heartbeat()
                except Exception as exc:  # noqa: BLE001 - liveness is best effort; the run's records are not
                    log.warning("heartbeat: %s", exc)
            if not alive:
                log.error("watchdog: engine stalled for %.1f s; de-energising", self.timeout_s)
                de_energise(self.bench)
                self.tripped.set()
                if self.on_trip:
                    with contextlib.suppress(Exception):
                        self.on_trip()
                return

    def __enter__(self) -> Watchdog:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


#: Wall seconds a stop (Ctrl-C, SIGTERM) may take to de-energise before the process exits anyway: an
#: instrument that never replies must not keep it alive. ``$MB_STOP_GRACE_S`` changes it.
STOP_GRACE_S = 20.0
EXIT_INTERRUPTED = 130


def _grace_s() -> float:
    import math
    import os

    try:
        value = float(os.environ.get("MB_STOP_GRACE_S", STOP_GRACE_S))
    except ValueError:
        return STOP_GRACE_S
    return value if math.isfinite(value) and value > 0 else STOP_GRACE_S


def _exit_when_stuck(grace_s: float) -> None:
    import os
    import sys

    msg = (
        f"meterbench: stopping took more than {grace_s:g} s (an instrument does not reply); exiting without "
        f"confirming the safe state: {UNCONFIRMED}"
    )
    log.error(msg)
    with contextlib.suppress(Exception):
        print(msg, file=sys.stderr, flush=True)
    os._exit(EXIT_INTERRUPTED)


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM and Ctrl-C become KeyboardInterrupt in the main thread, so every ``finally`` de-energises.

    The first one also starts a clock: if the process is still alive :data:`STOP_GRACE_S` later (a stalled
    instrument, a hung read), it says so and exits. A further signal interrupts the step in progress again
    (de-energising goes on with the next step)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    stopping: list[threading.Timer] = []

    def handler(signum, frame):  # noqa: ARG001
        if not stopping:
            timer = threading.Timer(_grace_s(), _exit_when_stuck, args=(_grace_s(),))
            timer.daemon = True
            timer.start()
            stopping.append(timer)
        raise KeyboardInterrupt(f"signal {signum}")

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
        for timer in stopping:  # the stop got this far: the bench is as safe as it will be made
            timer.cancel()
