"""The PII search: what counts as a generated value found in a trace or on chain."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from sim.engine.invariants import _Finder


def test_value_inside_a_hex_run_is_chance_not_a_leak_in_text() -> None:
    """Ten decimal digits inside a raw-transaction hex string are not a phone number written out."""
    trace = b'{"raw":"0x8a3151498945ea81"}'
    assert _Finder([b"3151498945"]).find(trace, text=True) == []


def test_value_written_as_its_own_value_is_found_in_text() -> None:
    """The same digits as a JSON value of their own are reported."""
    trace = b'{"raw":"0x8a", "phone":"3151498945"}'
    assert _Finder([b"3151498945"]).find(trace, text=True) == [b"3151498945"]


def test_names_are_found_wherever_they_occur() -> None:
    """A needle with non-hex characters is found even inside other text."""
    assert _Finder([b"Jane Doe"]).find(b"0xabcJane Doe1f", text=True) == [b"Jane Doe"]


def test_binary_blobs_match_without_boundaries() -> None:
    """On-chain bytes are searched as raw bytes: any occurrence counts."""
    assert _Finder([b"3151498945"]).find(b"\x01ab3151498945cd") == [b"3151498945"]


def test_one_finder_serves_the_chain_and_the_trace_each_with_its_rule() -> None:
    """A finder built once applies the text rule only to text scans, in either order."""
    finder = _Finder([b"3151498945", b"Jane Doe"])
    hex_run, raw = b'{"raw":"0x8a3151498945ea81"}', b"\x01ab3151498945cd"
    for _ in range(2):
        assert finder.find(hex_run, text=True) == []
        assert finder.find(raw) == [b"3151498945"]
        assert finder.find([b'{"who":"Jane', b' Doe"}'], text=True) == [b"Jane Doe"]
    assert _Finder([]).find(raw) == []


@given(st.binary(max_size=300), st.lists(st.integers(0, 300), max_size=6),
       st.sampled_from([b"3151498945", b"Jane Doe", b"ab", b"0"]), st.booleans())
@settings(max_examples=200, deadline=None)
def test_streamed_search_finds_what_the_whole_blob_search_finds(
        blob: bytes, cuts: list[int], needle: bytes, text: bool) -> None:
    """Cutting the searched bytes into pieces anywhere changes nothing that is found."""
    marks = sorted({min(c, len(blob)) for c in cuts})
    pieces = [blob[a:b] for a, b in zip([0, *marks], [*marks, len(blob)], strict=True)]
    assert _Finder([needle]).find(iter(pieces), text=text) == _Finder([needle]).find(blob, text=text)


def test_a_timestamp_equal_to_a_phone_number_is_not_a_leak() -> None:
    """Ten digits that are a whole JSON number (a block timestamp) do not count; as a string they do."""
    assert _Finder([b"1613439372"]).find(b'{"timestamp":1613439372,"t":1}', text=True) == []
    assert _Finder([b"1613439372"]).find(b'{"phone":"1613439372"}', text=True) == [b"1613439372"]


@given(st.binary(max_size=400), st.lists(st.binary(min_size=1, max_size=6), min_size=1,
                                         max_size=8, unique=True), st.booleans())
@settings(max_examples=200, deadline=None)
def test_dfa_and_default_automaton_find_the_same(blob: bytes, needles: list[bytes],
                                                 text: bool) -> None:
    """Few needles are searched with a DFA, many with the default automaton: same findings."""
    from sim.engine import invariants

    small = _Finder(needles).find(blob, text=text)
    saved = invariants.DFA_NEEDLE_BYTES
    invariants.DFA_NEEDLE_BYTES = 0
    try:
        assert _Finder(needles).find(blob, text=text) == small
    finally:
        invariants.DFA_NEEDLE_BYTES = saved
