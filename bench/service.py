"""The run service: the one way a run is checked, prepared, run, resumed, retested and certified.

The command line and the GUI are two faces over it: a CLI command parses its arguments into a
:class:`~bench.session.RunRequest` and calls the service; the GUI's worker does the same from its own
thread (with its questions, its event pump and the bench it keeps open between runs). Both get the same
validation before anything is opened, the same kernel, the same run JSON and the same certificates.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path

from bench.kernel import KernelSettings, Listener, RunKernel, RunOutcome
from bench.meters import LoadedMeter
from bench.session import RunRequest, open_store, prepare, whoami
from procedures.errors import InputError


class RunService:
    """Runs on one records store (opened on first use from ``db_url`` unless given)."""

    def __init__(self, store=None, db_url: str | None = None) -> None:
        self._store = store
        self.db_url = db_url

    @property
    def store(self):
        if self._store is None:
            self._store = open_store(self.db_url)
        return self._store

    # ---- checking the bench ------------------------------------------------------------------------
    @staticmethod
    def check_bench(bench) -> tuple[dict, bool]:
        """Ask every instrument of an open bench who it is, leave it safe: ({role: {ok, text}}, healthy)."""
        out: dict = {}
        healthy = True
        try:
            for role, inst in (("source", bench.source), ("reference", bench.reference)):
                try:
                    out[role] = {"ok": True, "text": inst.identify()}
                except Exception as exc:  # noqa: BLE001 - shown to the technician, never a crash
                    out[role], healthy = {"ok": False, "text": str(exc)}, False
            seen = set()
            for pos, calc in sorted(bench.calculators.items()):
                key = id(getattr(calc, "rack", calc))
                if key in seen:
                    continue
                seen.add(key)
                try:
                    calc.poll()
                    out[f"calculator {pos}"] = {"ok": True, "text": calc.name}
                except Exception as exc:  # noqa: BLE001
                    out[f"calculator {pos}"], healthy = {"ok": False, "text": str(exc)}, False
        finally:
            bench.safe_state()
        return out, healthy

    # ---- requests from a recorded run ----------------------------------------------------------------
    def resume_request(
        self,
        run_id: int,
        base: RunRequest | None = None,
        *,
        bench_file: str | None = None,
        manifest: str | None = None,
    ) -> RunRequest:
        """What resuming an interrupted run needs, from its record (bench file, plan, meters, operator)."""
        record = self.store.run_record(run_id)
        run = record["run"]
        if run["status"] != "interrupted":
            raise InputError(
                "RUN_ID",
                f"run {run_id} is {run['status']}; only an interrupted run can be resumed",
                allowed="an interrupted run (see `meterbench runs --outcome interrupted`)",
            )
        meters = (run.get("settings") or {}).get("meters") or {}
        base = base or RunRequest(bench_file="", plan="")
        return replace(
            base,
            bench_file=bench_file or base.bench_file or record["bench"]["config"].get("path"),
            plan=run["plan_id"],
            manifest=manifest,
            operator=run["operator"],
            meters=None if manifest else [LoadedMeter(**m) for m in meters.values()] or None,
        )

    def retest_request(
        self, run_id: int, base: RunRequest | None = None, *, bench_file: str | None = None
    ) -> RunRequest:
        """What retesting a point of a finished run needs, from its record."""
        record = self.store.run_record(run_id)
        run = record["run"]
        meters = (run.get("settings") or {}).get("meters") or {}
        if not meters:
            raise InputError(
                "RUN_ID",
                f"run {run_id} has no recorded meters to retest",
                allowed="a run recorded by `meterbench run`",
            )
        base = base or RunRequest(bench_file="", plan="")
        return replace(
            base,
            bench_file=bench_file or base.bench_file or record["bench"]["config"].get("path"),
            plan=run["plan_id"],
            operator=base.operator or run["operator"],
            meters=[LoadedMeter(**m) for m in meters.values()],
        )

    # ---- running -------------------------------------------------------------------------------------
    def execute(
        self,
        req: RunRequest,
        listeners: Iterable[Listener] = (),
        *,
        bench=None,
        on_kernel: Callable[[RunKernel], None] | None = None,
        resume_run: int | None = None,
        retest: dict | None = None,
    ) -> RunOutcome:
        """Run (or resume, or retest a point of) a run; writes the run JSON when asked. ``bench``: an
        already opened bench (the GUI keeps one checked between runs); it is closed here either way."""
        from instruments.bench import open_bench

        try:
            prep = prepare(req)
        except BaseException:
            if bench is not None:
                bench.close()  # a bench opened ahead of the run is closed on every path
            raise
        store = self.store
        bench = bench or open_bench(prep.config, speed=req.speed)
        try:
            kernel = RunKernel(
                bench,
                store,
                prep.plan,
                prep.meters,
                operator=req.operator or whoami(),
                settings=req.settings,
                listeners=listeners,
                environment=req.environment,
            )
            if on_kernel:
                on_kernel(kernel)
            if retest is not None:
                outcome = kernel.retest(**retest)
            elif resume_run is not None:
                outcome = kernel.resume(resume_run)
            else:
                outcome = kernel.run()
        finally:
            bench.close()  # safe state first, then the connections
        if req.json_out:  # "{run_id}" in the path is the run's id (the GUI names each run's file so)
            self.write_json(outcome.run_id, str(req.json_out).replace("{run_id}", str(outcome.run_id)))
        return outcome

    def run(self, req: RunRequest, listeners: Iterable[Listener] = (), **kw) -> RunOutcome:
        return self.execute(req, listeners, **kw)

    def resume(self, run_id: int, req: RunRequest, listeners: Iterable[Listener] = (), **kw) -> RunOutcome:
        return self.execute(req, listeners, resume_run=run_id, **kw)

    def retest(
        self,
        req: RunRequest,
        listeners: Iterable[Listener] = (),
        *,
        run_id: int,
        point_id: str,
        reason: str,
        positions=None,
        test_pass: str | None = None,
        **kw,
    ) -> RunOutcome:
        retest = {
            "run_id": run_id,
            "point_id": point_id,
            "reason": reason,
            "positions": positions,
            "test_pass": test_pass,
        }
        return self.execute(req, listeners, retest=retest, **kw)

    # ---- outputs -------------------------------------------------------------------------------------
    def write_json(self, run_id: int, path: str | Path) -> Path:
        from bench.runjson import write_run_json

        return write_run_json(self.store.run_record(run_id), path)

    def issue(self, run_id: int, out_dir=None, *, sign: bool = False, positions=None, signer=None, lab=None):
        """Issue and record a certificate per meter of the run (under ``lab``, else the run's own)."""
        from bench.certify import issue_for_run

        return issue_for_run(
            self.store, run_id, out_dir, sign=sign, positions=positions, signer=signer, lab=lab
        )

    def issue_one(self, run_id: int, position: int, out_dir, *, signer=None, lab=None, approved_by=None):
        """Issue and record one position's certificate (the GUI's Issue button)."""
        from bench.certify import build_certificate_data
        from bench.readmodel import laboratory_to_dict
        from reports.issue import issue_certificate

        data = build_certificate_data(
            self.store.run_record(run_id), position, lab=lab, approved_by=approved_by
        )
        cert = issue_certificate(data, out_dir, signer=signer)
        self.store.record_certificate(
            run_id,
            position,
            number=cert.certificate_number,
            content_hash=cert.content_hash,
            pdf_path=str(cert.pdf_path),
            dcc_path=str(cert.dcc_path) if cert.dcc_path else None,
            laboratory=laboratory_to_dict(data.laboratory),
        )
        return cert


def default_settings() -> KernelSettings:
    return KernelSettings()
