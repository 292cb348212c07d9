"""``pmrsim audit``: who accessed a patient's records, when, and under what, from chain events.

The run's trace is replayed (and so verified) on a fresh chain; the audit
log is then read from that chain's events: grants, revocations,
break-glass openings, closings and reviews, and every recorded access of
the patient's PMRs (under a grant for the PMR, for all records, or
emergency), together with the PMR versions and lab reports written for
them. Custodians release key shares only for a recorded access, so this
log is every read of the patient's records; the Patient-ID of each entry
is the one the contract checked (a ``use`` names a well-formed PMR-ID).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sim.chain import Contract
from sim.contracts import load_artifacts
from sim.engine.replay import Replayed, replay_folder
from sim.errors import InputError

KINDS = {1: "grant for this PMR", 2: "grant for all records", 3: "emergency (break-glass)"}
VERDICTS = {1: "justified", 2: "not justified"}


@dataclass(frozen=True)
class AuditEntry:
    """One line of a patient's audit log."""

    timestamp: int
    block: int
    event: str
    actor: str
    pmr_id: int | None
    detail: str

    def row(self) -> list[str]:
        """The entry as table cells."""
        when = dt.datetime.fromtimestamp(self.timestamp, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
        return [when, str(self.block), self.event, self.actor,
                "" if self.pmr_id is None else str(self.pmr_id), self.detail]


def audit(run_dir: Path, patient_id: int) -> tuple[Replayed, list[AuditEntry]]:
    """Replay ``run_dir`` and list the patient's access history from the chain's events."""
    replayed = replay_folder(run_dir)
    if not replayed.contracts:
        raise InputError(f"{replayed.trace}: no 'contracts' record: not a pmrsim run trace")
    art = load_artifacts()
    chain = replayed.chain
    topic = patient_id.to_bytes(32, "big")

    def who(address: Any) -> str:
        text = str(address).lower()
        return replayed.accounts.get(text, text)

    doctors = _doctor_accounts(replayed, art)
    hospitals: dict[int, str] = {v: k for k, v in _hospital_accounts(replayed, art).items()}

    def doctor(doctor_id: int) -> str:
        account = doctors.get(doctor_id)
        return who(account) if account else f"doctor {doctor_id}"

    def hospital(hospital_id: int) -> str:
        account = hospitals.get(hospital_id)
        return who(account) if account else f"hospital {hospital_id}"

    entries: list[AuditEntry] = []
    for name in ("AccessGrants", "PMRToken", "PMRMulti", "LabReports"):
        if name not in replayed.contracts:
            continue
        contract = Contract(chain, bytes.fromhex(replayed.contracts[name][2:]), art[name].abi)
        for log in chain.get_logs(address=contract.address):
            if topic not in log.topics[1:]:
                continue
            decoded = contract.decode_log(log)
            if decoded is None or decoded[1].get("patient_id") != patient_id:
                continue
            event, a = decoded
            ts = chain.block(log.block_number).timestamp
            entries.append(_entry(event, a, ts, log.block_number, who, doctor, hospital))
    entries.extend(_refused(replayed, art, patient_id, who))
    entries.sort(key=lambda e: (e.block, e.timestamp))
    return replayed, entries


def _refused(replayed: Replayed, art: dict[str, Any], patient_id: int,
             who: Any) -> list[AuditEntry]:
    """Reverted AccessGrants calls on the patient's records (the chain keeps them too)."""
    import rlp

    grants = Contract(replayed.chain, bytes.fromhex(replayed.contracts["AccessGrants"][2:]),
                      art["AccessGrants"].abi)
    selectors = {grants.calldata("use", 0, 0, 0)[:4]: "refused access",
                 grants.calldata("grant", b"\0" * 20, 0, 0, False)[:4]: "refused grant",
                 grants.calldata("emergency_access", 0, 0, 0)[:4]: "refused break-glass"}
    out = []
    chain = replayed.chain
    for number in range(1, chain.block_number + 1):
        block = chain.block(number)
        for r in block.receipts:
            if r.ok or r.to != grants.address:
                continue
            raw = chain.raw_transaction(r.tx_hash)
            # EIP-1559 body: [chain, nonce, tip, fee cap, gas, to, value, data, ...]
            data = bytes(rlp.decode(raw[1:])[7])
            label = selectors.get(data[:4])
            if label is None:
                continue
            words = [int.from_bytes(data[4 + 32 * i: 36 + 32 * i], "big")
                     for i in range((len(data) - 4) // 32)]
            if label == "refused break-glass":
                if words[0] != patient_id:
                    continue
                pmr: int | None = None
            else:
                pmr = words[0] if label == "refused access" else words[1]
                # a read refused for naming a scope key (SCOPE_ALL | Patient-ID) is the patient's too
                if (pmr & ~(1 << 255)) != patient_id and pmr // 10**8 != patient_id:
                    continue
            out.append(AuditEntry(block.timestamp, number, label, who("0x" + r.sender.hex()),
                                  pmr, r.revert_reason or "reverted"))
    return out


def _event_map(replayed: Replayed, art: dict[str, Any], contract: str, event: str,
               key: str, value: str) -> dict[Any, str]:
    """``key -> value`` from every ``event`` of ``contract`` (e.g. Doctor-ID -> account)."""
    if contract not in replayed.contracts:
        return {}
    c = Contract(replayed.chain, bytes.fromhex(replayed.contracts[contract][2:]), art[contract].abi)
    out: dict[Any, str] = {}
    for log in replayed.chain.get_logs(address=c.address, topic0=c.topic0(event)):
        decoded = c.decode_log(log)
        if decoded is not None:
            out[decoded[1][key]] = str(decoded[1][value]).lower()
    return out


def _doctor_accounts(replayed: Replayed, art: dict[str, Any]) -> dict[Any, str]:
    return _event_map(replayed, art, "DoctorRegistry", "DoctorOnboarded", "doctor_id", "account")


def _hospital_accounts(replayed: Replayed, art: dict[str, Any]) -> dict[str, int]:
    found = _event_map(replayed, art, "HospitalRegistry", "HospitalVerified", "account",
                       "hospital_id")
    return {str(account).lower(): int(hospital_id) for account, hospital_id in found.items()}


def _entry(event: str, a: dict[str, Any], ts: int, block: int, who: Any, doctor: Any,
           hospital: Any) -> AuditEntry:
    pmr = a.get("pmr_id") or None
    if event == "AccessGranted":
        return AuditEntry(ts, block, "grant", who(a["grantee"]), pmr,
                          f"until {_time(a['expiry'])}" + ("" if pmr else " (all records)")
                          + (", may write" if a.get("can_write") else ""))
    if event == "AccessRevoked":
        return AuditEntry(ts, block, "revoke", who(a["grantee"]), pmr, "")
    if event == "AccessUsed":
        return AuditEntry(ts, block, "access", who(a["grantee"]), pmr,
                          f"under {KINDS.get(a['kind'], a['kind'])}, "
                          f"for {hospital(a['hospital_id'])}")
    if event == "EmergencyAccess":
        return AuditEntry(ts, block, "break-glass", who(a["doctor"]), None,
                          f"opening {a['opening']} at {hospital(a['hospital_id'])}, "
                          f"reason code {a['reason_code']}, until {_time(a['expiry'])}")
    if event == "EmergencyClosed":
        return AuditEntry(ts, block, "break-glass closed", who(a["doctor"]), None,
                          f"by {who(a['closed_by'])}")
    if event == "EmergencyReviewed":
        return AuditEntry(ts, block, "break-glass review", who(a["doctor"]), None,
                          f"opening {a['opening']} at {hospital(a['hospital_id'])}: "
                          f"{VERDICTS.get(a['verdict'], a['verdict'])}, by {who(a['reviewer'])}")
    if event == "PMRVersionAdded":
        return AuditEntry(ts, block, "PMR version", doctor(a["doctor_id"]), pmr,
                          f"version {a['version']} at {hospital(a['hospital_id'])}")
    if event == "LabReferral":
        return AuditEntry(ts, block, "lab referral", doctor(a["doctor_id"]), pmr,
                          f"to {hospital(a['hospital_id'])}")
    return AuditEntry(ts, block, "lab report", hospital(a["hospital_id"]), pmr,
                      f"report {a['report_id']}, test type {a['test_type']}")


def _time(ts: int) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M")
