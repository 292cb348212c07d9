"""Read a run folder's ``summary.json`` and check the fields the report uses.

Only ``schema`` and ``scenario`` are required; every other field may be
absent (its section then says "no data"), but a field that is present must
have the documented type. Errors are :class:`sim.errors.InputError` whose
message names the file and the key, e.g.
``run/summary.json: key 'gas.PMRToken.mint.mean': expected a number, got 'x'``.
The formats are described in ``reports/FORMATS.md``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from sim.errors import InputError

#: The ``schema`` value this renderer understands.
SUMMARY_SCHEMA = "pmrsim.summary/2"

Json = dict[str, Any]


def is_number(value: object) -> bool:
    """True for a finite JSON number (``true``/``false`` are not numbers)."""
    return (isinstance(value, int | float) and not isinstance(value, bool)
            and math.isfinite(value))


def is_int(value: object) -> bool:
    """True for a JSON integer (``true``/``false`` are not integers)."""
    return isinstance(value, int) and not isinstance(value, bool)


def describe(value: object) -> str:
    """A short rendering of ``value`` for an error message."""
    text = json.dumps(value) if not isinstance(value, float) else repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


class _Checker:
    """Checks typed fields of one JSON document, naming the file in errors."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, key: str, expected: str, value: object) -> InputError:
        return InputError(f"{self.path}: key {key!r}: expected {expected}, got {describe(value)}")

    def obj(self, value: object, key: str) -> Json:
        if not isinstance(value, dict):
            raise self.fail(key, "an object", value)
        return value

    def number(self, value: object, key: str) -> None:
        if not is_number(value):
            raise self.fail(key, "a number", value)

    def integer(self, value: object, key: str) -> None:
        if not is_int(value):
            raise self.fail(key, "an integer", value)

    def text(self, value: object, key: str) -> None:
        if not isinstance(value, str):
            raise self.fail(key, "a string", value)

    def numbers(self, value: object, key: str, *, integers: bool = False) -> None:
        """An object whose values are numbers (or integers)."""
        for name, item in self.obj(value, key).items():
            if integers:
                self.integer(item, f"{key}.{name}")
            else:
                self.number(item, f"{key}.{name}")

    def table(self, value: object, key: str) -> None:
        """An object of objects of numbers, like ``gas`` or ``latency``."""
        for name, row in self.obj(value, key).items():
            self.numbers(row, f"{key}.{name}")


def load_summary(path: Path) -> Json:
    """Read and check ``summary.json`` at ``path``; return it as a dict.

    Raises :class:`InputError` naming the file (and key) when the file is
    missing, is not JSON, is not an object, has another ``schema``, or has a
    field of the wrong type.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{path}: no such file (is this a run folder?)") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a directory, expected summary.json") from None
    except UnicodeDecodeError:
        raise InputError(f"{path}: not UTF-8 text") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: line {exc.lineno}: invalid JSON ({exc.msg})") from None
    check_summary(data, path)
    return data


def check_summary(data: object, path: Path) -> None:
    """Check the fields of a parsed summary; raise :class:`InputError` naming ``path``."""
    c = _Checker(path)
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a JSON object, got {type(data).__name__}")
    if "schema" not in data:
        raise InputError(f"{path}: key 'schema' missing (expected {SUMMARY_SCHEMA!r})")
    if data["schema"] != SUMMARY_SCHEMA:
        raise c.fail("schema", repr(SUMMARY_SCHEMA), data["schema"])
    if "scenario" not in data:
        raise InputError(f"{path}: key 'scenario' missing")
    for key in ("scenario", "description", "backend", "layout", "token", "state_root"):
        if key in data:
            c.text(data[key], key)
    for key in ("sim_seconds", "wall_seconds", "gas_per_patient_year"):
        if key in data and data[key] is not None:
            c.number(data[key], key)
    if "seed" in data:
        c.integer(data["seed"], "seed")
    if "counts" in data:
        c.numbers(data["counts"], "counts", integers=True)
    if "txs" in data:
        c.numbers(data["txs"], "txs")
    for key in ("gas", "latency"):
        if key in data:
            c.table(data[key], key)
    if "capacity" in data:
        c.numbers(data["capacity"], "capacity")
    if "gas_setup" in data:
        c.numbers(data["gas_setup"], "gas_setup")
    if "steady_state" in data:
        _check_steady(c, data["steady_state"])
    if "storage" in data:
        _check_storage(c, data["storage"])
    if "invariants" in data:
        _check_invariants(c, data["invariants"])
    if "operations" in data:
        for name, op in c.obj(data["operations"], "operations").items():
            c.numbers(op, f"operations.{name}", integers=True)
    if "attacks" in data:
        for kind, attack in c.obj(data["attacks"], "attacks").items():
            key = f"attacks.{kind}"
            c.obj(attack, key)
            for field in ("attempted", "denied", "succeeded", "wrong_reason"):
                if field in attack:
                    c.integer(attack[field], f"{key}.{field}")
            if attack.get("configured") is not None:
                c.integer(attack["configured"], f"{key}.configured")
            reasons = attack.get("not_attempted", [])
            if not isinstance(reasons, list) or not all(isinstance(r, str) for r in reasons):
                raise c.fail(f"{key}.not_attempted", "a list of strings", reasons)
    if "layouts" in data:
        for name, layout in c.obj(data["layouts"], "layouts").items():
            key = f"layouts.{name}"
            c.obj(layout, key)
            if "gas" in layout:
                c.table(layout["gas"], f"{key}.gas")
            if layout.get("gas_per_patient_year") is not None:
                c.number(layout["gas_per_patient_year"], f"{key}.gas_per_patient_year")


def _check_steady(c: _Checker, value: object) -> None:
    steady = c.obj(value, "steady_state")
    for key in ("visits_per_patient_year", "gas_per_visit", "txs_per_visit"):
        if key in steady:
            c.number(steady[key], f"steady_state.{key}")
    for key in ("gas_per_patient_year", "txs_per_patient_year"):
        if steady.get(key) is not None:
            c.number(steady[key], f"steady_state.{key}")
    for name, row in c.obj(steady.get("activities", {}), "steady_state.activities").items():
        key = f"steady_state.activities.{name}"
        c.obj(row, key)
        for field in ("gas", "per_patient_year", "gas_per_patient_year", "per_visit"):
            if field in row:
                c.number(row[field], f"{key}.{field}")
        for field in ("driver", "basis", "gas_source"):
            if field in row:
                c.text(row[field], f"{key}.{field}")


def _check_storage(c: _Checker, value: object) -> None:
    storage = c.obj(value, "storage")
    for name, item in storage.items():
        if name == "nodes":
            c.numbers(item, "storage.nodes")
        else:
            c.number(item, f"storage.{name}")


def _check_invariants(c: _Checker, value: object) -> None:
    inv = c.obj(value, "invariants")
    if "checked" in inv:
        c.integer(inv["checked"], "invariants.checked")
    violations = inv.get("violations", [])
    if not isinstance(violations, list):
        raise c.fail("invariants.violations", "a list", violations)
    for i, item in enumerate(violations):
        key = f"invariants.violations[{i}]"
        c.obj(item, key)
        if "name" not in item:
            raise InputError(f"{c.path}: key {key + '.name'!r} missing")
        c.text(item["name"], f"{key}.name")
        if "detail" in item:
            c.text(item["detail"], f"{key}.detail")
        if "expected" in item and not isinstance(item["expected"], bool):
            raise c.fail(f"{key}.expected", "true or false", item["expected"])
    skipped = inv.get("skipped", [])
    if not isinstance(skipped, list):
        raise c.fail("invariants.skipped", "a list", skipped)
    for i, item in enumerate(skipped):
        key = f"invariants.skipped[{i}]"
        c.obj(item, key)
        for part in ("name", "reason"):
            if part not in item:
                raise InputError(f"{c.path}: key {key + '.' + part!r} missing")
            c.text(item[part], f"{key}.{part}")
    expected = inv.get("expected", [])
    if not isinstance(expected, list) or not all(isinstance(e, str) for e in expected):
        raise c.fail("invariants.expected", "a list of names", expected)
