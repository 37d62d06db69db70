"""ZERA MAD: the XML error-calculator protocol of a ZERA test position (STM4000 / STM6000 "MAD server").

Everything below is read from ZERA's own client, SourceMock (SM) @f03c43a, no licence: facts and element
names only, no code. Paths are under ``ErrorCalculatorApi/Server/Actions/Device/MAD/`` unless named.

Transport [C]
    TCP; one request = one XML document followed by ``\\n`` (``MadTcpConnection.cs``: it sends
    ``request.OuterXml + "\\n"``, i.e. the document on one line). The client frames replies by parsing the
    collected bytes as XML and drops whitespace-only "keep-alive" data; this driver reads reply lines
    until they form one document and skips empty lines the same way. Socket timeouts 5000 ms; ZERA's
    client waits up to 30 s for a reply. Port 14207 on an STM6000 (IP .100 + position); an STM4000 serves
    ten positions, each on its own port 14007 + 100 x ((position - 1) mod 10)
    (``MeterTestSystemApi/Server/Models/ConfigurationProviders/IPProtocolProvider.cs``).

One endpoint = one test position [C]
    SM opens one connection per position (``IPProtocolProvider.GetMadEndpoint(position)``, positions 1..80,
    ``TestPositionConfiguration.MaxPosition``), and ``runErrorMeasureReq`` names no place: a job belongs to
    the server it is sent to. So one ``zera_mad`` instrument serves ONE position; a bench lists one
    ``[[instruments.calculators]]`` per position, each with that position's endpoint
    (``TCPIP0::<ip>::14207::SOCKET``). ``placeId`` is sent as two digits, the position's 0-based index
    (SM: ``$"{_position:00}"`` with the index of the calculator in the test system's list); option
    ``place_id`` overrides it. A bench file::

        [[instruments.calculators]]
        driver = "zera_mad"
        resource = "TCPIP0::192.168.1.101::14207::SOCKET"   # position 1's STM6000
        positions = [1]
        options = { evaluation_source = "src-intern-1" }      # the meter's pulse input (SM's list)

Every reply is checked as ZERA's client checks it [C] (``MadTcpConnection.ExecuteAsync``):
``KMA_XML_0_01/kmaContainer/jobDetails/jobResult`` must be ``OK`` and
``KMA_XML_0_01/kmaContainer/<reply>/cmdResCode`` must be ``OK``; anything else is a refusal
(:class:`CommandRefused`). The failure VALUES are [U] (no public source shows one).

Requests (all [C]: element names, nesting and the constant values are SM's request templates)
    version  ``serverVerReq`` -> ``serverVerRes/versionValue``, ``hwZeraName`` (``…Version.cs``; SM's
             test against a real server expects ``1.04`` / ``SIMULATION``, ``ErrorCalculatorApi/Tests/
             MadConnectionTests.cs``)
    bind     ``bindErrorCalculatorsReq`` (``…ConfigureErrorMeasurement.cs``, "MAD_KonfigRichtigkeit"):
             envSettings {devId, placeId, tOutUntilStateHasChanged 500, logPrefix, logPath,
             logDebugMask 0x0000}; fctErrorCalculators/errorCalculator {useSrcPrecedence true,
             measuringModule 1, evaluationSrc, referenceSrc src-ref-1, runMode errorMeasure, highActive true,
             minPulseDuration 1, useLocalDisplay true, showProgressBar true, useLocalResetKey true,
             useDisplayReverseSign false, setDisplayFractionalSize 2, setDisplayEquipmentAccuracy 200,
             setDisplayAddedText SC, setDisplayDecPoint ","} -> ``bindErrorCalculatorsRes``
    run      ``runErrorMeasureReq`` (``…StartErrorMeasurement.cs``, "MAD_StartRichtigkeit"): envSettings
             {devId, tOutUntilStateHasChanged 500, logPrefix, logPath, logDebugMask 0x0001,
             jobReplacesOther false}; fctErrorMeasurement {evaluationSrc, runMode oneShot|repetition,
             metrologicalCounts, referenceCounts, offsetPPM 0, upperTolerancePPM 999900,
             lowerTolerancePPM -999900} -> ``runErrorMeasureRes`` + ``jobDetails/jobId``, ``jobStatusRes``
    status   ``jobDetails/jobId`` under schema ``KoaLaKNS.xsd``, no kmaVersion (``…JobStatus.cs``) ->
             ``runErrorMeasureRes``: ``jobDetails/jobStatusRes`` running|closed,
             ``runErrorMeasureRes/errorValues/lastDeviationRaw`` (/ 10000 = %), ``lastSeenRefCounts``,
             ``lastSeenMeterCounts``, ``actSeenCounts`` (meter counts so far: SM's progress is
             actSeenCounts / metrologicalCounts), and in SM's test ``doneMeasures``, ``formattedErrorValue``
    abort    ``jobDetails/{jobId, jobAbort true}`` (``…AbortJob.cs``) -> ``runErrorMeasureRes``
    reset    ``resetReq`` ("MAD_AllJobsAbort", ``…AbortAllJobs.cs``) -> ``resetRes``: the safe state

Not sent: ``runKodisAccessReq`` (``…Activate.cs``: the position's relays routing the source to the
meter). It is the test system's wiring, not the error calculator; a ZERA bench may need it for the meter
to see voltage at all.

What MeterBench asks for (``referenceCounts``)
    The rack is told both counts of a gate: ``metrologicalCounts`` = N meter pulses (the gate's length)
    and ``referenceCounts`` = the reference pulses an error-free meter's N pulses span,
    N x Kt / Kr (SM: ``(impulses / dutMeterConstant * refMeterConstant).Floor()``). MeterBench ROUNDS
    where SM floors: 12 x 0.6 / 1e-5 is 719999.9999999999 in floating point, which floor turns into 719999
    (a 1.4 ppm error from float noise alone). The engine computes %R from the counts the rack SAW
    (``lastSeenMeterCounts``, ``lastSeenRefCounts``) and Kr, never from ``referenceCounts``; the rack's own
    ``lastDeviationRaw`` (ppm; its sign convention is [U]) is kept only as the cross-check figure.

What the protocol cannot do here
    - free counting without a gate (creep, starting): no such request in any public source, and counting
      through a gate's ``actSeenCounts`` turns on whether the gate's opening edge is counted, [U], which is
      exactly the one pulse a creep verdict (at most one pulse) depends on: ``pulse_count`` is False.
    - continuous gating: ``repetition`` jobs run until aborted and report only the LAST finished gate
      (``lastSeen…``, ``doneMeasures``), so the engine's ``start_series``/``results`` (every gate of a
      series) would silently lose a gate whenever two finish between polls; whether repeated gates are
      back to back is also [U]. Not offered (``continuous_gating`` False); ``run_repetition`` exists for
      a caller that polls every gate.
    - gate duration: the rack reports none; ``GateResult.gate_seconds`` is bench time from the run
      request to the status poll that saw ``closed``: an UPPER bound (it includes the wait for the
      opening edge and up to one poll interval).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from lxml import etree

from instruments.drivers import DriverContext, Link, Transport, read_options
from instruments.errors import CommandRefused, InstrumentError, UnconfirmedCommand, UnparseableReply
from instruments.interfaces import Capabilities, GateResult
from instruments.registry import DriverSpec
from procedures.errors import InputError

#: the documented session: LF after each document both ways, 5 s socket timeouts (SM MadTcpConnection)
TRANSPORT = Transport(read_termination="\n", write_termination="\n", timeout_ms=5000)
PORT_STM6000 = 14207  # SM IPProtocolProvider [C]
XSI = "http://www.w3.org/2001/XMLSchema-instance"
ROOT = "KMA_XML_0_01"
SCHEMA_KMA, SCHEMA_KNS = "KoaLaKMA.xsd", "KoaLaKNS.xsd"  # SM request templates [C]
DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>'

#: evaluation sources (the meter's pulse input) [C]: SM ``_supportedMeterConnections``
EVALUATION_SOURCES = (
    "src-intern-1", "src-intern-2", "src-extern-1", "src-extern-2", "src-extern-bnc", "src-extern-bnc-10",
    "src-extern-bnc-100", "src-extern-bnc-1000", "src-com-server-1-in", "src-com-server-1-out",
    "src-com-server-2-in", "src-com-server-2-out", "src-reset-key", "src-software", "src-nc",
    *(f"src-s0-{n}" for n in range(1, 13)),
)  # fmt: skip
RUN_MODES = ("oneShot", "repetition")  # [C]
MAX_PLACES = 80  # SM TestPositionConfiguration.MaxPosition: a ZERA test system's positions [C]
MAX_REPLY_LINES = 2000  # a reply spread over lines (pretty-printed) is read up to this many lines

COUNT_GATE_PULSES = 999_999  # creep / starting: a gate that cannot close within any test window
OPTIONS = {
    "timeout_ms": (int, TRANSPORT.timeout_ms, lambda v: 50 <= v <= 60000, "50..60000 ms"),
    "evaluation_source": (str, "src-intern-1", lambda v: v in EVALUATION_SOURCES, ", ".join(EVALUATION_SOURCES)),
    "place_id": (int, -1, lambda v: v == -1 or 0 <= v < MAX_PLACES, f"0..{MAX_PLACES - 1}, or -1 = position - 1"),
}  # fmt: skip

#: the request documents this driver sends: request element -> (reply element, SM source, provenance)
REQUESTS = {
    "serverVerReq": ("serverVerRes", "Mad1ErrorCalculator.Version.cs", "C"),
    "bindErrorCalculatorsReq": (
        "bindErrorCalculatorsRes",
        "Mad1ErrorCalculator.ConfigureErrorMeasurement.cs",
        "C",
    ),
    "runErrorMeasureReq": ("runErrorMeasureRes", "Mad1ErrorCalculator.StartErrorMeasurement.cs", "C"),
    "jobDetails/jobId (status)": ("runErrorMeasureRes", "Mad1ErrorCalculator.JobStatus.cs", "C"),
    "jobDetails/jobId + jobAbort true": ("runErrorMeasureRes", "Mad1ErrorCalculator.AbortJob.cs", "C"),
    "resetReq": ("resetRes", "Mad1ErrorCalculator.AbortAllJobs.cs", "C"),
}

#: the bind document's fixed errorCalculator settings, as SM sends them [C]
BIND_SETTINGS = (
    ("useSrcPrecedence", "true"), ("measuringModule", "1"), ("evaluationSrc", None),
    ("referenceSrc", "src-ref-1"), ("runMode", "errorMeasure"), ("highActive", "true"),
    ("minPulseDuration", "1"), ("useLocalDisplay", "true"), ("showProgressBar", "true"),
    ("useLocalResetKey", "true"), ("useDisplayReverseSign", "false"), ("setDisplayFractionalSize", "2"),
    ("setDisplayEquipmentAccuracy", "200"), ("setDisplayAddedText", "SC"), ("setDisplayDecPoint", ","),
)  # fmt: skip

_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, remove_blank_text=True)


# ---- documents ---------------------------------------------------------------------------------------
def _sub(parent: etree._Element, tag: str, text: str | None = None) -> etree._Element:
    el = etree.SubElement(parent, tag)
    if text is not None:
        el.text = text
    return el


def envelope(schema: str = SCHEMA_KMA, *, version: bool = True) -> tuple[etree._Element, etree._Element]:
    """``KMA_XML_0_01`` (with SM's schema attribute) / ``kmaContainer`` [/ ``kmaVersion`` 01]."""
    root = etree.Element(ROOT, nsmap={"xsi": XSI})
    root.set(f"{{{XSI}}}noNamespaceSchemaLocation", schema)
    container = _sub(root, "kmaContainer")
    if version:
        _sub(container, "kmaVersion", "01")
    return root, container


def serialise(root: etree._Element) -> str:
    """One line, double-quoted declaration, as .NET's ``XmlDocument.OuterXml`` sends it."""
    return DECLARATION + etree.tostring(root, encoding="unicode")


def version_request() -> str:
    root, c = envelope()
    _sub(c, "serverVerReq")
    return serialise(root)


def reset_request() -> str:
    root, c = envelope()
    _sub(c, "resetReq")
    return serialise(root)


def bind_request(place_id: str, evaluation_source: str) -> str:
    root, c = envelope()
    req = _sub(c, "bindErrorCalculatorsReq")
    env = _sub(req, "envSettings")
    for tag, text in (("devId", None), ("placeId", place_id), ("tOutUntilStateHasChanged", "500"),
                      ("logPrefix", None), ("logPath", None), ("logDebugMask", "0x0000")):  # fmt: skip
        _sub(env, tag, text)
    ec = _sub(_sub(req, "fctErrorCalculators"), "errorCalculator")
    for tag, text in BIND_SETTINGS:
        _sub(ec, tag, evaluation_source if text is None else text)
    return serialise(root)


def run_request(evaluation_source: str, run_mode: str, meter_counts: int, reference_counts: int) -> str:
    root, c = envelope()
    req = _sub(c, "runErrorMeasureReq")
    env = _sub(req, "envSettings")
    for tag, text in (("devId", None), ("tOutUntilStateHasChanged", "500"), ("logPrefix", None),
                      ("logPath", None), ("logDebugMask", "0x0001"), ("jobReplacesOther", "false")):  # fmt: skip
        _sub(env, tag, text)
    fct = _sub(req, "fctErrorMeasurement")
    for tag, text in (("evaluationSrc", evaluation_source), ("runMode", run_mode),
                      ("metrologicalCounts", str(meter_counts)), ("referenceCounts", str(reference_counts)),
                      ("offsetPPM", "0"), ("upperTolerancePPM", "999900"), ("lowerTolerancePPM", "-999900")):  # fmt: skip
        _sub(fct, tag, text)
    return serialise(root)


def job_request(job_id: str, *, abort: bool = False) -> str:
    root, c = envelope(SCHEMA_KNS, version=False)
    details = _sub(c, "jobDetails")
    _sub(details, "jobId", job_id)
    if abort:
        _sub(details, "jobAbort", "true")
    return serialise(root)


def parse_document(text: str) -> etree._Element:
    """The root of a reply document (raises ``etree.XMLSyntaxError``)."""
    return etree.fromstring(text.strip().encode("utf-8"), _PARSER)


def text_at(root: etree._Element, path: str) -> str | None:
    """Trimmed text of ``path`` under the root (``kmaContainer/...``); None if absent, "" if empty."""
    el = root.find(path)
    if el is None:
        return None
    return (el.text or "").strip()


@dataclass(frozen=True)
class JobStatus:
    """One ``runErrorMeasureRes`` status reply, as read (None = the element is absent or empty)."""

    job_id: str | None
    state: str  # running | closed | whatever else the rack said (SM treats it as "active")
    deviation_raw: int | None  # ppm: / 10000 = %
    ref_counts: int | None
    meter_counts: int | None
    seen_counts: int | None
    done_measures: int | None

    @property
    def error_percent(self) -> float | None:
        return None if self.deviation_raw is None else self.deviation_raw / 10000.0


def _integer(name: str, command: str, reply: str, value: str | None) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(value)  # SM: long.Parse (decimal; SM has a TODO for 0x hex)
    except ValueError:
        raise UnparseableReply(name, command, reply, f"not an integer: {value!r}") from None


def parse_status(name: str, command: str, reply: str, root: etree._Element) -> JobStatus:
    values = "kmaContainer/runErrorMeasureRes/errorValues/"

    def number(tag: str) -> int | None:
        return _integer(name, command, reply, text_at(root, values + tag))

    return JobStatus(
        job_id=text_at(root, "kmaContainer/jobDetails/jobId"),
        state=text_at(root, "kmaContainer/jobDetails/jobStatusRes") or "",
        deviation_raw=number("lastDeviationRaw"),
        ref_counts=number("lastSeenRefCounts"),
        meter_counts=number("lastSeenMeterCounts"),
        seen_counts=number("actSeenCounts"),
        done_measures=number("doneMeasures"),
    )


def reference_counts(meter_pulses: int, kt_wh: float, kr_wh: float) -> int:
    """The reference pulses an error-free meter's ``meter_pulses`` span (rounded; see the module text)."""
    return round(meter_pulses * kt_wh / kr_wh)


# ---- the instrument ------------------------------------------------------------------------------------
class ZeraMAD:
    """One MAD server (one test position's endpoint): requests, reply checks, safe state."""

    def __init__(self, ctx: DriverContext) -> None:
        self.opts = read_options(ctx, OPTIONS)
        self.name = ctx.name
        self.clock = ctx.clock
        overrides = {"timeout_ms": self.opts["timeout_ms"]} if "timeout_ms" in ctx.options else {}
        self.link = Link.from_context(ctx, TRANSPORT, **overrides)
        self.kr_wh = 0.0
        self.positions: tuple[int, ...] = ()
        self.calcs: dict[int, MADPosition] = {}

    # ---- one exchange ---------------------------------------------------------------------------
    def execute(self, request: str, reply: str, what: str) -> tuple[str, etree._Element]:
        """Send one document, read one back, check ``jobResult`` and ``<reply>/cmdResCode`` as ZERA's client
        does. ``what`` names the request in errors (``runErrorMeasureReq``)."""
        self.link.write(request)
        text = self._read_document(what)
        root = self._parse(what, text)
        job = text_at(root, "kmaContainer/jobDetails/jobResult")
        code = text_at(root, f"kmaContainer/{reply}/cmdResCode")
        if job != "OK" or code != "OK":
            raise CommandRefused(
                self.name, what, text,
                f"the MAD server refused it (jobResult {job!r}, {reply}/cmdResCode {code!r}; both must be 'OK')",
            )  # fmt: skip
        return text, root

    def _read_document(self, what: str) -> str:
        lines: list[str] = []
        for _ in range(MAX_REPLY_LINES):
            try:
                line = self.link.resource.read()
            except Exception as exc:  # noqa: BLE001 - translated like every Link error
                err = self.link._translate(exc, what)
                if lines:  # a document that stopped half way
                    raise UnparseableReply(
                        self.name, what, "\n".join(lines), f"incomplete XML document ({err.message})"
                    ) from exc
                raise err from exc
            line = line.strip("\r\n")
            if not line.strip() and not lines:
                continue  # a keep-alive (SM: "normally we receive only empty keep-alive messages")
            if any(not (32 <= ord(ch) < 127 or ch == "\t") for ch in line):
                raise UnparseableReply(self.name, what, line, "reply is not printable ASCII")
            if not lines and not line.lstrip().startswith("<"):
                raise UnparseableReply(self.name, what, line, "expected an XML document")
            lines.append(line)
            try:
                parse_document("\n".join(lines))
            except etree.XMLSyntaxError:
                continue
            return "\n".join(lines)
        raise UnparseableReply(self.name, what, "\n".join(lines)[:2000], "no complete XML document")

    def _parse(self, what: str, text: str) -> etree._Element:
        try:
            root = parse_document(text)
        except etree.XMLSyntaxError as exc:  # pragma: no cover - _read_document returns parsed text only
            raise UnparseableReply(self.name, what, text, f"not XML: {exc}") from None
        if root.tag != ROOT or root.find("kmaContainer") is None:
            raise UnparseableReply(self.name, what, text, f"expected a {ROOT}/kmaContainer document")
        return root

    # ---- identity and roles -----------------------------------------------------------------------
    def identify(self) -> str:
        _, root = self.execute(version_request(), "serverVerRes", "serverVerReq")
        model = text_at(root, "kmaContainer/serverVerRes/hwZeraName") or "?"
        version = text_at(root, "kmaContainer/serverVerRes/versionValue") or "?"
        return f"ZERA MAD server {model}, version {version}"

    def capabilities(self) -> Capabilities:
        return Capabilities(
            # the rack counts whatever pulses the reference puts on src-ref-1: the quantity is the reference's
            # pulse output, which nothing on this bench selects yet, so only active energy is gated
            quantities=frozenset({"active"}),
            energy_test=True,
            positions=1,
            continuous_gating=False,  # repetition reports only the last gate (see the module text)
            # no free-running count in any public source: counting through a long gate is [U], opt-in only
            pulse_count=self.link.allow_unconfirmed,
            unconfirmed=()
            if self.link.allow_unconfirmed
            else ("pulse count through a long gate (creep, starting)",),
        )

    def calculators(self, positions: tuple[int, ...]) -> dict[int, MADPosition]:
        if len(positions) != 1:
            raise InputError(
                "positions",
                "a MAD server serves one test position: give each position its own [[instruments.calculators]] "
                f"with that position's endpoint (STM6000: TCPIP0::<ip>::{PORT_STM6000}::SOCKET)",
                found=list(positions),
            )
        place = self.opts["place_id"]
        (pos,) = positions
        place_id = f"{(pos - 1) if place < 0 else place:02d}"
        if not 0 <= int(place_id) < MAX_PLACES:
            raise InputError("positions", f"a ZERA test system has positions 1..{MAX_PLACES}", found=pos)
        self.positions = positions
        self.calcs = {pos: MADPosition(self, pos, place_id)}
        return dict(self.calcs)

    def safe_state(self) -> None:
        """Stop every job: abort the ones we started, then ``resetReq`` (all jobs) for any we lost track of."""
        errors: list[Exception] = []
        for calc in self.calcs.values():
            try:
                calc.stop()
            except InstrumentError as exc:
                errors.append(exc)
        self.execute(reset_request(), "resetRes", "resetReq")
        for calc in self.calcs.values():
            calc.forget_running()
        if errors:
            raise errors[0]

    def confirm_safe(self) -> list[str]:
        """What is NOT safe: every job this session started, asked for its status, must be ``closed``."""
        problems = []
        for calc in self.calcs.values():
            problems += calc.unclosed_jobs()
        return problems

    def close(self) -> None:
        self.link.close()


class MADPosition:
    """One position's error calculator (the ErrorCalculator role) on its MAD server."""

    def __init__(self, rack: ZeraMAD, position: int, place_id: str) -> None:
        self.rack, self.position, self.place_id = rack, position, place_id
        self.name = f"{rack.name} position {position}"
        self.source = rack.opts["evaluation_source"]
        self._planned: tuple[int, int] | None = None  # (meter counts, reference counts)
        self.job_id: str | None = None  # the open job (None once closed or aborted)
        self.mode = "oneShot"
        self.started: list[str] = []  # jobs this session started not yet seen closed (confirm_safe asks each)
        self._t_start = 0.0
        self._last: JobStatus | None = None  # the closed job's status
        self._t_done: float | None = None

    # ---- the gate ---------------------------------------------------------------------------------
    def configure(self, kt_wh: float, meter_pulses: int) -> None:
        if not (isinstance(kt_wh, int | float) and kt_wh > 0 and math.isfinite(kt_wh)):
            raise InputError("kt_wh", "must be > 0 Wh per pulse", found=kt_wh)
        if not isinstance(meter_pulses, int) or meter_pulses < 1:
            raise InputError("meter_pulses", "must be a whole number >= 1", found=meter_pulses)
        kr = self.rack.kr_wh
        if not (kr > 0 and math.isfinite(kr)):
            raise InputError("reference.kr_wh", "must be > 0 Wh per reference pulse", found=kr)
        ref = reference_counts(meter_pulses, kt_wh, kr)
        if ref < 1:
            raise InputError(
                "meter_pulses", f"span less than one reference pulse (Kt {kt_wh:g} Wh, Kr {kr:g} Wh)",
                found=meter_pulses,
            )  # fmt: skip
        self._planned = (meter_pulses, ref)

    def start(self) -> None:
        self._run("oneShot")

    def run_repetition(self) -> None:
        """``runMode repetition``: gates repeat until :meth:`stop`; :meth:`poll_status` shows the last one."""
        self._run("repetition")

    def _run(self, mode: str) -> None:
        if self._planned is None:
            raise InputError("configure", "call configure(kt_wh, meter_pulses) before start")
        if self.job_id is not None:
            self.stop()  # SM refuses a start while a job is open; MeterBench aborts the old one first
        meter, ref = self._planned
        self.rack.execute(bind_request(self.place_id, self.source), "bindErrorCalculatorsRes",
                          "bindErrorCalculatorsReq")  # fmt: skip
        text, root = self.rack.execute(
            run_request(self.source, mode, meter, ref), "runErrorMeasureRes", "runErrorMeasureReq"
        )
        job = text_at(root, "kmaContainer/jobDetails/jobId")
        if not job:  # SM: "got no job identifier"
            raise UnparseableReply(self.name, "runErrorMeasureReq", text, "no jobDetails/jobId in the reply")
        self.job_id, self.mode = job, mode
        self.started.append(job)
        self._t_start, self._t_done, self._last = self.rack.clock.now(), None, None

    def poll_status(self) -> JobStatus:
        """The open job's status reply (``jobStatusRes``, counts) as read."""
        if self.job_id is None:
            raise InputError("start", "no job is open on this position")
        return self._status(self.job_id)

    def _status(self, job_id: str) -> JobStatus:
        what = f"jobStatus {job_id}"
        text, root = self.rack.execute(job_request(job_id), "runErrorMeasureRes", what)
        st = parse_status(self.name, what, text, root)
        if st.job_id and st.job_id != job_id:  # a late reply to an earlier request is not this job's state
            raise UnparseableReply(self.name, what, text, f"the reply is for job {st.job_id}")
        return st

    def poll(self) -> tuple[str, float]:
        if self.job_id is None:
            return ("finished", 1.0) if self._last is not None else ("idle", 0.0)
        st = self._status(self.job_id)
        if st.state == "closed":
            self.job_id, self._last, self._t_done = None, st, self.rack.clock.now()
            return "finished", 1.0
        if not st.state:
            raise UnparseableReply(self.name, f"jobStatus {self.job_id}", None, "no jobDetails/jobStatusRes")
        if st.state != "running":  # SM maps any other state to "active" (armed, not yet counting)
            return "running", 0.0
        meter = self._planned[0] if self._planned else 0
        seen = st.seen_counts or 0
        return "running", (min(max(seen / meter, 0.0), 1.0) if meter else 0.0)

    def result(self) -> GateResult:
        st = self._last
        what = "jobStatus"
        if st is None or st.meter_counts is None or st.ref_counts is None or st.meter_counts < 1:
            raise UnparseableReply(
                self.name, what, None if st is None else repr(st),
                "no finished gate (lastSeenMeterCounts / lastSeenRefCounts missing)",
            )  # fmt: skip
        seconds = max((self._t_done or self.rack.clock.now()) - self._t_start, 0.0)
        return GateResult(st.meter_counts, float(st.ref_counts), self.rack.kr_wh, seconds, st.error_percent)

    # ---- counting (not in the protocol) -----------------------------------------------------------
    def count_start(self) -> None:
        """Creep / starting: a gate far longer than the window, read while it runs [U].

        No public source has a free-running count. A MAD job opens on the meter's first edge and counts
        the edges after it (``actSeenCounts``) [U: whether it counts the opening edge is not documented],
        so a running job with ``actSeenCounts`` n >= 1 has seen n + 1 pulses, and one with 0 has seen 0 or
        1 — reported as 0. A creep verdict (at most one pulse) is then exact; a starting verdict is
        conservative (a meter that gives exactly one pulse in the window fails). Because both rest on [U]
        behaviour, this needs ``allow_unconfirmed = true`` for the calculator in the bench file.
        """
        if not self.rack.link.allow_unconfirmed:
            raise UnconfirmedCommand(
                self.name, "runErrorMeasureReq (pulse count)", None,
                "a MAD server has no documented pulse count (creep and starting tests need one); counting "
                "through a long gate is [U]: set allow_unconfirmed = true for this calculator to use it",
            )  # fmt: skip
        self.rack.link.unconfirmed_sent.add("runErrorMeasureReq as a pulse count (creep/starting)")
        kr = self.rack.kr_wh
        self._planned = (COUNT_GATE_PULSES, max(1, reference_counts(COUNT_GATE_PULSES, 1.0, kr)))
        self._run("oneShot")
        self._counting = True

    def count_read(self) -> tuple[int, float]:
        seconds = self.rack.clock.now() - self._t_start
        if self.job_id is None or not getattr(self, "_counting", False):
            return 0, seconds
        st = self._status(self.job_id)
        seen = st.seen_counts or 0
        return (seen + 1 if st.state == "running" and seen >= 1 else 0), seconds

    # ---- stopping -----------------------------------------------------------------------------------
    def stop(self) -> None:
        self._counting = False
        job, self.job_id = self.job_id, None
        if job is not None:
            self.rack.execute(job_request(job, abort=True), "runErrorMeasureRes", f"jobAbort {job}")

    def safe_state(self) -> None:
        """The server's safe state (abort, then ``resetReq``): the server is this position's alone."""
        self.rack.safe_state()

    def forget_running(self) -> None:
        self.job_id = None

    def unclosed_jobs(self) -> list[str]:
        out, still = [], []
        for job in self.started:
            try:
                st = self._status(job)
            except InstrumentError as exc:
                out.append(
                    f"position {self.position}: job {job}: its status could not be read ({exc.message})"
                )
                still.append(job)
                continue
            if st.state != "closed":
                out.append(f"position {self.position}: job {job} is {st.state or 'in an unknown state'}")
                still.append(job)
        self.started = still  # a job seen closed need not be asked again
        return out


def _sim_instrument(physics, positions: tuple[int, ...], options) -> object:
    from instruments.sim.zera_mad import ZeraMADSim

    place = int(options.get("place_id", -1))
    return ZeraMADSim(physics, positions, place_id=None if place < 0 else place)


DRIVER = DriverSpec(
    name="zera_mad",
    aliases=("mad", "zera-mad"),
    roles=frozenset({"calculators"}),
    open=ZeraMAD,
    description="ZERA MAD XML error calculator of one test position (STM4000/STM6000 MAD server, TCP)",
    max_positions=1,
    sim_instrument=_sim_instrument,
    transport=TRANSPORT,
)
