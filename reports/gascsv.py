"""``gas.csv``: the gas table of a run, one row per operation.

The header is ``operation,count,mean,min,max,total``; the numbers are those
of ``summary.json["gas"]``. Integers are written as integers and floats in
their shortest round-trip form, so :func:`read_gas_csv` gives back exactly
what :func:`write_gas_csv` was given. Rows are sorted by operation.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping
from pathlib import Path

from sim.errors import InputError

from .render import write_atomically

#: The columns of ``gas.csv``, in order.
GAS_COLUMNS = ("operation", "count", "mean", "min", "max", "total")

GasTable = dict[str, dict[str, int | float]]


def _cell(value: object, where: str) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InputError(f"{where}: expected a finite number, got {value!r}")
    return str(value) if isinstance(value, int) else repr(float(value))


def gas_csv_text(gas: Mapping[str, Mapping[str, int | float]]) -> str:
    """The text of ``gas.csv`` for ``gas`` (``{operation: {count, mean, min, max, total}}``)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(GAS_COLUMNS)
    for op in sorted(gas):
        row = gas[op]
        missing = [c for c in GAS_COLUMNS[1:] if c not in row]
        if missing:
            raise InputError(f"gas[{op!r}]: missing {', '.join(missing)}")
        writer.writerow([op, *(_cell(row[c], f"gas[{op!r}][{c!r}]") for c in GAS_COLUMNS[1:])])
    return buf.getvalue()


def write_gas_csv(gas: Mapping[str, Mapping[str, int | float]], path: Path | str) -> Path:
    """Write ``gas`` to ``path`` as ``gas.csv`` (through a temporary file); return the path."""
    path = Path(path)
    write_atomically(path, gas_csv_text(gas))
    return path


def _number(text: str, where: str) -> int | float:
    try:
        return int(text)
    except ValueError:
        pass
    try:
        value = float(text)
    except ValueError:
        raise InputError(f"{where}: expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise InputError(f"{where}: expected a finite number, got {text!r}")
    return value


def read_gas_csv(path: Path | str) -> GasTable:
    """Read ``gas.csv`` at ``path`` into ``{operation: {count, mean, min, max, total}}``.

    Raises :class:`InputError` naming the file and line for a missing file, a
    wrong header, a row of the wrong length, a repeated operation or a value
    that is not a number.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except UnicodeDecodeError:
        raise InputError(f"{path}: not UTF-8 text") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise InputError(f"{path}: empty (expected the header {','.join(GAS_COLUMNS)})") from None
    if tuple(header) != GAS_COLUMNS:
        raise InputError(f"{path}: line 1: expected the header {','.join(GAS_COLUMNS)}, "
                         f"got {','.join(header)}")
    table: GasTable = {}
    for row in reader:
        where = f"{path}: line {reader.line_num}"
        if not row:
            continue
        if len(row) != len(GAS_COLUMNS):
            raise InputError(f"{where}: expected {len(GAS_COLUMNS)} fields, got {len(row)}")
        op = row[0]
        if not op:
            raise InputError(f"{where}: empty operation name")
        if op in table:
            raise InputError(f"{where}: operation {op!r} appears twice")
        table[op] = {c: _number(v, f"{where}: column {c!r}")
                     for c, v in zip(GAS_COLUMNS[1:], row[1:], strict=True)}
    return table
