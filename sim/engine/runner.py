"""Run a scenario: build the world per layout, simulate, check invariants, write outputs.

``run_scenario`` is what ``pmrsim run`` calls. Outputs in the run folder:
``summary.json``, ``trace.jsonl``, ``gas.csv``, ``report.html`` (formats in
``reports/FORMATS.md``). With several layouts the first one's outputs are
at the top of the folder and each further layout has a full run folder in
``layouts/<name>/``; ``summary.json`` then compares them.
"""

from __future__ import annotations

import contextlib
import gc
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sim.engine.calendar import calendar_shift
from sim.engine.invariants import Violation, check_all
from sim.engine.offload import BIG_RUN_PATIENTS, Offload, Pending, spare_core
from sim.engine.summary import (
    SUMMARY_SCHEMA,
    TRACE_FORMAT,
    gas_csv_text,
    gas_stats,
    latency_stats,
    summary_text,
)
from sim.engine.trace import TraceWriter
from sim.engine.world import DAY, World

if TYPE_CHECKING:
    from reports.render import PreparedTrace

@dataclass
class RunResult:
    """What a run produced."""

    out_dir: Path
    summary: dict[str, Any]
    unexpected: list[str]  # violations not expected, and expected ones that did not occur

    @property
    def ok(self) -> bool:
        """True when the run met its expectations."""
        return not self.unexpected


def run_scenario(scenario: Any, out_dir: Path, *, backend: str | None = None,
                 progress: bool | None = None, render: bool = True) -> RunResult:
    """Simulate every layout of ``scenario`` into ``out_dir``; see the module docstring.

    ``render``: draw ``report.html`` (a replay, which compares the rest, need not).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    results = []
    for i, layout in enumerate(scenario.layouts):
        folder = out_dir if i == 0 else out_dir / "layouts" / layout
        folder.mkdir(parents=True, exist_ok=True)
        results.append(_run_layout(scenario, layout, folder, backend=backend, progress=progress,
                                   render=render))
    primary = results[0]
    if len(results) > 1:
        primary.summary["layouts"] = {
            r.summary["layout"]: {"gas": r.summary["gas"],
                                  "gas_per_patient_year": r.summary["gas_per_patient_year"],
                                  "gas_setup": r.summary["gas_setup"],
                                  "steady_state": r.summary["steady_state"],
                                  "counts": r.summary["counts"],
                                  "invariants": r.summary["invariants"],
                                  "report": _report_link(r.out_dir, out_dir)}
            for r in results
        }
        primary.summary["unexpected"] = [u for r in results for u in r.unexpected]
        _write_summary(out_dir, primary.summary)
        if render:
            _render(out_dir)
    return RunResult(out_dir, primary.summary, [u for r in results for u in r.unexpected])


def _report_link(folder: Path, top: Path) -> str:
    """A layout's report, relative to the top run folder (``report.html`` for the first)."""
    return (folder / "report.html").relative_to(top).as_posix()


def _run_layout(scenario: Any, layout: str, folder: Path, *, backend: str | None,
                progress: bool | None, render: bool = True) -> RunResult:
    with _young_collections_only():  # see there: a run makes almost no reference cycles
        return _run_layout_body(scenario, layout, folder, backend=backend, progress=progress,
                                render=render)


def trace_header(scenario: Any, layout: str, backend: str) -> dict[str, Any]:
    """The fields of a trace's opening ``run`` record: what made the run, so that
    ``pmrsim replay`` can make it again (the scenario as validated, the layout, the
    backend, and :func:`~sim.engine.provenance.build_info`)."""
    from sim.engine.provenance import build_info

    return {"format": TRACE_FORMAT, "scenario": scenario.to_public_dict(), "layout": layout,
            "backend": backend, **build_info()}


def _run_layout_body(scenario: Any, layout: str, folder: Path, *, backend: str | None,
                     progress: bool | None, render: bool = True) -> RunResult:
    wall = time.perf_counter()
    trace_path = folder / "trace.jsonl"
    trace = TraceWriter(trace_path)
    world = None
    try:
        try:
            trace.write("run", 0.0, **trace_header(scenario, layout,
                                                   backend or scenario.chain.backend))
            world = World(scenario, layout, trace, backend=backend)
            world.start()
            world.driver.on_block.append(_collect_young)
            _simulate(world, progress)
            trace.finish(world.env.now, counts=_counts(world),
                         txs={"total": world.driver.txs, "reverted": world.driver.reverted},
                         blocks=world.chain.block_number,
                         state_root="0x" + world.chain.state_root().hex())
        finally:
            trace.close()
        with _prepare_aside(world, trace_path, render) as prepared:  # drawn while checked
            checks = check_all(world, trace_path)
            checked, violations = checks.checked, checks.violations
            expected = list(scenario.expect_violations.get(layout, []))
            unexpected = _unexpected(layout, violations, expected)
            summary = _summary(world, scenario, layout, checked, violations, expected,
                               time.perf_counter() - wall)
            summary["invariants"]["skipped"] = [{"name": s.name, "reason": s.reason}
                                                for s in checks.skipped]
            big = scenario.population.patients >= BIG_RUN_PATIENTS
            # while the trace is prepared; a big run's world goes first, for the memory peak
            figures = None if big or not render else _summary_figures(summary)
            report_trace = prepared.result() if prepared is not None else None
    finally:
        if world is not None:
            world.close()  # the worker and the scratch stores go once the checks are done
    del world  # the run's state (a city's is gigabytes) goes before the report is drawn
    if big:
        gc.collect()  # simulation processes and the world refer to each other
    _write_summary(folder, summary)
    _write_gas_csv(folder / "gas.csv", summary["gas"])
    if render:
        _render(folder, report_trace, figures)
    return RunResult(folder, summary, unexpected)


#: From this size the report's reading of a run's trace (and the figures drawn from it
#: alone) is done by a worker process while the main process checks the run; below it,
#: starting the worker costs more than it saves.
PREPARE_ASIDE_BYTES = 2 << 20


@contextlib.contextmanager
def _prepare_aside(world: World, trace_path: Path,
                   render: bool = True) -> Iterator[Pending[PreparedTrace] | None]:
    """:func:`reports.render.prepare_trace` of ``trace_path``: on the second core when there
    is one and the trace is big enough (the world's own worker, or one started for it),
    else inline when asked for. Either way the report is the same (tested). Nothing when
    no report is drawn (``render`` false)."""
    if not render:
        yield None
        return
    from reports.render import prepare_trace

    if world.offload.workers:
        yield world.offload.submit(prepare_trace, trace_path)
        return
    big = trace_path.stat().st_size >= PREPARE_ASIDE_BYTES
    offload = Offload(1 if big and spare_core() else 0)
    try:
        yield offload.submit(prepare_trace, trace_path)
    finally:
        offload.close()


#: Tracked objects allocated (net) before the young generations are collected while a
#: run's objects are made (see :func:`_young_collections_only`).
YOUNG_OBJECTS = 1_000_000


@contextlib.contextmanager
def _young_collections_only() -> Iterator[None]:
    """No automatic cyclic collections; :func:`_collect_young` collects the young generations.

    A run makes millions of lasting objects (trie nodes, stores, trace lines
    held) and almost no reference cycles (65 cyclic objects in a 20,000-patient
    city slice, 406 in the chain-bound IoMT case; py-evm leaves ~4 a
    transaction). Python's automatic collector nevertheless scans the whole
    heap now and then: ~6% of the IoMT case and ~3% of a city slice, finding
    nothing. So the young generations are collected every
    :data:`YOUNG_OBJECTS` allocations (each object is scanned about once, and
    a cycle that dies young is freed), and the old one not at all until the
    run is over; the collector's state is restored afterwards.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _collect_young(_block: object = None) -> None:
    """Collect the young generations once :data:`YOUNG_OBJECTS` objects were allocated (a
    block hook)."""
    if gc.get_count()[0] > YOUNG_OBJECTS:
        gc.collect(1)


def _simulate(world: World, progress: bool | None) -> None:
    """Run the world's processes to the end of the scenario (with a progress bar on a TTY)."""
    _advance(world, progress)


def _advance(world: World, progress: bool | None) -> None:
    end = world.duration + 2 * world.sc.chain.block_time + 3600
    show = sys.stderr.isatty() if progress is None else progress
    if not show:
        if progress is None and world.sc.population.patients >= BIG_RUN_PATIENTS:
            _advance_logged(world, end)  # a long run into a log: a line every tenth
        else:
            world.env.run(until=end)
        return
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("[bold]{task.description}"), BarColumn(),
                  TextColumn("day {task.completed:.1f}/{task.total:.1f}"),
                  TextColumn("{task.fields[txs]} txs"),
                  TimeElapsedColumn(), transient=True) as bar:
        task = bar.add_task(f"{world.sc.name} ({world.layout})", total=end / DAY, txs=0)
        step = max(end / 400, 60.0)
        t = 0.0
        while t < end:
            t = min(end, t + step)
            world.env.run(until=t)
            bar.update(task, completed=t / DAY, txs=world.driver.txs)


def _advance_logged(world: World, end: float) -> None:
    """Run to ``end``, writing a plain progress line to stderr at every tenth of it."""
    started = time.perf_counter()
    for tenth in range(1, 11):
        world.env.run(until=end * tenth / 10)
        minutes = (time.perf_counter() - started) / 60
        print(f"{world.sc.name} ({world.layout}): day {world.env.now / DAY:.1f} of "
              f"{end / DAY:.1f}, {world.driver.txs:,} txs, {minutes:.1f} min", file=sys.stderr,
              flush=True)


def is_expected(name: str, expected: Sequence[str]) -> bool:
    """Whether violation ``name`` is listed in ``expected``, itself or by its family
    (``operations`` covers ``operations:LabReports.post``)."""
    return name in expected or name.partition(":")[0] in expected


def _unexpected(layout: str, violations: list[Violation], expected: list[str]) -> list[str]:
    names = {v.name for v in violations}
    out = [f"{layout}: {v.name}: {v.detail}" for v in violations
           if not is_expected(v.name, expected)]
    out += [f"{layout}: expected violation {name} did not occur" for name in expected
            if not any(n == name or n.partition(":")[0] == name for n in names)]
    return out


def _summary(world: World, scenario: Any, layout: str, checked: list[str],
             violations: list[Violation], expected: list[str], wall: float) -> dict[str, Any]:
    from sim.engine.steady import gas_setup, steady_state
    from sim.gas import BASELINE_PATH, load_baseline

    ops = world.driver.ops
    gas = {op: gas_stats(s.gas) for op, s in sorted(ops.items()) if s.gas}
    latency = {op: latency_stats(s.latency) for op, s in sorted(ops.items()) if s.latency}
    table = load_baseline(BASELINE_PATH)
    steady = steady_state(scenario, gas, layout=layout, table=table)
    chain = scenario.chain
    swarm = world.swarm
    counters = swarm.counters
    counts = _counts(world)
    txs = world.driver.txs
    per_visit = steady["gas_per_visit"]
    return {
        "schema": SUMMARY_SCHEMA,
        "scenario": scenario.name,
        "description": scenario.description,
        "seed": scenario.seed,
        "backend": world.backend,
        "layout": layout,
        "token": scenario.token,
        "sim_seconds": world.duration,
        "counts": counts,
        "txs": {"total": txs, "reverted": world.driver.reverted,
                "per_s_wall": round(txs / wall, 1) if wall else 0.0},
        "gas": gas,
        "gas_per_patient_year": steady["gas_per_patient_year"],
        "gas_setup": gas_setup(scenario, gas, deployment=world.driver.setup_gas, layout=layout,
                               table=table),
        "steady_state": steady,
        "latency": latency,
        "capacity": {"block_time": chain.block_time, "block_gas_limit": chain.block_gas_limit,
                     "gas_per_second": round(chain.block_gas_limit / chain.block_time, 1),
                     "gas_per_visit": per_visit,
                     "visits_per_day": int(chain.block_gas_limit * DAY / chain.block_time
                                           / per_visit) if per_visit else 0},
        "storage": {"nodes": swarm.bytes_stored(), "records": len(world.studies),
                    "bytes_logical": sum(s.size for s in world.studies),
                    "bytes_stored": sum(swarm.bytes_stored().values()),
                    "retrievals": counters.retrievals,
                    "retrieval_failures": counters.retrieval_failures,
                    "corrupt_blocks": counters.corrupt_blocks_detected,
                    "repairs": counters.repairs,
                    "bytes_repaired": counters.bytes_repaired,
                    "node_departures": counters.departures,
                    "node_returns": counters.rejoins,
                    "failures": world.trace.tally["storage", "failure"]},
        **world.accounts.as_dict(),
        "invariants": {"checked": len(checked), "names": checked,
                       "violations": [{"name": v.name, "detail": v.detail,
                                       "expected": is_expected(v.name, expected)}
                                      for v in violations],
                       "expected": expected},
        "state_root": "0x" + world.chain.state_root().hex(),
        **({"calendar_shift": shift} if (shift := calendar_shift(scenario)) else {}),
        "wall_seconds": round(wall, 2),
    }


def _counts(world: World) -> dict[str, int]:
    """The run's counts: the documented ones first (zero when none), then the rest by name;
    ``denied`` counts the attempts (attacks and late accesses) denied for an expected reason."""
    tallies = world.counts.copy()
    tallies["denied"] = sum(a.denied for a in world.accounts.attacks.values())
    # what the report's access chart draws: the trace's access records
    tallies["records_released"] = world.trace.tally["access", "released"]
    tallies["access_denied"] = world.trace.tally["access", "denied"]
    counts = {k: tallies[k] for k in ("hospitals", "doctors", "patients", "visits",
                                      "pmr_tokens", "lab_reports", "grants", "accesses", "denied")}
    counts.update({k: v for k, v in sorted(tallies.items()) if k not in counts})
    return counts


def _write_summary(folder: Path, summary: dict[str, Any]) -> None:
    (folder / "summary.json").write_text(summary_text(summary), encoding="utf-8")


def _write_gas_csv(path: Path, gas: dict[str, dict[str, float]]) -> None:
    path.write_text(gas_csv_text(gas), encoding="utf-8", newline="")


def _summary_figures(summary: dict[str, Any]) -> dict[str, str | None]:
    from reports.render import summary_figures  # loaded already by _prepare_aside

    return summary_figures(summary)


def _render(folder: Path, prepared: PreparedTrace | None = None,
            figures: dict[str, str | None] | None = None) -> None:
    from reports import render_report  # matplotlib loads only here

    render_report(folder, prepared=prepared, figures=figures)
