"""JSON Schemas of pmrsim's outputs, shipped in ``reports/schemas/``, and a validator over them.

One schema per trace record kind (``trace-<kind>.schema.json``), one for
``summary.json``, ``gas.csv`` (its rows, read as numbers; the header is the
schema's ``x-columns``), ``sweep.json`` and ``pmrsim capacity --format json``.
``reports/FORMATS.md`` says what each field means; the schemas make the
same promises checkable, and the test suite validates the outputs of every
shipped scenario against them (a record kind or field that is written but
not documented fails it).

Validating needs the ``jsonschema`` package (a development dependency):
pmrsim itself never validates its own outputs at run time.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

#: The schemas' folder inside the package.
SCHEMAS = resources.files("reports") / "schemas"


@cache
def schema(name: str) -> dict[str, Any]:
    """The schema ``reports/schemas/<name>.schema.json`` (``summary``, ``trace-tx``, ...)."""
    data: dict[str, Any] = json.loads((SCHEMAS / f"{name}.schema.json").read_text(encoding="utf-8"))
    return data


def trace_kinds() -> list[str]:
    """The trace record kinds that have a schema (every kind pmrsim writes)."""
    return sorted(p.name.removeprefix("trace-").removesuffix(".schema.json")
                  for p in SCHEMAS.iterdir() if p.name.startswith("trace-"))


def _errors(instance: Any, name: str, where: str) -> Iterator[str]:
    from jsonschema import Draft202012Validator

    validator = Draft202012Validator(schema(name))
    for error in sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path)):
        path = ".".join(str(p) for p in error.absolute_path) or "(top)"
        yield f"{where}: {path}: {error.message}"


def validate_trace(path: Path, *, limit: int = 20) -> list[str]:
    """Every line of ``trace.jsonl`` against its kind's schema; at most ``limit`` problems."""
    kinds = set(trace_kinds())
    problems: list[str] = []
    with path.open(encoding="utf-8") as stream:
        for number, line in enumerate(stream, start=1):
            record = json.loads(line)
            kind = record.get("kind")
            if kind not in kinds:
                problems.append(f"{path}: line {number}: kind {kind!r} has no schema")
            else:
                problems.extend(_errors(record, f"trace-{kind}", f"{path}: line {number}"))
            if len(problems) >= limit:
                break
    return problems[:limit]


def validate_gas_csv(path: Path) -> list[str]:
    """``gas.csv``: its header is the schema's ``x-columns``, its rows match the schema."""
    from reports.gascsv import read_gas_csv

    columns = schema("gas-csv")["x-columns"]
    header = path.read_text(encoding="utf-8").splitlines()[0].split(",")
    problems = [] if header == columns else [f"{path}: header {header}, expected {columns}"]
    rows = [{"operation": op, **row} for op, row in read_gas_csv(path).items()]
    if [r["operation"] for r in rows] != sorted(r["operation"] for r in rows):
        problems.append(f"{path}: rows are not sorted by operation")
    problems.extend(_errors(rows, "gas-csv", str(path)))
    return problems


def validate_run(folder: Path) -> list[str]:
    """A run folder (and each ``layouts/<name>/`` in it): summary, trace and gas.csv."""
    problems = list(_errors(json.loads((folder / "summary.json").read_text(encoding="utf-8")),
                            "summary", str(folder / "summary.json")))
    problems += validate_trace(folder / "trace.jsonl")
    problems += validate_gas_csv(folder / "gas.csv")
    layouts = folder / "layouts"
    if layouts.is_dir():
        for sub in sorted(p for p in layouts.iterdir() if p.is_dir()):
            problems += validate_run(sub)
    return problems


def validate_json(data: Any, name: str, where: str) -> list[str]:
    """``data`` against the schema ``name`` (``sweep``, ``capacity``, ...)."""
    return list(_errors(data, name, where))
