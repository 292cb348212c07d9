"""Rendering report.html: every plot, determinism, no-data notes, bad input, big traces."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from reports import read_trace, render_report
from reports.trace import MAX_POINTS, MAX_SAMPLE
from sim import cli
from sim.errors import InputError

from .conftest import MakeRun

FIGURES = ("gas", "steady", "latops", "latload", "blocks", "capacity", "storage", "stortime",
           "accesses", "layouts")
CHROMIUM = Path("/usr/bin/chromium")


def test_full_run_renders_every_plot(make_fake_run: MakeRun) -> None:
    """A complete run gets every figure and no 'no data' note."""
    out = render_report(make_fake_run())
    html = out.read_text()
    assert out.name == "report.html"
    assert html.count("<svg") == len(FIGURES)
    for name in FIGURES:
        assert f'id="{name}-figure_1"' in html, name
    assert "No data" not in html
    for text in ("quickstart", "PMRToken.mint", "pii_on_chain", "gas per patient-year",
                 "access_grants: grant expired", "node-4"):
        assert text in html


def test_rendering_twice_is_byte_identical(make_fake_run: MakeRun, tmp_path: Path) -> None:
    """Rendering the same folder twice gives byte-identical HTML."""
    run = make_fake_run()
    first = render_report(run, tmp_path / "a.html").read_bytes()
    second = render_report(run, tmp_path / "b.html").read_bytes()
    assert first == second
    assert b"dc:date" not in first


def test_output_does_not_depend_on_the_process(make_fake_run: MakeRun, tmp_path: Path) -> None:
    """A fresh interpreter with another hash seed renders the same bytes."""
    run = make_fake_run()
    here = render_report(run, tmp_path / "here.html").read_bytes()
    there = tmp_path / "there.html"
    code = f"from reports import render_report; render_report({str(run)!r}, {str(there)!r})"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120,
                   env={**os.environ, "PYTHONHASHSEED": "12345"})
    assert there.read_bytes() == here


def test_page_is_self_contained(make_fake_run: MakeRun) -> None:
    """The page links nothing outside itself and needs no script."""
    html = render_report(make_fake_run()).read_text()
    assert not re.search(r'(src|href)\s*=\s*"(https?:)?//', html)
    assert "<script" not in html.lower()
    assert "<link" not in html.lower()
    assert re.search(r"@import|url\((?!#)", html) is None


def test_page_names_the_explorer_command(make_fake_run: MakeRun) -> None:
    """The page tells the reader the command that opens the run in the DApp's explorer."""
    assert "<code>pmrsim serve DIR</code>" in render_report(make_fake_run()).read_text()


def test_svg_ids_are_unique_across_figures(make_fake_run: MakeRun) -> None:
    """Every id in the page is unique, so inlined figures cannot clash."""
    html = render_report(make_fake_run()).read_text()
    ids = re.findall(r'\bid="([^"]+)"', html)
    assert len(ids) == len(set(ids))
    refs = set(re.findall(r"url\(#([^)]+)\)", html))
    assert refs <= set(ids)


def test_run_values_are_escaped(make_fake_run: MakeRun) -> None:
    """Text from the run (here a description with markup) is escaped, not interpreted."""
    html = render_report(make_fake_run()).read_text()
    assert "&lt;b&gt;escaping&lt;/b&gt;" in html
    assert "<b>escaping</b>" not in html


def test_missing_data_gives_no_data_notes(tmp_path: Path) -> None:
    """A summary with only schema and scenario and no trace renders, with a note per plot."""
    run = tmp_path / "run"
    run.mkdir()
    (run / "summary.json").write_text(json.dumps({"schema": "pmrsim.summary/2",
                                                  "scenario": "bare"}))
    html = render_report(run).read_text()
    assert "<svg" not in html
    assert html.count('class="nodata"') >= len(FIGURES)
    assert "trace.jsonl is absent" in html


def test_one_layout_only_skips_the_comparison(make_fake_run: MakeRun) -> None:
    """Without both layouts the comparison plot is a note; the other plots remain."""
    html = render_report(make_fake_run(both_layouts=False, storage=False)).read_text()
    assert "This run used one layout (private)" in html
    assert "summary.json has no &#x27;storage.nodes&#x27;" in html
    assert html.count("<svg") == len(FIGURES) - 2


def test_empty_trace_renders_with_notes(make_fake_run: MakeRun) -> None:
    """An empty trace.jsonl gives no-data notes for the trace plots, not a crash."""
    run = make_fake_run()
    (run / "trace.jsonl").write_text("")
    html = render_report(run).read_text()
    assert "trace.jsonl has no &#x27;block&#x27; records" in html
    assert "trace.jsonl is empty" in html


def test_unexpected_violation_is_flagged(make_fake_run: MakeRun) -> None:
    """An unexpected invariant violation is shown as such in the banner and its table row."""
    html = render_report(make_fake_run(violations=(("grant_respected", False),))).read_text()
    assert "1 unexpected invariant violation(s): grant_respected" in html
    assert '<tr class="bad"><td>grant_respected</td>' in html


def test_an_unexpected_violation_does_not_hide_the_expected_ones(make_fake_run: MakeRun) -> None:
    """The red banner names the expected violations too (the paper layout's PII on chain)."""
    run = make_fake_run(violations=(("pii_on_chain", True), ("gas_matches_table", False)))
    html = render_report(run).read_text()
    assert ("1 unexpected invariant violation(s): gas_matches_table; besides, 1 expected by the "
            "scenario: pii_on_chain.") in html


def test_stated_skips_are_shown_with_their_reasons(make_fake_run: MakeRun) -> None:
    """Skips in summary.json appear in the banner's count and, with their reasons, in the section."""
    run = make_fake_run()
    summary = json.loads((run / "summary.json").read_text())
    summary["invariants"]["skipped"] = [
        {"name": "pii_on_chain", "reason": "the chain's state was not searched: <no dump>"}]
    (run / "summary.json").write_text(json.dumps(summary))
    html = render_report(run).read_text()
    assert "(1 skip(s) stated below)" in html
    assert ("<tr><td>pii_on_chain</td><td>the chain&#x27;s state was not searched: "
            "&lt;no dump&gt;</td></tr>") in html


@pytest.mark.parametrize("target", ["missing", "file"])
def test_bad_run_folder_is_input_error(tmp_path: Path, target: str) -> None:
    """A missing folder, or a file given as the folder, is an InputError naming it."""
    path = tmp_path / target
    if target == "file":
        path.write_text("x")
    with pytest.raises(InputError, match=re.escape(str(path))):
        render_report(path)


def test_malformed_trace_leaves_no_output(make_fake_run: MakeRun) -> None:
    """A malformed trace line is an InputError naming the line; the old report stays as it was."""
    run = make_fake_run()
    report = render_report(run)
    before = report.read_bytes()
    with (run / "trace.jsonl").open("a") as stream:
        stream.write('{"t": 1e9, "kind": "block", "gas_used": -1.5, "gas_limit": 1}\n')
    lines = len((run / "trace.jsonl").read_text().splitlines())
    with pytest.raises(InputError, match=rf"trace\.jsonl: line {lines}: field 'gas_used'"):
        render_report(run)
    assert report.read_bytes() == before
    assert sorted(p.name for p in run.iterdir()) == [
        ".pmrsim-output.json", "gas.csv", "report.html", "summary.json", "trace.jsonl"]


def _cli(argv: list[str], monkeypatch: pytest.MonkeyPatch) -> int:
    if "report" not in cli.COMMAND_MODULES:
        monkeypatch.setattr(cli, "COMMAND_MODULES", (*cli.COMMAND_MODULES, "report"))
    return cli.main(argv)


def test_report_command_writes_the_page(make_fake_run: MakeRun, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    """`pmrsim report DIR --out FILE` writes FILE, prints its path and exits 0."""
    out = tmp_path / "page.html"
    assert _cli(["report", str(make_fake_run()), "--out", str(out)], monkeypatch) == 0
    assert capsys.readouterr().out.strip() == str(out)
    assert out.read_text().startswith("<!DOCTYPE html>")


def test_report_command_bad_summary_exits_2(make_fake_run: MakeRun,
                                            monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    """An invalid summary.json exits 2 with one line naming the file and writes nothing."""
    run = make_fake_run()
    (run / "summary.json").write_text('{"schema": "pmrsim.summary/2",')
    assert _cli(["report", str(run)], monkeypatch) == 2
    err = capsys.readouterr().err
    assert "summary.json: line 1: invalid JSON" in err and len(err.splitlines()) == 1
    assert not (run / "report.html").exists()


def test_big_trace_renders_fast_in_bounded_memory(big_run: Path, tmp_path: Path) -> None:
    """A 200k-line trace renders in seconds, its plot data downsampled to fixed bounds."""
    lines = sum(1 for _ in (big_run / "trace.jsonl").open())
    assert lines >= 200_000
    started = time.perf_counter()
    out = render_report(big_run, tmp_path / "big.html")
    elapsed = time.perf_counter() - started
    assert elapsed < 20, f"rendering took {elapsed:.1f} s"
    assert out.stat().st_size < 1_000_000
    digest = read_trace(big_run / "trace.jsonl")
    assert len(digest.blocks.t) <= MAX_POINTS < digest.block_count
    assert len(digest.access.series()) <= MAX_POINTS + 1
    assert len(digest.latency_all.values) == MAX_SAMPLE < digest.latency_all.seen
    assert "a fixed-seed sample of 2,000" in out.read_text()


def test_headless_chromium_draws_the_page(make_fake_run: MakeRun, tmp_path: Path) -> None:
    """Headless Chromium renders the page into a screenshot that is not blank."""
    from PIL import Image

    if not CHROMIUM.exists():  # scripts/install-browser.sh installs it; CI requires it
        if os.environ.get("CI") == "true":
            pytest.fail("/usr/bin/chromium is not installed (scripts/install-browser.sh)")
        pytest.skip("/usr/bin/chromium is not installed")

    report = render_report(make_fake_run())
    png = tmp_path / "shot.png"
    subprocess.run(
        [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={png}",
         "--window-size=1200,3000", report.as_uri()],
        check=False, capture_output=True, timeout=120)
    shutil.rmtree(tmp_path / "profile", ignore_errors=True)
    assert png.exists() and png.stat().st_size > 0
    with Image.open(png) as image:
        colours = image.convert("RGB").getcolors(maxcolors=1_000_000)
    assert colours is not None and len(colours) > 50
