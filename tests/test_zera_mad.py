"""ZERA MAD (the XML error calculator of a ZERA test position) and the retired PC-48 (now sim_counter).

Request documents are checked byte for byte against ZERA's own client, SourceMock @f03c43a
(``ErrorCalculatorApi/Server/Actions/Device/MAD/``, abbreviated SM). No public source holds a captured
MAD *reply*: the reply documents here are built from exactly the element paths SM reads from them (cited
per test), and the simulator answers with the same shape.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import pyvisa
from test_sim_accuracy import bench_dict, meter

from bench.cli import main
from bench.records import RecordStore
from instruments.bench import open_bench
from instruments.benchfile import load_bench_config, parse_bench_config
from instruments.drivers import DriverContext
from instruments.drivers import zera_mad as mad
from instruments.errors import CommandRefused, InstrumentTimeout, UnparseableReply
from instruments.sim.transport import EmulatorServer
from procedures.errors import InputError

ROOT = Path(__file__).resolve().parents[1]
HEAD = '<?xml version="1.0" encoding="UTF-8"?>'
KMA = '<KMA_XML_0_01 xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:noNamespaceSchemaLocation="KoaLaKMA.xsd">'
KNS = '<KMA_XML_0_01 xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:noNamespaceSchemaLocation="KoaLaKNS.xsd">'

# SM Mad1ErrorCalculator.ConfigureErrorMeasurement.cs ("MAD_KonfigRichtigkeit"), placeId "02", src-intern-1
BIND = (
    HEAD + KMA + "<kmaContainer><kmaVersion>01</kmaVersion><bindErrorCalculatorsReq><envSettings><devId/>"
    "<placeId>02</placeId><tOutUntilStateHasChanged>500</tOutUntilStateHasChanged><logPrefix/><logPath/>"
    "<logDebugMask>0x0000</logDebugMask></envSettings><fctErrorCalculators><errorCalculator>"
    "<useSrcPrecedence>true</useSrcPrecedence><measuringModule>1</measuringModule>"
    "<evaluationSrc>src-intern-1</evaluationSrc><referenceSrc>src-ref-1</referenceSrc>"
    "<runMode>errorMeasure</runMode><highActive>true</highActive><minPulseDuration>1</minPulseDuration>"
    "<useLocalDisplay>true</useLocalDisplay><showProgressBar>true</showProgressBar>"
    "<useLocalResetKey>true</useLocalResetKey><useDisplayReverseSign>false</useDisplayReverseSign>"
    "<setDisplayFractionalSize>2</setDisplayFractionalSize>"
    "<setDisplayEquipmentAccuracy>200</setDisplayEquipmentAccuracy><setDisplayAddedText>SC</setDisplayAddedText>"
    "<setDisplayDecPoint>,</setDisplayDecPoint></errorCalculator></fctErrorCalculators>"
    "</bindErrorCalculatorsReq></kmaContainer></KMA_XML_0_01>"
)
# SM Mad1ErrorCalculator.StartErrorMeasurement.cs ("MAD_StartRichtigkeit"): 12 meter pulses of 0.6 Wh
# against Kr 1e-5 Wh = 720000 reference pulses, one gate
RUN = (
    HEAD + KMA + "<kmaContainer><kmaVersion>01</kmaVersion><runErrorMeasureReq><envSettings><devId/>"
    "<tOutUntilStateHasChanged>500</tOutUntilStateHasChanged><logPrefix/><logPath/>"
    "<logDebugMask>0x0001</logDebugMask><jobReplacesOther>false</jobReplacesOther></envSettings>"
    "<fctErrorMeasurement><evaluationSrc>src-intern-1</evaluationSrc><runMode>oneShot</runMode>"
    "<metrologicalCounts>12</metrologicalCounts><referenceCounts>720000</referenceCounts>"
    "<offsetPPM>0</offsetPPM><upperTolerancePPM>999900</upperTolerancePPM>"
    "<lowerTolerancePPM>-999900</lowerTolerancePPM></fctErrorMeasurement></runErrorMeasureReq>"
    "</kmaContainer></KMA_XML_0_01>"
)
# SM Mad1ErrorCalculator.JobStatus.cs ("MAD_JobStatus") and AbortJob.cs ("MAD_JobAbort"): KoaLaKNS, no kmaVersion
STATUS = HEAD + KNS + "<kmaContainer><jobDetails><jobId>1</jobId></jobDetails></kmaContainer></KMA_XML_0_01>"
ABORT = (
    HEAD + KNS + "<kmaContainer><jobDetails><jobId>1</jobId><jobAbort>true</jobAbort></jobDetails>"
    "</kmaContainer></KMA_XML_0_01>"
)
# SM Mad1ErrorCalculator.AbortAllJobs.cs ("MAD_AllJobsAbort") and Version.cs ("MAD_Version")
RESET = HEAD + KMA + "<kmaContainer><kmaVersion>01</kmaVersion><resetReq/></kmaContainer></KMA_XML_0_01>"
VERSION = (
    HEAD + KMA + "<kmaContainer><kmaVersion>01</kmaVersion><serverVerReq/></kmaContainer></KMA_XML_0_01>"
)


def mad_bench(positions=(1, 2, 3), **extra):
    d = bench_dict([meter(p, "2S", 240.0, "CL200", 0.6) for p in positions], three_phase=False)
    d["instruments"]["calculators"] = [
        {
            "driver": "zera_mad",
            "resource": f"TCPIP0::10.0.0.{100 + p}::14207::SOCKET",
            "positions": [p],
            **extra,
        }
        for p in positions
    ]
    return open_bench(parse_bench_config(d))


def sim_of(bench, position):
    """The simulated MAD server of one position."""
    resource = f"TCPIP0::10.0.0.{100 + position}::14207::SOCKET"
    return bench.simulator.library.device(resource).instrument


def finish(bench, calc, limit_s=300.0):
    waited = 0.0
    while calc.poll()[0] != "finished":
        assert waited < limit_s, "gate did not finish"
        bench.clock.sleep(1.0)
        waited += 1.0
    return calc.result()


# ---- request documents -------------------------------------------------------------------------------
def test_request_documents_are_zeras_templates_on_one_line():
    assert mad.bind_request("02", "src-intern-1") == BIND
    assert mad.run_request("src-intern-1", "oneShot", 12, 720000) == RUN
    assert mad.job_request("1") == STATUS
    assert mad.job_request("1", abort=True) == ABORT
    assert mad.reset_request() == RESET
    assert mad.version_request() == VERSION
    # the element paths SM's client fills in (SelectSingleNode) are where it expects them
    for doc, path in [
        (BIND, "kmaContainer/bindErrorCalculatorsReq/fctErrorCalculators/errorCalculator/evaluationSrc"),
        (BIND, "kmaContainer/bindErrorCalculatorsReq/envSettings/placeId"),
        (RUN, "kmaContainer/runErrorMeasureReq/fctErrorMeasurement/metrologicalCounts"),
        (RUN, "kmaContainer/runErrorMeasureReq/fctErrorMeasurement/runMode"),
        (RUN, "kmaContainer/runErrorMeasureReq/fctErrorMeasurement/referenceCounts"),
        (STATUS, "kmaContainer/jobDetails/jobId"),
    ]:
        assert mad.parse_document(doc).find(path) is not None, path
    assert all(p == "C" for _, _, p in mad.REQUESTS.values())  # every request document is seen in SM


def test_reference_counts_round_where_float_noise_would_floor_a_count_away():
    assert 12 * 0.6 / 1e-5 < 720000  # 719999.9999999999: SM's .Floor() would ask for 719999
    assert mad.reference_counts(12, 0.6, 1e-5) == 720000
    assert mad.reference_counts(3, 0.6, 1e-5) == 180000


def test_one_gate_sends_bind_run_and_status_documents_exactly():
    with mad_bench() as bench:
        _energised(bench)
        calc = bench.calculators[3]
        calc.configure(0.6, 12)
        calc.start()
        res = finish(bench, calc)
        sent = [e.message for e in sim_of(bench, 3).log]
        assert sent[0] == BIND  # position 3 is place index 02
        assert sent[1] == RUN
        assert set(sent[2:]) == {STATUS}
        assert res.meter_pulses == 12 and res.ref_pulses > 0 and res.kr_wh == 1e-5
        # %R from the raw counts agrees with the rack's own deviation (lastDeviationRaw / 10000)
        own = 100.0 * (12 * 0.6 / (res.ref_pulses * 1e-5) - 1.0)
        assert res.instrument_error_percent == pytest.approx(own, abs=2e-4)
        assert calc.rack.link.unconfirmed_sent == set()
        bench.source.output_off()


# ---- reply documents (shaped by the paths SM reads) -----------------------------------------------------
class Wire:
    """A VISA-resource double: records writes, hands out scripted reply lines."""

    def __init__(self, *lines):
        self.lines, self.sent, self.timeout = list(lines), [], 2000

    def write(self, text):
        self.sent.append(text)

    def read(self):
        if not self.lines:
            raise pyvisa.errors.VisaIOError(pyvisa.constants.StatusCode.error_timeout)
        return self.lines.pop(0)

    def close(self):
        pass


def rack_on(wire: Wire, **options) -> mad.ZeraMAD:
    from instruments.clock import VirtualClock

    rack = mad.ZeraMAD(DriverContext(wire, "zera_mad test", VirtualClock(), options))
    rack.kr_wh = 1e-5
    rack.calculators((1,))
    return rack


def reply(tag, inner="", job="<jobResult>OK</jobResult>", code="OK"):
    return (f"<KMA_XML_0_01><kmaContainer><jobDetails>{job}</jobDetails><{tag}><cmdResCode>{code}</cmdResCode>"
            f"{inner}</{tag}></kmaContainer></KMA_XML_0_01>")  # fmt: skip


# SM JobStatus.cs reads jobDetails/jobStatusRes and runErrorMeasureRes/errorValues/{lastDeviationRaw,
# lastSeenRefCounts, lastSeenMeterCounts, actSeenCounts}; SM's test also doneMeasures, formattedErrorValue
CLOSED = reply(
    "runErrorMeasureRes",
    "<errorValues><lastDeviationRaw>-1234</lastDeviationRaw><lastSeenRefCounts>720089</lastSeenRefCounts>"
    "<lastSeenMeterCounts>12</lastSeenMeterCounts><actSeenCounts>0</actSeenCounts><doneMeasures>1</doneMeasures>"
    "<formattedErrorValue>-0,12</formattedErrorValue></errorValues>",
    job="<jobId>77</jobId><jobResult>OK</jobResult><jobStatusRes>closed</jobStatusRes>",
)
RUNNING = reply("runErrorMeasureRes", "<errorValues><actSeenCounts>3</actSeenCounts></errorValues>",
                job="<jobId>77</jobId><jobResult>OK</jobResult><jobStatusRes>running</jobStatusRes>")  # fmt: skip
STARTED = reply(
    "runErrorMeasureRes", job="<jobId>77</jobId><jobResult>OK</jobResult><jobStatusRes>running</jobStatusRes>"
)


def test_status_replies_parse_into_progress_counts_and_the_racks_deviation():
    wire = Wire(reply("bindErrorCalculatorsRes"), STARTED, RUNNING, "", CLOSED)  # "" = a keep-alive line
    calc = rack_on(wire).calcs[1]
    calc.configure(0.6, 12)
    calc.start()
    assert calc.poll() == ("running", 0.25)  # actSeenCounts 3 of metrologicalCounts 12 (SM's progress)
    assert calc.poll() == ("finished", 1.0)
    res = calc.result()
    assert (res.meter_pulses, res.ref_pulses, res.instrument_error_percent) == (12, 720089.0, -0.1234)
    assert wire.sent[2] == mad.job_request("77")


def test_other_job_states_are_armed_as_sm_reads_them_and_another_jobs_reply_is_refused():
    armed = STARTED.replace(">running<", ">waiting<")
    other = RUNNING.replace("<jobId>77<", "<jobId>76<")
    wire = Wire(reply("bindErrorCalculatorsRes"), STARTED, armed, other)
    calc = rack_on(wire).calcs[1]
    calc.configure(0.6, 12)
    calc.start()
    assert calc.poll() == ("running", 0.0)  # SM: neither running nor closed = "active"
    with pytest.raises(UnparseableReply, match="the reply is for job 76"):
        calc.poll()


def test_a_pretty_printed_reply_over_several_lines_is_one_document():
    lines = ["<?xml version='1.0'?>", "<KMA_XML_0_01>", " <kmaContainer>", "  <jobDetails><jobResult>OK</jobResult>",
             "  </jobDetails>", "  <serverVerRes><cmdResCode>OK</cmdResCode><versionValue>1.04</versionValue>",
             "  <hwZeraName>SIMULATION</hwZeraName></serverVerRes>", " </kmaContainer>", "</KMA_XML_0_01>"]  # fmt: skip
    rack = rack_on(Wire(*lines))
    assert rack.identify() == "ZERA MAD server SIMULATION, version 1.04"  # SM's test: 1.04 / SIMULATION


@pytest.mark.parametrize(
    "bad, match",
    [
        (reply("bindErrorCalculatorsRes", code="FAIL"), "cmdResCode 'FAIL'"),
        (reply("bindErrorCalculatorsRes", job="<jobResult>NOK</jobResult>"), "jobResult 'NOK'"),
        (
            reply("resetRes"),
            "cmdResCode None",
        ),  # the wrong reply element: SM looks for bindErrorCalculatorsRes
    ],
)
def test_a_reply_not_ok_where_zeras_client_checks_is_a_refusal(bad, match):
    calc = rack_on(Wire(bad)).calcs[1]
    calc.configure(0.6, 12)
    with pytest.raises(CommandRefused, match=re.escape(match)):
        calc.start()


def test_garbage_and_a_half_document_are_unparseable_and_silence_is_a_timeout():
    for line, match in (("\x15#?\xfe@!", "not printable ASCII"), ("OK", "expected an XML document")):
        calc = rack_on(Wire(line)).calcs[1]
        calc.configure(0.6, 12)
        with pytest.raises(UnparseableReply, match=match):
            calc.start()
    calc = rack_on(Wire("<KMA_XML_0_01><kmaContainer>")).calcs[1]
    calc.configure(0.6, 12)
    with pytest.raises(UnparseableReply, match="incomplete XML document"):
        calc.start()
    calc = rack_on(Wire()).calcs[1]
    calc.configure(0.6, 12)
    with pytest.raises(InstrumentTimeout, match="bindErrorCalculatorsReq"):
        calc.start()


# ---- the simulated rack: refusals -----------------------------------------------------------------------
@pytest.mark.refusals_ok
def test_malformed_xml_and_unknown_requests_get_no_reply_and_are_logged_refused():
    with mad_bench((1,), options={"timeout_ms": 200}) as bench:
        rack = bench.calculators[1].rack
        for doc in (
            RUN[:-20],
            "<KMA_XML_0_01><kmaContainer><fooReq/></kmaContainer></KMA_XML_0_01>",
            "hello",
        ):
            rack.link.write(doc)
            with pytest.raises(InstrumentTimeout):
                rack._read_document("probe")
        why = [e.why for e in sim_of(bench, 1).refusals()]
        assert (
            len(why) == 3 and "not a well-formed" in why[0] and "no request this MAD server knows" in why[1]
        )


@pytest.mark.refusals_ok
def test_content_the_rack_cannot_act_on_is_answered_with_an_error_document():
    with mad_bench((1,)) as bench:
        rack = bench.calculators[1].rack
        with pytest.raises(CommandRefused, match="runErrorMeasureRes/cmdResCode 'ERROR'"):
            rack.execute(RUN, "runErrorMeasureRes", "runErrorMeasureReq")  # run before any bind
        with pytest.raises(CommandRefused, match="bindErrorCalculatorsRes/cmdResCode 'ERROR'"):
            rack.execute(
                BIND, "bindErrorCalculatorsRes", "bindErrorCalculatorsReq"
            )  # place 02: not position 1's
        with pytest.raises(CommandRefused, match="jobResult 'ERROR'"):
            rack.execute(mad.job_request("999"), "runErrorMeasureRes", "jobStatus 999")
        why = [e.why for e in sim_of(bench, 1).refusals()]
        assert "no error calculator bound" in why[0] and "placeId '02'" in why[1] and "never issued" in why[2]


def test_sim_counter_stays_usable_by_its_old_names_but_not_on_a_real_bench(tmp_path):
    text = (ROOT / "examples" / "2s-board.toml").read_text()
    assert 'driver = "sim_counter"' in text
    for old in ("pulsecounter", "pc48", "mb-pc48"):
        path = tmp_path / f"{old}.toml"
        path.write_text(text.replace('driver = "sim_counter"', f'driver = "{old}"'))
        with open_bench(path) as bench:
            assert sorted(bench.calculators) == [1, 2, 3]
    real = tmp_path / "real.toml"
    real.write_text(text.split("[simulation]")[0])
    with pytest.raises(InputError, match="instruments.calculators.driver: driver sim_counter is MeterBench's "
                                         "simulated device, which no real instrument speaks") as err:  # fmt: skip
        open_bench(load_bench_config(real))
    assert "zera_mad" in str(err.value)  # the real drivers are named as the alternative


# ---- jobs, safe state, capabilities -------------------------------------------------------------------
def _energised(bench):
    from instruments.interfaces import PhaseSetting

    bench.source.apply({"A": PhaseSetting(240.0, 0.0, 30.0, 0.0)}, 60.0)
    bench.source.output_on()


def test_safe_state_stops_every_job_and_confirm_safe_says_so():
    with mad_bench((1, 2)) as bench:
        _energised(bench)
        for calc in bench.calculators.values():
            calc.configure(0.6, 1000)
            calc.start()
        bench.clock.sleep(10.0)
        racks = [c.rack for c in bench.calculators.values()]
        assert all(r.confirm_safe() for r in racks)  # a running job on each position is not safe
        assert "job 1 is running" in racks[0].confirm_safe()[0]
        assert bench.safe_state() == []
        assert [r.confirm_safe() for r in racks] == [[], []]
        sent = [e.message for e in sim_of(bench, 1).log]
        assert ABORT in sent and RESET in sent
        assert all(bench.simulator.physics.gates[p].state == "idle" for p in (1, 2))


def test_repetition_runs_gates_back_to_back_and_reports_the_last_one():
    with mad_bench((1,)) as bench:
        _energised(bench)
        calc = bench.calculators[1]
        calc.configure(0.6, 2)
        calc.run_repetition()
        bench.clock.sleep(30.0)  # 2 pulses of 0.6 Wh at 7.2 kW: 0.6 s a gate
        st = calc.poll_status()
        assert st.state == "running" and st.done_measures > 10
        assert st.meter_counts == 2 and st.ref_counts == pytest.approx(120000, rel=0.01)
        calc.stop()
        assert calc.rack.confirm_safe() == []
        assert calc.rack.capabilities().continuous_gating is False
        assert not hasattr(calc, "start_series")  # the engine gates one at a time (see the driver's text)


@pytest.mark.parametrize("kind, error", [("refused", CommandRefused), ("garbage", UnparseableReply)])
def test_injected_faults_reach_the_driver_as_typed_errors(kind, error):
    with mad_bench((1,)) as bench:
        bench.simulator.inject("calculators", kind, command="<?xml")
        calc = bench.calculators[1]
        calc.configure(0.6, 3)
        with pytest.raises(error, match="bindErrorCalculatorsReq"):
            calc.start()


def test_counting_through_a_gate_is_unconfirmed_and_needs_the_shops_opt_in():
    from instruments.errors import UnconfirmedCommand

    with mad_bench((1,)) as bench:
        caps = bench.capabilities["calculators"]
        assert caps.pulse_count is False and caps.positions == 1 and caps.unconfirmed
        with pytest.raises(UnconfirmedCommand, match="allow_unconfirmed"):
            bench.calculators[1].count_start()
        assert sim_of(bench, 1).log == []  # refused before anything was sent
    with mad_bench((1,), allow_unconfirmed=True) as bench:
        assert bench.capabilities["calculators"].pulse_count is True
        _energised(bench)
        calc = bench.calculators[1]
        calc.count_start()
        bench.clock.sleep(60.0)
        pulses, seconds = calc.count_read()
        assert seconds == pytest.approx(60.0) and pulses >= 2  # a loaded meter pulses every few seconds
        calc.stop()


def test_one_mad_endpoint_serves_one_position():
    d = bench_dict([meter(p) for p in (1, 2)], three_phase=False)
    d["instruments"]["calculators"] = {"driver": "zera_mad", "resource": "TCPIP0::10.0.0.101::14207::SOCKET",
                                       "positions": [1, 2]}  # fmt: skip
    with pytest.raises(InputError, match="driver zera_mad serves at most 1 position"):
        open_bench(parse_bench_config(d))


def test_place_id_option_and_evaluation_source_reach_the_bind_document():
    with mad_bench((1,), options={"place_id": 7, "evaluation_source": "src-s0-3"}) as bench:
        _energised(bench)
        calc = bench.calculators[1]
        calc.configure(0.6, 3)
        calc.start()
        bind = sim_of(bench, 1).log[0].message
        assert "<placeId>07</placeId>" in bind and "<evaluationSrc>src-s0-3</evaluationSrc>" in bind
        assert finish(bench, calc).meter_pulses == 3


# ---- a run through the engine, and a gate over a real socket ----------------------------------------------
PLAN_HEAD = """id = "mad-accuracy"
title = "2S accuracy points only (a MAD calculator cannot count creep or starting)"
standard = "ANSI C12.20"
version = "test"
forms = ["2S"]
class_family = "ansi"
classes = ["0.1", "0.2", "0.5"]
decision_rule = "simple"
target_share = 0.25
limits = "ansi-c12.20-shop"
current_of = "TA"
"""


def test_engine_run_on_three_mad_positions_recovers_the_meters_errors_within_u(tmp_path):
    text = (ROOT / "examples" / "2s-board.toml").read_text()
    mads = "".join(
        f'[[instruments.calculators]]\ndriver = "zera_mad"\nresource = "TCPIP0::10.0.0.{100 + p}::14207::SOCKET"\n'
        f"positions = [{p}]\n\n"
        for p in (1, 2, 3)
    )
    text = re.sub(r"\[instruments\.calculators\]\n(.+\n)+?\n", mads, text)
    assert text.count('driver = "zera_mad"') == 3
    bench = tmp_path / "mad.toml"
    bench.write_text(text)
    shipped = (ROOT / "procedures" / "data" / "plans" / "ansi-c12.20-2s.toml").read_text()
    points = [b for b in shipped.split("[[points]]")[1:] if 'kind = "accuracy"' in b]
    plan = tmp_path / "plan.toml"
    plan.write_text(PLAN_HEAD + "".join("[[points]]" + b for b in points))
    db = f"sqlite:///{tmp_path / 'r.sqlite'}"
    out = tmp_path / "run.json"
    main(
        [
            "run",
            "--bench",
            str(bench),
            "--plan",
            str(plan),
            "--db",
            db,
            "--json",
            str(out),
            "--no-certificates",
        ]
    )
    doc = json.loads(out.read_text())
    truth = {1: {"LL": 0.30, "FL": -0.10, "PF": -0.40}, 2: {"LL": 0.05, "FL": 0.05, "PF": 0.05}}
    got = {(p["position"], p["label"]): p for p in doc["points"]}
    assert {k[0] for k in got} == {1, 2, 3}
    for pos, labels in truth.items():
        for label, err in labels.items():
            p = got[(pos, label)]
            assert abs(p["error_percent"] - err) <= p["expanded_uncertainty_percent"], (pos, label, p)
            assert p["verdict"] == "pass"
    store = RecordStore.open(db)
    try:
        run = store.run_record(doc["run"]["id"])
        readings = [r for p in run["points"] for r in p["readings"]]
        assert readings and all(
            abs(r["instrument_error_percent"] - r["error_percent"]) < 2e-4 for r in readings
        )  # the rack's lastDeviationRaw agrees with %R from the counts it saw
    finally:
        store.close()


def test_one_gate_over_a_real_socket_through_pyvisa_py():
    with mad_bench((1,)) as bench:
        _energised(bench)
        device = bench.simulator.library.device("TCPIP0::10.0.0.101::14207::SOCKET")
        rm = pyvisa.ResourceManager("@py")
        with EmulatorServer(device, lifetime_s=30.0) as server:
            res = rm.open_resource(server.tcp_resource)
            try:
                rack = mad.ZeraMAD(DriverContext(res, f"zera_mad {server.tcp_resource}", bench.clock, {}))
                rack.kr_wh = bench.config.reference.kr_wh
                calc = rack.calculators((1,))[1]
                assert rack.identify() == "ZERA MAD server MeterBench-SIM, version 1.04"
                calc.configure(0.6, 6)
                calc.start()
                result = finish(bench, calc)
                assert result.meter_pulses == 6 and result.ref_pulses == pytest.approx(360000, rel=0.01)
                rack.safe_state()
                assert rack.confirm_safe() == []
            finally:
                res.close()
                rm.close()
        assert server.connections_served == 1
        assert sim_of(bench, 1).log[0].message == VERSION  # what the socket carried, as sent
