"""A simulated ZERA MAD server (the XML error calculator of a ZERA test position), written from ZERA's own
client in SourceMock (SM) @f03c43a, ``ErrorCalculatorApi/Server/Actions/Device/MAD/`` and
``ErrorCalculatorApi/Tests/MadConnectionTests.cs`` (no licence: facts and element names, no code).

What the sources show, and how this simulator follows them:

- Framing [C]: one XML document per line, ``\\n`` after it (SM ``MadTcpConnection``: ``OuterXml + "\\n"``).
  Replies here are one line each, ``\\n``-terminated; ZERA's client frames replies by parsing the bytes
  collected so far, so a reply's line structure is not part of the protocol.
- State is the SERVER's, not a connection's [C]: SM's test binds, starts and polls a job each on a fresh
  TCP connection, so bindings and jobs outlive connections here too.
- Every reply carries ``kmaContainer/jobDetails/jobResult`` and ``kmaContainer/<reply>/cmdResCode``, both
  ``OK`` on success (SM ``MadTcpConnection.ExecuteAsync`` rejects anything else) [C]. Which reply element
  answers which request [C]: serverVerReq -> serverVerRes; bindErrorCalculatorsReq ->
  bindErrorCalculatorsRes; runErrorMeasureReq -> runErrorMeasureRes (+ jobDetails/jobId, jobStatusRes
  ``running``); a jobDetails/jobId document (status, or abort with jobAbort true) -> runErrorMeasureRes with
  jobDetails/jobStatusRes ``running|closed`` and errorValues {lastDeviationRaw (ppm, /10000 = %),
  lastSeenRefCounts, lastSeenMeterCounts, actSeenCounts, doneMeasures, formattedErrorValue (German decimal
  comma: SM's test parses it with the "de" culture)}; resetReq -> resetRes; runKodisAccessReq ->
  runKodisAccessRes.

Refusals. No public source shows a MAD server's failure reply, so these are MeterBench's choices [U]:

- a line that is not well-formed XML, or a document that is not ``KMA_XML_0_01/kmaContainer`` with a
  request this server knows: SILENCE. ZERA's client frames by "parse what has arrived, else wait for
  more"; a server framing the same way never sees a document, so it answers nothing, and the driver
  times out rather than being handed an invented error format.
- a known request with content the server cannot act on (a placeId it does not serve, an unknown
  evaluation source or run mode, counts that are not whole numbers >= 1, a run before any bind, a new job
  while one runs with ``jobReplacesOther false``, a jobId it never issued): the request's own reply
  element with ``cmdResCode`` (or, for an unknown job, ``jobResult``) ``ERROR`` — the two fields the
  sources show a client checking. The value ``ERROR`` itself is [U].

Physics: ``runErrorMeasureReq`` arms the bench physics' gate of the position (it opens on the next meter
edge and closes after ``metrologicalCounts`` edges); the reference pulses counted in the gate are
``lastSeenRefCounts``; ``lastDeviationRaw`` = 1e6 x (referenceCounts - seen) / seen ppm, i.e. the error of
the meter that the REQUESTED reference count implies (positive = meter fast; the real rack's sign is [U]).
``repetition`` = gates back to back (each closing edge opens the next) until aborted, reporting the last
finished one and how many are done. One server serves the positions it is given (one, the way ZERA wires a
test position to its own MAD endpoint); with several, a run applies to the place bound last.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lxml import etree

# the table of SM's input names and the 80-position limit are shared facts; every element name this
# server reads or writes is spelt here, independently of the driver, so a driver typo is not mirrored
from instruments.drivers.zera_mad import EVALUATION_SOURCES, MAX_PLACES
from instruments.sim.protocol import Connection, Reply, SimInstrument

ROOT = "KMA_XML_0_01"
RUN_MODES = ("oneShot", "repetition")
DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>'

ERROR = "ERROR"  # the failure value of jobResult / cmdResCode: [U], MeterBench's choice
REPETITION_GATES = 10**9  # "until aborted"
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, remove_blank_text=True, huge_tree=False)
#: request element -> reply element [C] (SM's ExecuteAsync calls)
REPLIES = {
    "serverVerReq": "serverVerRes",
    "bindErrorCalculatorsReq": "bindErrorCalculatorsRes",
    "runErrorMeasureReq": "runErrorMeasureRes",
    "resetReq": "resetRes",
    "runKodisAccessReq": "runKodisAccessRes",
}


@dataclass
class Binding:
    """What a ``bindErrorCalculatorsReq`` set for one place."""

    evaluation_source: str
    fraction_digits: int = 2
    decimal_point: str = ","


@dataclass
class Job:
    job_id: str
    position: int
    mode: str  # oneShot | repetition
    meter_counts: int
    reference_counts: int
    binding: Binding
    state: str = "running"  # running | closed
    #: frozen at close: (gates done, last gate (meter, ref, seconds, error) or None)
    final: tuple[int, tuple | None] | None = None
    extra: dict = field(default_factory=dict)


def text_at(root: etree._Element, path: str) -> str | None:
    el = root.find(path)
    return None if el is None else (el.text or "").strip()


class ZeraMADSim(SimInstrument):
    model = "ZERA MAD server"
    terminations = (b"\n",)
    reply_termination = b"\n"
    serial = None  # TCP only

    def __init__(
        self,
        physics,
        positions: tuple[int, ...],
        *,
        place_id: int | None = None,
        version: str = "1.04",
        hw_name: str = "MeterBench-SIM",
    ) -> None:
        super().__init__()
        if not 1 <= len(positions) <= MAX_PLACES:
            raise ValueError(f"a MAD server serves 1..{MAX_PLACES} places, not {len(positions)}")
        if place_id is not None and len(positions) != 1:
            raise ValueError("place_id names the place of a one-position server")
        self.physics = physics
        self.places = {
            f"{(p - 1) if place_id is None else place_id:02d}": p for p in positions
        }  # placeId -> bench position
        self.version, self.hw_name = version, hw_name
        self.bound: dict[int, Binding] = {}
        self.current: int | None = None  # the position bound last (a run applies to it)
        self.jobs: dict[str, Job] = {}
        self.active: dict[int, str] = {}  # position -> its running job
        self._next_job = 1

    # ---- framing and dispatch ---------------------------------------------------------------------
    def _document(self, message: str) -> etree._Element | None:
        try:
            root = etree.fromstring(message.strip().encode("utf-8"), _PARSER)
        except (etree.XMLSyntaxError, ValueError):
            return None
        if root.tag != ROOT or root.find("kmaContainer") is None:
            return None
        return root

    @staticmethod
    def _request(root: etree._Element) -> str | None:
        container = root.find("kmaContainer")
        for child in container:
            if isinstance(child.tag, str) and child.tag in REPLIES:
                return child.tag
        if container.find("jobDetails/jobId") is not None:
            return "jobDetails"
        return None

    def handle(self, message: str, conn: Connection) -> Reply:
        root = self._document(message)
        if root is None:
            return self.silence("not a well-formed KMA_XML_0_01/kmaContainer document: no reply")
        kind = self._request(root)
        if kind is None:
            return self.silence("no request this MAD server knows in kmaContainer: no reply")
        version = text_at(root, "kmaContainer/kmaVersion")
        if kind != "jobDetails" and version is not None and version != "01":
            return self._fail(REPLIES[kind], f"kmaVersion {version!r}: this server speaks 01")
        return getattr(self, f"_{kind}")(root)

    def refuse_injected(self, message: str, conn: Connection) -> Reply:
        root = self._document(message)
        kind = None if root is None else self._request(root)
        if kind is None:
            return self.silence("refused (injected fault): no reply")
        reply = "runErrorMeasureRes" if kind == "jobDetails" else REPLIES[kind]
        return self._fail(reply, "refused (injected fault)")

    # ---- reply documents ----------------------------------------------------------------------------
    def _doc(
        self,
        reply: str,
        *,
        job_result: str = "OK",
        code: str = "OK",
        job: Job | None = None,
        job_state: str | None = None,
        values: dict[str, str] | None = None,
        body: dict[str, str] | None = None,
    ) -> str:
        root = etree.Element(ROOT)
        container = etree.SubElement(root, "kmaContainer")
        details = etree.SubElement(container, "jobDetails")
        if job is not None:
            etree.SubElement(details, "jobId").text = job.job_id
        etree.SubElement(details, "jobResult").text = job_result
        if job_state is not None:
            etree.SubElement(details, "jobStatusRes").text = job_state
        res = etree.SubElement(container, reply)
        etree.SubElement(res, "cmdResCode").text = code
        for tag, text in (body or {}).items():
            etree.SubElement(res, tag).text = text
        if values is not None:
            ev = etree.SubElement(res, "errorValues")
            for tag, text in values.items():
                etree.SubElement(ev, tag).text = text
        return DECLARATION + etree.tostring(root, encoding="unicode")

    def _fail(self, reply: str, why: str, *, job_level: bool = False) -> Reply:
        doc = self._doc(reply, job_result=ERROR if job_level else "OK", code=ERROR)
        return self.refuse(why, doc)

    # ---- requests -------------------------------------------------------------------------------------
    def _serverVerReq(self, root) -> Reply:
        return self.reply(
            self._doc("serverVerRes", body={"versionValue": self.version, "hwZeraName": self.hw_name})
        )

    def _resetReq(self, root) -> Reply:
        for job in self.jobs.values():
            self._close(job)
        return self.reply(self._doc("resetRes"))

    def _runKodisAccessReq(self, root) -> Reply:
        # the position's relays (source to meter): the bench physics has none to switch; acknowledged
        place = text_at(root, "kmaContainer/runKodisAccessReq/envSettings/placeId")
        if place not in self.places:
            return self._fail(
                "runKodisAccessRes", f"placeId {place!r}: this server serves {sorted(self.places)}"
            )
        return self.reply(self._doc("runKodisAccessRes"))

    def _bindErrorCalculatorsReq(self, root) -> Reply:
        base = "kmaContainer/bindErrorCalculatorsReq/"
        place = text_at(root, base + "envSettings/placeId")
        if place not in self.places:
            return self._fail(
                "bindErrorCalculatorsRes", f"placeId {place!r}: this server serves {sorted(self.places)}"
            )
        ec = base + "fctErrorCalculators/errorCalculator/"
        source = text_at(root, ec + "evaluationSrc")
        if source not in EVALUATION_SOURCES:
            return self._fail(
                "bindErrorCalculatorsRes", f"evaluationSrc {source!r} is no input of this server"
            )
        mode = text_at(root, ec + "runMode")
        if mode != "errorMeasure":
            return self._fail("bindErrorCalculatorsRes", f"runMode {mode!r}: only errorMeasure is simulated")
        digits = text_at(root, ec + "setDisplayFractionalSize") or "2"
        point = text_at(root, ec + "setDisplayDecPoint") or ","
        if not digits.isdigit() or int(digits) > 6:
            return self._fail("bindErrorCalculatorsRes", f"setDisplayFractionalSize {digits!r}")
        pos = self.places[place]
        self.bound[pos] = Binding(source, int(digits), point)
        self.current = pos
        return self.reply(self._doc("bindErrorCalculatorsRes"))

    def _runErrorMeasureReq(self, root) -> Reply:
        reply = "runErrorMeasureRes"
        base = "kmaContainer/runErrorMeasureReq/"
        fct = base + "fctErrorMeasurement/"
        if self.current is None:
            return self._fail(reply, "no error calculator bound (bindErrorCalculatorsReq first)")
        pos, binding = self.current, self.bound[self.current]
        source = text_at(root, fct + "evaluationSrc")
        if source != binding.evaluation_source:
            return self._fail(
                reply, f"evaluationSrc {source!r} is not the bound {binding.evaluation_source!r}"
            )
        mode = text_at(root, fct + "runMode")
        if mode not in RUN_MODES:
            return self._fail(reply, f"runMode {mode!r}: allowed {', '.join(RUN_MODES)}")
        counts = {}
        for tag in ("metrologicalCounts", "referenceCounts"):
            text = text_at(root, fct + tag) or ""
            if not text.isdigit() or int(text) < 1:
                return self._fail(reply, f"{tag} {text!r}: a whole number >= 1")
            counts[tag] = int(text)
        running = self.active.get(pos)
        if running is not None and self._state(self.jobs[running]) == "running":
            if text_at(root, base + "envSettings/jobReplacesOther") != "true":
                return self._fail(reply, f"job {running} still runs and jobReplacesOther is not true")
            self._close(self.jobs[running])
        job = Job(
            str(self._next_job), pos, mode, counts["metrologicalCounts"], counts["referenceCounts"], binding
        )
        self._next_job += 1
        self.jobs[job.job_id] = job
        self.active[pos] = job.job_id
        # the Kt this request implies (the rack is told counts, not constants): only the physics' own
        # error bookkeeping uses it; the reply's deviation is computed from referenceCounts below
        kt = job.reference_counts * self.physics.kr_wh / job.meter_counts
        self.physics.gate_configure(pos, kt, job.meter_counts)
        self.physics.gate_start(pos, series=1 if mode == "oneShot" else REPETITION_GATES)
        return self.reply(self._doc(reply, job=job, job_state="running"))

    def _jobDetails(self, root) -> Reply:
        reply = "runErrorMeasureRes"
        job_id = text_at(root, "kmaContainer/jobDetails/jobId")
        job = self.jobs.get(job_id or "")
        if job is None:
            return self._fail(reply, f"jobId {job_id!r} was never issued", job_level=True)
        abort = text_at(root, "kmaContainer/jobDetails/jobAbort")
        if abort not in (None, "true", "false"):
            return self._fail(reply, f"jobAbort {abort!r}: true or false")
        if abort == "true":
            self._close(job)
        state = self._state(job)
        return self.reply(self._doc(reply, job=job, job_state=state, values=self._values(job)))

    # ---- jobs against the physics -----------------------------------------------------------------------
    def _live(self, job: Job) -> bool:
        return job.final is None and self.active.get(job.position) == job.job_id

    def _state(self, job: Job) -> str:
        if self._live(job) and job.mode == "oneShot":
            status, _ = self.physics.gate_status(job.position)
            if status != "running":
                self._close(job)
        return "closed" if job.final is not None else "running"

    def _progress(self, job: Job) -> tuple[int, tuple | None]:
        if job.final is not None:
            return job.final
        done = self.physics.gate_results(job.position)
        return len(done), (done[-1] if done else None)

    def _close(self, job: Job) -> None:
        if job.final is not None:
            return
        if self._live(job):
            job.final = self._progress(job)
            self.physics.gate_abort(job.position)
            del self.active[job.position]
        else:
            job.final = (0, None)

    def _values(self, job: Job) -> dict[str, str]:
        done, last = self._progress(job)
        seen = 0
        if self._live(job):
            gate = self.physics.gates[job.position]
            seen = gate.edges if gate.state == "running" else 0
        values = {"actSeenCounts": str(seen), "doneMeasures": str(done)}
        if last is not None:
            meter, ref, _seconds, _err = last
            values["lastSeenMeterCounts"] = str(meter)
            values["lastSeenRefCounts"] = str(ref)
            if ref > 0:
                expected = job.reference_counts * meter / job.meter_counts
                ppm = round(1e6 * (expected - ref) / ref)
                values["lastDeviationRaw"] = str(ppm)
                b = job.binding
                values["formattedErrorValue"] = f"{ppm / 10000:.{b.fraction_digits}f}".replace(
                    ".", b.decimal_point
                )
        return values
