"""Record commitments: the canonical bytes of a record are its fields as key-sorted JSON."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import random

from hypothesis import given
from hypothesis import strategies as st

from sim.engine.texts import lab_findings, visit_record
from sim.protocol.records import TestType, canonical


def _reference(record: object) -> bytes:
    def default(value: object) -> object:
        if isinstance(value, dt.date):
            return value.isoformat()
        raise TypeError(type(value).__name__)
    return json.dumps(dataclasses.asdict(record), sort_keys=True, separators=(",", ":"),  # type: ignore[call-overload]
                      ensure_ascii=False, default=default).encode()


@given(st.integers(0, 2**32), st.sampled_from(list(TestType)), st.dates())
def test_canonical_is_the_json_of_the_fields(seed: int, test: TestType, day: dt.date) -> None:
    """canonical() gives the same bytes as dataclasses.asdict + sorted compact JSON."""
    rng = random.Random(seed)
    for record in (visit_record(rng), lab_findings(rng, test, day)):
        assert canonical(record) == _reference(record)
