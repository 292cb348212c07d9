"""`pmrsim tour`: the story's steps with their off-chain half, deterministic, no secret printed."""

from __future__ import annotations

import base64
import contextlib
import io
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from sim.cli import main
from sim.protocol.story import OffChainHalf


@dataclass
class Toured:
    """One tour's standard output and the off-chain half it played."""

    out: str
    half: OffChainHalf


def _tour(*argv: str) -> Toured:
    """Run ``pmrsim tour`` in process, keeping its output and its :class:`OffChainHalf`."""
    made: list[OffChainHalf] = []
    seeded = OffChainHalf.seeded

    def keep(p: object, seed: int) -> OffChainHalf:
        made.append(seeded(p, seed))  # type: ignore[arg-type]
        return made[-1]

    buf = io.StringIO()
    with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stdout(buf):
        mp.setattr(OffChainHalf, "seeded", staticmethod(keep))
        assert main(["tour", *argv]) == 0
    assert len(made) == 1
    return Toured(buf.getvalue(), made[0])


@pytest.fixture(scope="module")
def toured(tmp_path_factory: pytest.TempPathFactory) -> Toured:
    """The tour with seed 0 (images written into a fresh folder)."""
    return _tour("--images", str(tmp_path_factory.mktemp("images") / "studies"))


def _after(out: str, action: str) -> str:
    """The lines printed for the step whose action line contains ``action`` (up to the next step)."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if action in line)
    end = next((i for i in range(start + 1, len(lines)) if not lines[i].startswith("  ")),
               len(lines))
    return "\n".join(lines[start:end])


def test_the_lab_step_shows_the_study_going_off_chain(toured: Toured) -> None:
    """Under the lab's upload: the source, de-identification, (1, t, n), each fragment's node and
    CID, the manifest CID that goes on chain, and the essential share to the patient."""
    study = toured.half.studies[0]
    lab = _after(toured.out, "posts the X-ray report with the manifest CID")
    assert "off chain CT_small.dcm, the patient's identity planted, de-identified" in lab
    assert re.search(r"attributes: \d+ removed", lab)
    assert "identity: PatientName emptied, PatientID replaced, InstitutionName removed" in lab
    assert "split (1, 3, 5)" in lab
    for index, node, cid in study.fragments:
        assert f"fragment {index} -> {node}  {cid}" in lab
    assert f"manifest CID -> chain  {study.manifest_cid}" in lab
    assert f"essential share -> the patient, fingerprint {study.essential_fingerprint}" in lab


def test_grant_read_and_refusals_are_shown(toured: Toured) -> None:
    """The grant seals the share to Dr. Iyer; his read is rebuilt byte-identical; the read after
    expiry and the one after revocation are refused by the custodians, with their reasons."""
    fp = toured.half.studies[0].essential_fingerprint
    grant = _after(toured.out, "grants Dr. Iyer access to that PMR for 7 days")
    assert f"essential share sealed to Dr. Iyer's key (ECIES), fingerprint {fp}" in grant
    read = _after(toured.out, "Dr. Iyer opens the PMR (logged on chain)")
    tx = re.search(r"AccessGrants\.use  tx (0x[0-9a-f]{16})\.\.\.", read)
    assert tx is not None
    assert f"custodians 0, 1, 2 release their key shares for the mined use tx {tx.group(1)}" in read
    assert "byte-identical to the stored study, sha256 " in read
    expired = _after(toured.out, "tries to open the PMR after the grant expired")
    assert "refuse tx 0x" in expired and "no mined access on chain" in expired
    assert f"refuse his earlier use {tx.group(1)}...: access already answered" in expired
    revoked = _after(toured.out, "tries to open the PMR after revocation")
    assert "custodians 0, 1, 2 refuse tx 0x" in revoked


def test_no_essential_share_or_sealed_blob_is_printed(toured: Toured) -> None:
    """The output holds the share's fingerprint only: never its hex, base64 or JSON, nor a sealed
    copy, nor the identity planted in the study."""
    out = toured.out.lower()
    study = toured.half.studies[0]
    secret = study.essential.secret.reveal()
    forms = [secret.hex(), base64.b64encode(secret).decode().lower(),
             base64.urlsafe_b64encode(secret).decode().lower().rstrip("="),
             study.essential.to_json().lower(), *(b.hex() for b in study.sent.values())]
    assert study.sent  # the share was sealed to the doctors granted
    assert [f for f in forms if f in out] == []
    assert study.essential_fingerprint in out
    assert "krishnan" not in out and "mrn-" not in out


def test_images_are_written_and_the_rebuilt_study_looks_the_same(
        toured: Toured, tmp_path_factory: pytest.TempPathFactory) -> None:
    """--images writes the de-identified study and each rebuilt one; they render identically."""
    written = [Path(m) for m in re.findall(r"^wrote (.+\.png)$", toured.out, re.MULTILINE)]
    names = sorted(p.name for p in written)
    assert sorted(p.name for p in written[0].parent.iterdir()) == [".pmrsim-output.json", *names]
    assert names == ["deidentified-study-8543726012021-1.png",
                     "rebuilt-1-study-8543726012021-1.png", "rebuilt-2-study-8543726012021-1.png"]
    pngs = {p.read_bytes() for p in written}
    assert len(pngs) == 1 and next(iter(pngs)).startswith(b"\x89PNG\r\n\x1a\n")


def test_the_same_seed_prints_the_same_tour(toured: Toured) -> None:
    """Run again with seed 0, the tour prints the same lines (the image paths aside)."""
    again = _tour().out
    assert again == toured.out.split("\nwrote ")[0] + "\n"


def test_images_into_a_file_is_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--images naming an existing file exits 2 with one line, before anything is played."""
    target = tmp_path / "taken"
    target.write_text("x")
    assert main(["tour", "--images", str(target)]) == 2
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and "--images" in err[0] and "not a folder" in err[0]
    assert target.read_text() == "x" and "transactions" not in captured.out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]


def test_images_refuses_someone_elses_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--images into a non-empty folder that is not a tour's output exits 2 and leaves it as it was."""
    (tmp_path / "notes.txt").write_text("mine")
    assert main(["tour", "--images", str(tmp_path)]) == 2
    assert "not an output of pmrsim tour" in capsys.readouterr().err
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]
