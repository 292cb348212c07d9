"""Benchmark: DICOM de-identification files/s of pmrsim against dicognito, deid and
dicom-anonymizer, on the same files in one run.

The set is every pydicom test file that pydicom parses (the character-set
files included) plus the synthetic CR, DX, CT, MR, US, MG and ECG files of
``tests/privacy/dicom_factory.py``. Each tool reads, de-identifies and writes
each file (its own file-level path: read + profile + write). A file a tool
raises on counts as a failure, its time still counted. The best of
``--repeat`` passes is reported. Run from the repository root::

    python benchmarks/bench_deid.py [--quick] [--json PATH]

The peers come from the ``bench`` extra, which ``scripts/setup.sh`` installs
(their pins agree with ours, so they share ``.venv``); a peer that cannot be
imported is reported as unavailable, with the reason, and the rest run.

Leaks are counted by one tool-neutral checker (:func:`residual_files`): an
output leaks when an original identifying value of at least 6 characters is
still in its element values or bytes. Identifying values are those of
attributes whose Table E.1-1 action is not K or C, and every text, name,
date and UID inside a sequence whose action is X, Z or D (the operator's
code in an Operator Identification Sequence, an SR content tree), unless the
same value also sits somewhere the profile keeps. The note at the end
compares pmrsim's files/s with the fastest peer that leaks nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import platform
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from importlib import metadata
from pathlib import Path

import pydicom
from pydicom.data import get_charset_files, get_testdata_files

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sim.privacy.deid import DeidConfig, DeidRefused, UidMap, deidentify_file  # noqa: E402

Runner = Callable[[Path, Path], None]


def corpus(workdir: Path) -> list[Path]:
    """pydicom's parseable test files plus the synthetic set written into ``workdir``."""
    from tests.privacy.dicom_factory import write_study_set

    files = []
    for name in sorted({*get_testdata_files(), *get_charset_files()}):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                pydicom.dcmread(name)
        except Exception:
            continue
        files.append(Path(name))
    files.extend(write_study_set(workdir / "synthetic").files)
    return files


def pmrsim_runner() -> Runner:
    """pmrsim's Basic Profile, one key and UID map for the whole set."""
    config = DeidConfig(key=b"pmrsim-benchmark-key-000000000000")
    uid_map = UidMap(config.key)

    def run(src: Path, dst: Path) -> None:
        # A refusal (broken file, not an instance) is a correct outcome, not a failure.
        with contextlib.suppress(DeidRefused):
            deidentify_file(src, dst, config, uid_map=uid_map)

    return run


def dicognito_runner() -> Runner:
    """dicognito's Anonymizer (one instance for the set, as its CLI does)."""
    from dicognito.anonymizer import Anonymizer

    anonymizer = Anonymizer(seed="bench")

    def run(src: Path, dst: Path) -> None:
        ds = pydicom.dcmread(src)
        anonymizer.anonymize(ds)
        ds.save_as(dst)

    return run


def deid_runner() -> Runner:
    """pydicom/deid's default recipe through ``replace_identifiers`` (save to a folder)."""
    from deid.config import DeidRecipe
    from deid.dicom import replace_identifiers

    recipe = DeidRecipe()

    def run(src: Path, dst: Path) -> None:
        replace_identifiers(dicom_files=[str(src)], deid=recipe, save=True, overwrite=True,
                            output_folder=str(dst.parent), remove_private=True)

    return run


def dicom_anonymizer_runner() -> Runner:
    """dicom-anonymizer's ``anonymize_dicom_file`` with its default (PS3.15) rules."""
    from dicomanonymizer import anonymize_dicom_file

    def run(src: Path, dst: Path) -> None:
        anonymize_dicom_file(str(src), str(dst))

    return run


TOOLS: dict[str, tuple[str | None, Callable[[], Runner]]] = {
    "pmrsim": ("pmrsim", pmrsim_runner),
    "dicognito": ("dicognito", dicognito_runner),
    "deid": ("deid", deid_runner),
    "dicom-anonymizer": ("dicom-anonymizer", dicom_anonymizer_runner),
}


@contextlib.contextmanager
def _silenced() -> Iterator[None]:
    """Silence warnings, logging and the chatter some tools print."""
    sink = io.StringIO()
    logging.disable(logging.CRITICAL)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(sink), \
                contextlib.redirect_stderr(sink):
            warnings.simplefilter("ignore")
            yield
    finally:
        logging.disable(logging.NOTSET)


def _sensitive_subtree_values(ds: pydicom.Dataset) -> set[str]:
    """Values (>= 6 chars) inside X/Z/D sequences that appear nowhere else in ``ds``."""
    from sim.privacy.deid_table import load_table
    from tests.privacy.dicom_factory import values_of, walk

    table = load_table()
    inside: set[str] = set()
    outside: set[str] = set()
    sensitive: list[str] = []
    for path, elem in walk(ds):
        if elem.VR == "SQ":
            rule = table.lookup(elem.tag)
            if rule is not None and rule.action(frozenset())[0] in ("X", "Z", "D"):
                sensitive.append(path)
            continue
        if elem.VR == "CS":
            continue
        values = {v for v in values_of(elem) if len(v) >= 6
                  and not v.startswith("1.2.840.10008.")}
        if any(path.startswith(s + "[") for s in sensitive):
            inside |= values
        else:
            outside |= values
    return inside - outside


def residual_files(files: list[Path], out_dir: Path) -> int:
    """Outputs in which an original identifying value (>= 6 chars) is still present.

    A tool-neutral check (see the module docstring); a missing output
    (refused or failed file) does not count.
    """
    from tests.privacy.dicom_factory import original_identifiers, values_of, walk

    leaky = 0
    with _silenced():
        for i, src in enumerate(files):
            dst = out_dir / f"{i:04d}" / src.name
            if not dst.exists():
                continue
            try:
                original = pydicom.dcmread(src, force=True)
                found = original_identifiers(original).all() | _sensitive_subtree_values(original)
                raw = dst.read_bytes()
                out = pydicom.dcmread(dst, force=True)
                values = {v for _, e in walk(out) for v in values_of(e)}
            except Exception:
                continue
            needles = {v for v in found if len(v) >= 6}
            if needles & values or any(n.encode("utf-8") in raw for n in needles):
                leaky += 1
    return leaky


def one_pass(run: Runner, files: list[Path], out_dir: Path) -> tuple[float, int]:
    """Time one pass over ``files``; return (seconds, failures)."""
    failures = 0
    start = time.perf_counter()
    with _silenced():
        for i, src in enumerate(files):
            dst = out_dir / f"{i:04d}" / src.name
            dst.parent.mkdir(parents=True, exist_ok=True)
            try:
                run(src, dst)
            except Exception:
                failures += 1
    return time.perf_counter() - start, failures


def best_of(run: Runner, files: list[Path], out: Path, repeat: int) -> tuple[float, int]:
    """Best time of ``repeat`` passes (outputs of pass ``r`` under ``out-r``) and failures."""
    best, failures = float("inf"), 0
    for r in range(repeat):
        seconds, failures = one_pass(run, files, out.with_name(f"{out.name}-{r}"))
        best = min(best, seconds)
    return best, failures


def _speedups(results: dict[str, dict[str, object]], key: str) -> None:
    """Add pmrsim's speed-up over each tool for the figure ``key``."""
    base = results.get("pmrsim", {}).get(key)
    for name, res in results.items():
        if name != "pmrsim" and base and res.get(key):
            res[f"pmrsim_speedup_{key}"] = round(float(base) / float(res[key]), 2)  # type: ignore[arg-type]


def _note(results: dict[str, dict[str, object]]) -> str:
    """pmrsim's files/s against the fastest peer that leaks nothing (or why there is none)."""
    mine = results.get("pmrsim", {})
    clean = {n: r for n, r in results.items() if n != "pmrsim" and r.get("available")
             and r.get("outputs_with_original_identifiers") == 0}
    missing = [n for n, r in results.items() if not r.get("available")]
    gone = f" ({', '.join(missing)} unavailable)" if missing else ""
    if not clean:
        return ("no peer leaks nothing on this set, so pmrsim's throughput has no leak-free "
                f"peer to match{gone}")
    name, best = max(clean.items(), key=lambda kv: float(kv[1]["files_per_s"]))  # type: ignore[arg-type]
    ratio = float(mine.get("files_per_s", 0)) / float(best["files_per_s"])  # type: ignore[arg-type]
    verdict = "at least" if ratio >= 1 else "below"
    return (f"pmrsim {mine.get('files_per_s')} files/s is {verdict} the fastest leak-free peer, "
            f"{name} ({best['files_per_s']} files/s): x{ratio:.2f}{gone}")


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print (and optionally save) the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="one pass instead of three")
    parser.add_argument("--repeat", type=int, default=3, help="passes per tool (best is kept)")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    args = parser.parse_args(argv)
    repeat = 1 if args.quick else max(1, args.repeat)
    results: dict[str, dict[str, object]] = {}
    runners: dict[str, Runner] = {}
    with tempfile.TemporaryDirectory(prefix="bench-deid-") as tmp:
        work = Path(tmp)
        files = corpus(work)
        print(f"{len(files)} files, {repeat} pass(es) per tool, best pass reported")
        for name, (dist, factory) in TOOLS.items():
            try:
                version = metadata.version(dist) if dist else "?"
                runners[name] = factory()
            except Exception as exc:  # not installed or broken: report and go on
                reason = f"{type(exc).__name__}: {exc}"
                results[name] = {"available": False, "error": reason}
                print(f"{name:18s} unavailable: {reason}")
                continue
            best, failures = best_of(runners[name], files, work / name, repeat)
            written = sum((work / f"{name}-0" / f"{i:04d}" / f.name).exists()
                          for i, f in enumerate(files))
            leaky = residual_files(files, work / f"{name}-0")
            results[name] = {"available": True, "version": version, "files": len(files),
                             "seconds": round(best, 4), "files_per_s": round(len(files) / best, 1),
                             "failures": failures, "written": written,
                             "outputs_with_original_identifiers": leaky}
            print(f"{name:18s} {version:10s} {len(files) / best:8.1f} files/s  ({best:.3f} s, "
                  f"{failures} failed, {written} written, {leaky} with original identifiers)")
        # pmrsim refuses some files (broken, not instances): time everyone on the files it writes.
        common = [f for i, f in enumerate(files)
                  if (work / "pmrsim-0" / f"{i:04d}" / f.name).exists()]
        if "pmrsim" in runners and len(common) < len(files):
            print(f"on the {len(common)} files pmrsim writes (it refuses or skips the others):")
            for name, run in runners.items():
                best, _ = best_of(run, common, work / f"{name}-common", repeat)
                results[name]["common_files"] = len(common)
                results[name]["files_per_s_common"] = round(len(common) / best, 1)
                print(f"{name:18s} {len(common) / best:8.1f} files/s  ({best:.3f} s)")
    _speedups(results, "files_per_s")
    _speedups(results, "files_per_s_common")
    note = _note(results)
    print(f"note: {note}")
    summary = {"benchmark": "deid", "python": platform.python_version(),
               "pydicom": pydicom.__version__, "repeat": repeat, "tools": results, "note": note}
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
