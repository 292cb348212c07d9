"""Sweeps: a grid of scenario overrides times seeds, run as independent points on Dask.

A sweep file is a YAML mapping validated into :class:`SweepFile`, as strictly
as a scenario (unknown keys and bad values are :class:`~sim.errors.InputError`
naming the file and the key path)::

    name: batching-window
    description: gas per patient-year vs IoMT batching window
    scenario: ../scenarios/iomt.yaml     # relative to the sweep file
    seeds: [1, 2, 3]                     # or {count: 3}: seeds 1..3
    grid:                                # cartesian product of override lists
      workload.iomt_window_minutes: [15, 30, 60, 120]
    fixed: {duration_days: 1}            # applied to every point
    metrics: [gas_per_patient_year, latency.PMRToken.mint.p95]
    plots: [{x: workload.iomt_window_minutes, y: gas_per_patient_year}]

:func:`load_sweep` reads the file and checks every grid point against the
scenario (``load_scenario(path, overrides, seed=...)``) before anything runs.
:func:`run_sweep` submits one task per (point, seed) to a Dask
``LocalCluster`` (or to the scheduler at an address); each task runs
:func:`~sim.engine.runner.run_scenario` into ``OUT/points/<index>-seed<seed>/``
and returns a small row (:func:`run_point`). A task that raises is reported
as a failed row; the others still complete. The rows are written to
``sweep.csv``, ``sweep.json`` and ``sweep.html`` (``docs/sweeps.md``).

A point is the same run ``pmrsim run SCENARIO --set K=V ... --seed S`` would
make: same overrides and seed, same state root.
"""

from __future__ import annotations

import csv
import itertools
import json
import logging
import math
import os
import re
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError

from sim.engine.bounds import Limits, check
from sim.engine.scenario import (
    Scenario,
    _dotted,
    _show,
    _yaml_problem,
    apply_override,
    load_scenario,
    load_yaml,
    read_yaml_text,
)
from sim.errors import InputError
from sim.outputs import staged_output

#: The ``schema`` value of sweep files.
SCHEMA: Literal["pmrsim.sweep/1"] = "pmrsim.sweep/1"
#: The ``schema`` value of ``sweep.json``.
RESULT_SCHEMA = "pmrsim.sweep-result/1"

#: Metrics picked from each point's ``summary.json`` when the file names none.
DEFAULT_METRICS = (
    "gas_per_patient_year",
    "txs.total",
    "txs.reverted",
    "counts.visits",
    "capacity.gas_per_visit",
    "capacity.visits_per_day",
    "storage.bytes_stored",
)
#: Top-level keys of ``summary.json`` (``reports/FORMATS.md``) that a metric may start with.
SUMMARY_KEYS = (
    "schema", "scenario", "description", "seed", "backend", "layout", "token", "sim_seconds",
    "counts", "txs", "gas", "gas_per_patient_year", "gas_setup", "steady_state", "latency",
    "capacity", "storage", "operations", "attacks", "invariants", "layouts", "unexpected",
    "state_root", "wall_seconds",
)
#: Columns of every row besides the grid keys and the metrics.
FIXED_COLUMNS = ("index", "seed", "ok", "error", "state_root", "wall_seconds", "report")
#: Most runs (points times seeds) one sweep may make.
MAX_RUNS = 10_000

_KEY_PATH = r"^[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*$"
_METRIC_PATH = r"^[A-Za-z0-9_]+(\.[A-Za-z0-9_:-]+)*$"


# --- schema ----------------------------------------------------------------------------------------


def _custom(path: str, text: str, got: Any = None, *, show_got: bool = True) -> PydanticCustomError:
    """An error at ``path`` (dotted, relative to the model validated) with its own text."""
    return PydanticCustomError("pmrsim", "{path}: {text}",
                               {"path": path, "text": text, "got": got, "show_got": show_got})


class _Strict(BaseModel):
    """Unknown keys are errors, instances are immutable, no type coercion (``true`` is not ``1``)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


class PlotSpec(_Strict):
    """One figure of ``sweep.html``: metric ``y`` against grid key ``x``, one line per value of ``by``."""

    x: str = Field(description="A grid key: the horizontal axis.")
    y: str = Field(description="A metric: the vertical axis (mean over seeds, bars min to max).")
    by: str | None = Field(default=None, description="A grid key: one line per value (optional).")


class SweepFile(_Strict):
    """A sweep: which scenario, which seeds, which overrides to combine, what to measure and plot."""

    schema_: Literal["pmrsim.sweep/1"] = Field(
        default=SCHEMA, alias="schema", description="Format of the file (optional).")
    name: str = Field(
        pattern=r"^[a-z0-9_-]+$", description="Short name: lower-case letters, digits, _ and -.")
    description: str = Field(min_length=1, description="What the sweep measures, in a sentence.")
    scenario: str = Field(min_length=1, description="The scenario file, relative to the sweep file.")
    seeds: list[int] = Field(
        min_length=1, description="Seeds each point runs with: a list, or {count: N} for 1..N.")
    grid: dict[str, list[Any]] = Field(
        default_factory=dict, description="Scenario key path -> values; the points are their product.")
    fixed: dict[str, Any] = Field(
        default_factory=dict, description="Scenario key path -> value, applied to every point.")
    metrics: list[str] = Field(
        default_factory=lambda: list(DEFAULT_METRICS), min_length=1,
        description="Dotted paths into summary.json, one column each.")
    plots: list[PlotSpec] = Field(
        default_factory=list,
        description="Figures of sweep.html; when absent, the first metric vs the first grid key.")
    workers: int | None = Field(default=None, ge=1, description="LocalCluster workers (default: cores).")

    @field_validator("seeds", mode="before")
    @classmethod
    def _seed_count(cls, value: Any) -> Any:
        """``{count: N}`` is short for ``[1, ..., N]``; seeds are distinct integers >= 0."""
        if isinstance(value, dict):
            if set(value) != {"count"}:
                extra = sorted(set(value) - {"count"}, key=str)
                if extra:
                    raise _custom(str(extra[0]), "unknown key (known: count)", show_got=False)
                raise _custom("count", "missing (required)", show_got=False)
            count = value["count"]
            if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_RUNS:
                raise _custom("count", f"expected an integer from 1 to {MAX_RUNS}", count)
            return list(range(1, count + 1))
        if isinstance(value, list):
            for index, seed in enumerate(value):
                if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
                    raise _custom(str(index), "expected an integer >= 0", seed)
                if seed in value[:index]:
                    raise _custom(str(index), "expected each seed once", seed)
            return value
        raise _custom("", "expected a list of seeds or {count: N}", value)

    @field_validator("grid")
    @classmethod
    def _grid_lists(cls, grid: dict[str, list[Any]]) -> dict[str, list[Any]]:
        """Each grid key is a dotted key path (not ``seed``) with a non-empty list of distinct values."""
        for key, values in grid.items():
            _check_key(key)
            if not values:
                raise _custom(key, "expected a non-empty list of values", values)
            seen: list[str] = []
            for index, value in enumerate(values):
                text = override_value(value)
                if text in seen:
                    raise _custom(f"{key}.{index}", "expected each value once", value)
                seen.append(text)
        return grid

    @field_validator("fixed")
    @classmethod
    def _fixed_keys(cls, fixed: dict[str, Any]) -> dict[str, Any]:
        """Each fixed key is a dotted key path (not ``seed``)."""
        for key in fixed:
            _check_key(key)
        return fixed

    @field_validator("metrics")
    @classmethod
    def _metric_paths(cls, metrics: list[str]) -> list[str]:
        """Each metric is a dotted path starting with a top-level key of ``summary.json``, once."""
        for index, metric in enumerate(metrics):
            if not re.fullmatch(_METRIC_PATH, metric):
                raise _custom(str(index), "expected a dotted path into summary.json, "
                              "e.g. latency.PMRToken.mint.p95", metric)
            head = metric.split(".", 1)[0]
            if head not in SUMMARY_KEYS:
                raise _custom(str(index), f"unknown summary.json key {head!r} "
                              f"(known: {', '.join(SUMMARY_KEYS)})", metric)
            if metric in FIXED_COLUMNS:
                raise _custom(str(index), f"{metric!r} is already a column of every row", metric)
            if metric in metrics[:index]:
                raise _custom(str(index), "expected each metric once", metric)
        return metrics

    @model_validator(mode="after")
    def _consistent(self) -> SweepFile:
        """Grid and fixed keys differ, metrics are not grid keys, plots name grid keys and metrics."""
        for key in self.fixed:
            if key in self.grid:
                raise _custom(f"fixed.{key}", "also a grid key; give it in one place", show_got=False)
        for index, metric in enumerate(self.metrics):
            if metric in self.grid:
                raise _custom(f"metrics.{index}", "is also a grid key (a column name)", metric)
        grid_keys = ", ".join(self.grid) or "none"
        for index, plot in enumerate(self.plots):
            where = f"plots.{index}"
            if plot.x not in self.grid:
                raise _custom(f"{where}.x", f"expected a grid key (known: {grid_keys})", plot.x)
            if plot.y not in self.metrics:
                raise _custom(f"{where}.y", f"expected one of the metrics ({', '.join(self.metrics)})",
                              plot.y)
            if plot.by is not None and (plot.by not in self.grid or plot.by == plot.x):
                raise _custom(f"{where}.by", f"expected a grid key other than x (known: {grid_keys})",
                              plot.by)
        runs = len(self.seeds) * math.prod(len(v) for v in self.grid.values())
        if runs > MAX_RUNS:
            raise _custom("grid", f"{runs} runs (points x seeds); at most {MAX_RUNS}", show_got=False)
        return self

    def plot_specs(self) -> list[PlotSpec]:
        """The figures to draw: the file's, or the first metric against the first grid key."""
        if "plots" in self.model_fields_set:
            return list(self.plots)
        keys = list(self.grid)
        if not keys:
            return []
        return [PlotSpec(x=keys[0], y=self.metrics[0], by=keys[1] if len(keys) > 1 else None)]


def _check_key(key: str) -> None:
    """A grid or fixed key is a dotted scenario key path; ``seed`` is given by ``seeds``."""
    if not re.fullmatch(_KEY_PATH, key):
        raise _custom(key, "expected a dotted scenario key path, e.g. storage.nodes", key)
    if key == "seed":
        raise _custom(key, "give seeds in `seeds:`, not as an override", show_got=False)


# --- overrides and points --------------------------------------------------------------------------


def override_value(value: Any) -> str:
    """``value`` as YAML text that ``--set key=TEXT`` reads back to the same value.

    >>> [override_value(v) for v in (15, 0.5, "paper", [1, 2], {"xray": 1}, None)]
    ['15', '0.5', 'paper', '[1, 2]', '{xray: 1}', 'null']
    """
    text = yaml.safe_dump(value, default_flow_style=True, width=2**31, allow_unicode=True)
    return text.removesuffix("\n").removesuffix("\n...").removesuffix("\n")


def override(key: str, value: Any) -> str:
    """The ``--set`` assignment ``key=value``."""
    return f"{key}={override_value(value)}"


@dataclass(frozen=True)
class Point:
    """One combination of grid values (``index`` in product order, last key fastest)."""

    index: int
    values: dict[str, Any]

    def overrides(self, fixed: Mapping[str, Any]) -> list[str]:
        """The ``--set`` assignments of this point: the fixed ones, then the grid values."""
        return ([override(k, v) for k, v in fixed.items()]
                + [override(k, v) for k, v in self.values.items()])

    def label(self) -> str:
        """``key=value, ...`` for messages and tables."""
        return ", ".join(f"{k}={override_value(v)}" for k, v in self.values.items()) or "(no grid)"


@dataclass(frozen=True)
class Sweep:
    """A validated sweep file with its scenario resolved and its points checked."""

    path: Path
    spec: SweepFile
    scenario_path: Path  # as named in messages (normalised, relative when the sweep path was)
    scenario: Scenario  # the scenario with the fixed overrides, for reports
    points: list[Point]

    @property
    def runs(self) -> int:
        """Points times seeds."""
        return len(self.points) * len(self.spec.seeds)

    def tasks(self, out_dir: Path) -> list[PointTask]:
        """One task per (point, seed), in point order then seed order.

        A run's folder is ``points/<index>-seed<seed>``, the index padded
        with zeros to the width of the largest, so folders list in point order.
        """
        width = len(str(max(p.index for p in self.points)))
        return [PointTask(index=p.index, seed=seed, values=p.values,
                          overrides=p.overrides(self.spec.fixed),
                          scenario=str(self.scenario_path.resolve()),
                          out_dir=str((out_dir / "points"
                                       / f"{p.index:0{width}d}-seed{seed}").resolve()),
                          metrics=list(self.spec.metrics))
                for p in self.points for seed in self.spec.seeds]


def load_sweep(path: Path) -> Sweep:
    """Read and validate the sweep at ``path``; check every point against its scenario.

    Every point (fixed overrides, then its grid values, with the first seed)
    is validated. Raises :class:`~sim.errors.InputError`, one line naming the
    sweep file and the key (``grid.<key>``, ``fixed``, ``scenario``; a grid
    value ``grid.<key>[i]`` when every point with it fails, else the first
    failing ``grid point <i>``), before anything runs.
    """
    path = Path(path)
    spec = _read_spec(path)
    scenario_path = Path(os.path.normpath(path.parent / spec.scenario))
    try:
        load_scenario(scenario_path)
    except InputError as exc:
        raise InputError(f"{path}: scenario: {exc}") from None
    fixed = [override(k, v) for k, v in spec.fixed.items()]
    for key in [*spec.fixed, *spec.grid]:
        where = "fixed" if key in spec.fixed else "grid"
        try:
            apply_override({}, override(key, None))
        except InputError as exc:
            raise InputError(f"{path}: {where}.{key}: {_strip_set(exc, key)}") from None
    try:
        scenario = load_scenario(scenario_path, fixed)
    except InputError as exc:
        raise InputError(f"{path}: fixed: {exc}") from None
    _check_backend(scenario, f"{path}: fixed")
    points = [Point(i, dict(zip(spec.grid, combo, strict=True)))
              for i, combo in enumerate(itertools.product(*spec.grid.values()))]
    failures: dict[int, str] = {}
    for point in points:
        try:
            one = load_scenario(scenario_path, point.overrides(spec.fixed), seed=spec.seeds[0])
            _check_backend(one, "")
        except InputError as exc:
            failures[point.index] = str(exc).removeprefix(": ")
    if failures:
        raise InputError(_blame(path, scenario_path, spec, points, failures))
    return Sweep(path, spec, scenario_path, scenario, points)


def _strip_set(exc: InputError, key: str) -> str:
    """An override error without its ``--set key=...:`` prefix (the sweep names the key itself)."""
    text = str(exc)
    prefix = f"--set {key}="
    if text.startswith(prefix):
        _, _, rest = text.partition(": ")
        return rest
    return text


def _blame(path: Path, scenario_path: Path, spec: SweepFile, points: Sequence[Point],
           failures: Mapping[int, str]) -> str:
    """The message for points that do not validate: a grid value when every point with it fails, else
    the first failing point (values that must fit together may fail only in some combinations)."""
    fixed = [override(k, v) for k, v in spec.fixed.items()]
    for key, values in spec.grid.items():
        for index, value in enumerate(values):
            text = override_value(value)
            if not all(p.index in failures for p in points if override_value(p.values[key]) == text):
                continue
            try:
                _check_backend(load_scenario(scenario_path, [*fixed, override(key, value)]), "")
            except InputError as exc:
                return f"{path}: grid.{key}[{index}]: {str(exc).removeprefix(': ')}"
    first = min(failures)
    return f"{path}: grid point {first} ({points[first].label()}): {failures[first]}"


def _check_backend(scenario: Scenario, where: str) -> None:
    """Sweeps run on the chain backends that are built (:data:`sim.chain.BACKENDS`)."""
    from sim.chain import BACKENDS

    if scenario.chain.backend not in BACKENDS:
        raise InputError(f"{where}: chain.backend {scenario.chain.backend!r} is not built yet "
                         f"(available: {', '.join(sorted(BACKENDS))})")


def _read_spec(path: Path) -> SweepFile:
    """The validated :class:`SweepFile` at ``path``."""
    text = read_yaml_text(path, "a sweep YAML file")
    try:
        data = load_yaml(text)  # refuses duplicate keys and alias bombs
    except yaml.YAMLError as exc:
        raise InputError(f"{path}: {_yaml_problem(exc)}") from None
    except ValueError as exc:  # e.g. an integer of more digits than Python converts
        raise InputError(f"{path}: invalid value: {exc}") from None
    if not isinstance(data, dict):
        got = "an empty file" if data is None else _show(data)
        raise InputError(f"{path}: expected a mapping of sweep keys at the top level, got {got}")
    try:
        return SweepFile.model_validate(data)
    except ValidationError as exc:
        raise InputError(_explain(str(path), exc)) from None


_TYPES = {"string_type": "a string", "int_type": "an integer", "list_type": "a list",
          "dict_type": "a mapping", "model_type": "a mapping", "model_attributes_type": "a mapping",
          "float_type": "a number", "bool_type": "a boolean"}


def _explain(source: str, exc: ValidationError) -> str:
    """``source: key.path: what was expected, got ...`` for the first error (and how many more)."""
    lines = []
    for err in exc.errors(include_url=False):
        loc: list[str | int] = [p for p in err["loc"] if p != "[key]"]
        ctx = err.get("ctx") or {}
        got: Any = err.get("input")
        show_got = True
        kind = err["type"]
        if kind == "pmrsim":
            rel = str(ctx["path"])
            if _is_grid_path(loc):  # keys of grid and fixed contain dots themselves
                loc += _grid_tail(rel)
            else:
                loc += [int(p) if p.isdigit() else p for p in rel.split(".") if p]
            text, got, show_got = str(ctx["text"]), ctx.get("got"), bool(ctx.get("show_got", True))
        elif kind == "extra_forbidden":
            model = PlotSpec if "plots" in loc[:1] and len(loc) > 2 else SweepFile
            known = ", ".join(info.alias or name for name, info in model.model_fields.items())
            text, show_got = f"unknown key (known: {known})", False
        elif kind == "missing":
            text, show_got = "missing (required)", False
        elif kind in _TYPES:
            text = f"expected {_TYPES[kind]}"
        elif kind == "literal_error":
            text = f"expected {ctx.get('expected')}"
        elif kind == "string_pattern_mismatch":
            text = f"expected a string matching {ctx.get('pattern')}"
        elif kind == "string_too_short":
            text = "expected a non-empty string"
        elif kind == "too_short":
            text = f"expected at least {ctx.get('min_length')} item(s)"
        elif kind == "greater_than_equal":
            text = f"expected an integer >= {ctx.get('ge')}"
        else:
            text = str(err["msg"]).removeprefix("Value error, ")
        where = _dotted(loc)
        line = f"{where}: {text}" if where else text
        lines.append(line + (f", got {_show(got)}" if show_got else ""))
    more = len(lines) - 1
    return f"{source}: {lines[0]}" + (f" (and {more} more)" if more > 0 else "")


def _is_grid_path(loc: Sequence[str | int]) -> bool:
    """Whether ``loc`` is the ``grid`` or ``fixed`` mapping, whose keys contain dots themselves."""
    return list(loc) in (["grid"], ["fixed"])


def _grid_tail(path: str) -> list[str | int]:
    """``workload.x.3`` -> ``["workload.x", 3]`` (a grid key, then maybe a value index)."""
    head, _, last = path.rpartition(".")
    if head and last.isdigit():
        return [head, int(last)]
    return [path]


# --- running ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PointTask:
    """What one Dask task needs: small, picklable, no world."""

    index: int
    seed: int
    values: dict[str, Any]
    overrides: list[str]
    scenario: str  # absolute path of the scenario file
    out_dir: str  # absolute path of the point's run folder
    metrics: list[str] = field(default_factory=list)


def pick(summary: Mapping[str, Any], path: str) -> Any:
    """The value at dotted ``path`` in ``summary``, or None when absent.

    Keys may contain dots themselves (``latency.PMRToken.mint.p95``): at each
    level the longest key that matches is taken. A mapping or a list found at
    the end is returned as compact JSON text.

    >>> pick({"latency": {"PMRToken.mint": {"p95": 12.0}}}, "latency.PMRToken.mint.p95")
    12.0
    >>> pick({"txs": {"total": 3}}, "txs.nothing") is None
    True
    """
    parts = path.split(".")
    node: Any = summary
    i = 0
    while i < len(parts):
        if not isinstance(node, Mapping):
            return None
        for j in range(len(parts), i, -1):
            key = ".".join(parts[i:j])
            if key in node:
                node, i = node[key], j
                break
        else:
            return None
    if isinstance(node, Mapping | list):
        return json.dumps(node, sort_keys=True, separators=(",", ":"))
    return node


def _one_line(exc: BaseException) -> str:
    """``Type: message`` on one printable line."""
    text = " ".join(str(exc).split())
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def run_point(task: PointTask) -> dict[str, Any]:
    """Run one (point, seed) into its folder; return its row (never raises for a failing run).

    The row has ``index``, ``seed``, ``values`` (grid key -> value), ``ok``,
    ``error`` (``""``, ``Type: message`` of an exception, or the unexpected
    invariant violations), ``unexpected``, ``metrics``, ``state_root``,
    ``wall_seconds`` and ``out_dir``.
    """
    from sim.engine.runner import run_scenario

    start = time.perf_counter()
    row: dict[str, Any] = {"index": task.index, "seed": task.seed, "values": dict(task.values),
                           "ok": False, "error": "", "unexpected": [],
                           "metrics": dict.fromkeys(task.metrics), "state_root": None,
                           "wall_seconds": 0.0, "out_dir": task.out_dir}
    try:
        scenario = load_scenario(Path(task.scenario), task.overrides, seed=task.seed)
        with staged_output(Path(task.out_dir), command="run", option=None) as stage:
            result = run_scenario(scenario, stage.path, progress=False)  # whole or absent
    except Exception as exc:  # a failing point is a row, not the end of the sweep
        row["error"] = _one_line(exc)
    else:
        row["ok"] = result.ok
        row["unexpected"] = list(result.unexpected)
        if result.unexpected:
            row["error"] = "unexpected invariant results: " + "; ".join(result.unexpected)
        row["metrics"] = {m: pick(result.summary, m) for m in task.metrics}
        row["state_root"] = result.summary.get("state_root")
    row["wall_seconds"] = round(time.perf_counter() - start, 2)
    return row


@dataclass
class SweepResult:
    """What a sweep produced: one row per (point, seed), in point then seed order."""

    sweep: Sweep
    out_dir: Path
    rows: list[dict[str, Any]]
    wall_seconds: float

    @property
    def failed(self) -> list[dict[str, Any]]:
        """Rows that raised or broke their invariants."""
        return [r for r in self.rows if not r["ok"]]

    @property
    def ok(self) -> bool:
        """True when every point ran and met its invariants."""
        return not self.failed


#: Called with (row, done, total) after each task completes.
OnRow = Callable[[dict[str, Any], int, int], None]


def refused(sweep: Sweep, tasks: Sequence[PointTask], limits: Limits) -> dict[int, str]:
    """Points whose estimate passes ``limits`` (:func:`sim.engine.bounds.check`): index -> why.

    The estimate does not depend on the seed, so each point is judged once.
    """
    why: dict[int, str] = {}
    for point in sweep.points:
        task = next((t for t in tasks if t.index == point.index), None)
        if task is None:
            continue
        try:
            check(load_scenario(Path(task.scenario), task.overrides, seed=task.seed), limits)
        except InputError as exc:
            why[point.index] = _one_line(exc)
    return why


def run_sweep(sweep: Sweep, out_dir: Path, *, scheduler: str | None = None,
              workers: int | None = None, on_row: OnRow | None = None,
              progress: bool | None = None, limits: Limits | None = None) -> SweepResult:
    """Run every (point, seed) of ``sweep`` on Dask; write ``sweep.csv``, ``.json`` and ``.html``.

    Without ``scheduler`` a ``LocalCluster`` of ``workers`` processes (default:
    the file's ``workers``, else the cores, at most one per task), one thread
    each, on 127.0.0.1 without a dashboard, is started and stopped here; with
    it, the tasks go to the Dask scheduler at that address (its workers must
    see this file system and have pmrsim installed). ``progress`` shows a bar
    on stderr (None: when stderr is a terminal, else one line per run).
    ``limits``: each point's estimate is checked first (:func:`refused`); the
    runs of a point over them are failed rows with the reason, never started.
    """
    from distributed import Client, LocalCluster, as_completed

    out_dir = Path(out_dir)
    tasks = sweep.tasks(out_dir)
    started = time.perf_counter()
    (out_dir / "points").mkdir(parents=True, exist_ok=True)  # before the points stage their folders
    rows: list[dict[str, Any]] = []
    over = refused(sweep, tasks, limits) if limits is not None else {}
    total = len(tasks)
    with _Progress(sweep, total, progress) as bar:

        def done(row: dict[str, Any]) -> None:
            rows.append(row)
            bar.update(row)
            if on_row is not None:
                on_row(row, len(rows), total)

        for task in tasks:
            if task.index in over:
                done(_lost(task, over[task.index]))
        todo = [t for t in tasks if t.index not in over]
        if todo:
            with _Cluster(Client, LocalCluster, scheduler, workers or sweep.spec.workers,
                          len(todo)) as client:
                futures = {client.submit(run_point, t, pure=False,
                                         key=f"pmrsim-{sweep.spec.name}-{t.index}-seed{t.seed}"
                                             f"-{os.getpid()}-{time.time_ns()}"): t for t in todo}
                for future in as_completed(futures):
                    task = futures[future]
                    try:
                        row = future.result()
                    except Exception as exc:  # the worker died, or the task could not be sent
                        row = _lost(task, exc)
                    done(row)
    rows.sort(key=lambda r: (r["index"], sweep.spec.seeds.index(r["seed"])))
    result = SweepResult(sweep, out_dir, rows, round(time.perf_counter() - started, 2))
    write_outputs(result)
    return result


def _lost(task: PointTask, exc: BaseException | str) -> dict[str, Any]:
    """The row of a task whose result never came back (or that was never started: ``exc`` says why)."""
    return {"index": task.index, "seed": task.seed, "values": dict(task.values), "ok": False,
            "error": exc if isinstance(exc, str) else _one_line(exc), "unexpected": [],
            "metrics": dict.fromkeys(task.metrics),
            "state_root": None, "wall_seconds": 0.0, "out_dir": task.out_dir}


def _cores() -> int:
    """Cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def local_workers(workers: int | None, tasks: int) -> int:
    """Worker processes of the local cluster: ``workers`` (default: the cores), at most one a task."""
    return max(1, min(workers or _cores(), tasks))


class _Cluster:
    """A Dask client: on a fresh loopback ``LocalCluster``, or on the scheduler at an address."""

    def __init__(self, client_cls: Any, cluster_cls: Any, scheduler: str | None,
                 workers: int | None, tasks: int) -> None:
        self._client_cls, self._cluster_cls = client_cls, cluster_cls
        self._scheduler, self._tasks = scheduler, tasks
        self._workers = workers or _cores()
        self._cluster: Any = None
        self._client: Any = None

    def __enter__(self) -> Any:
        if self._scheduler:
            try:
                self._client = self._client_cls(self._scheduler, timeout="20s")
            except (OSError, TimeoutError, ValueError) as exc:
                raise InputError(f"--scheduler {self._scheduler}: cannot connect: {_one_line(exc)}") from None
            return self._client
        self._cluster = self._cluster_cls(
            n_workers=local_workers(self._workers, self._tasks), threads_per_worker=1, processes=True,
            dashboard_address=None, host="127.0.0.1", scheduler_port=0,
            # a failed point is a row; a worker's own report of a Ctrl-C (sent to the whole
            # process group) is noise beside the command's one line
            silence_logs=logging.CRITICAL)
        self._client = self._client_cls(self._cluster)
        return self._client

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        if exc_type is not None and issubclass(exc_type, KeyboardInterrupt):
            # stopped by a signal: the tasks it cuts short are expected (one line says so)
            logging.getLogger("distributed").setLevel(logging.CRITICAL)
        if self._client is not None:
            self._client.close()
        if self._cluster is not None:
            self._cluster.close()


class _Progress:
    """A rich progress bar on stderr, one line per run when stderr is not a terminal, or nothing."""

    def __init__(self, sweep: Sweep, total: int, show: bool | None) -> None:
        self._sweep, self._total = sweep, total
        self._mode = ("bar" if sys.stderr.isatty() else "lines") if show is None else \
            ("bar" if show else "off")
        self._bar: Any = None
        self._task: Any = None
        self._done = self._failed = 0

    def __enter__(self) -> _Progress:
        if self._mode == "bar":
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self._bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("{task.fields[failed]} failed"), TimeElapsedColumn(),
                                 console=Console(stderr=True))
            self._bar.__enter__()
            self._task = self._bar.add_task(f"sweep {self._sweep.spec.name}", total=self._total, failed=0)
        return self

    def update(self, row: Mapping[str, Any]) -> None:
        """Count one finished run."""
        self._done += 1
        self._failed += 0 if row["ok"] else 1
        if self._mode == "bar":
            self._bar.update(self._task, advance=1, failed=self._failed)
        elif self._mode == "lines":
            point = self._sweep.points[row["index"]]
            status = "ok" if row["ok"] else f"FAILED: {row['error']}"
            print(f"[{self._done}/{self._total}] point {row['index']} seed {row['seed']} "
                  f"({point.label()}): {status} ({row['wall_seconds']} s)", file=sys.stderr, flush=True)

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)


# --- outputs ---------------------------------------------------------------------------------------


def columns(sweep: Sweep) -> list[str]:
    """Columns of ``sweep.csv``: index, seed, grid keys, ok, error, metrics, state_root,
    wall_seconds, report."""
    return ["index", "seed", *sweep.spec.grid, "ok", "error", *sweep.spec.metrics, "state_root",
            "wall_seconds", "report"]


def report_path(out_dir: Path, row: Mapping[str, Any]) -> str | None:
    """A run's ``report.html`` relative to the sweep folder (None when the run wrote none)."""
    relative = f"points/{Path(row['out_dir']).name}/report.html"
    return relative if (out_dir / relative).is_file() else None


def flat_row(sweep: Sweep, row: Mapping[str, Any], out_dir: Path | None = None) -> dict[str, Any]:
    """One task row as a flat mapping keyed by :func:`columns` (``report`` needs ``out_dir``)."""
    flat: dict[str, Any] = {"index": row["index"], "seed": row["seed"]}
    flat.update({k: row["values"].get(k) for k in sweep.spec.grid})
    flat.update({"ok": row["ok"], "error": row["error"]})
    flat.update({m: row["metrics"].get(m) for m in sweep.spec.metrics})
    flat.update({"state_root": row["state_root"], "wall_seconds": row["wall_seconds"],
                 "report": report_path(out_dir, row) if out_dir is not None else None})
    return flat


def units(sweep: Sweep) -> dict[str, str]:
    """The unit of each grid key and metric (``""`` where none is known)."""
    from sim.engine.units import key_unit, metric_unit

    return {**{k: key_unit(k) for k in sweep.spec.grid},
            **{m: metric_unit(m) for m in sweep.spec.metrics}}


def _csv_cell(value: Any) -> Any:
    """Booleans as ``true``/``false``, None empty, lists and mappings as YAML flow text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return override_value(value)
    return value


def write_outputs(result: SweepResult) -> None:
    """Write ``sweep.csv``, ``sweep.json`` and ``sweep.html`` into the result's folder."""
    from sim.engine.sweep_html import render_sweep

    sweep, out = result.sweep, result.out_dir
    head = columns(sweep)
    flat = [flat_row(sweep, r, out) for r in result.rows]
    with (out / "sweep.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(head)
        for row in flat:
            writer.writerow([_csv_cell(row[c]) for c in head])
    document = {
        "schema": RESULT_SCHEMA,
        "name": sweep.spec.name,
        "description": sweep.spec.description,
        "scenario": str(sweep.scenario_path),
        "seeds": list(sweep.spec.seeds),
        "grid": sweep.spec.grid,
        "fixed": sweep.spec.fixed,
        "metrics": list(sweep.spec.metrics),
        "units": units(sweep),
        "points": len(sweep.points),
        "runs": len(result.rows),
        "failed": len(result.failed),
        "ok": result.ok,
        "wall_seconds": result.wall_seconds,
        "columns": head,
        "rows": flat,
    }
    (out / "sweep.json").write_text(json.dumps(document, indent=2, default=str) + "\n", encoding="utf-8")
    reports = {(r["index"], r["seed"]): f["report"] for r, f in zip(result.rows, flat, strict=True)}
    (out / "sweep.html").write_text(render_sweep(sweep, result.rows, reports), encoding="utf-8")


def numeric(values: Iterable[Any]) -> list[float]:
    """The values that are numbers (not booleans), as floats."""
    return [float(v) for v in values if isinstance(v, int | float) and not isinstance(v, bool)
            and math.isfinite(v)]
