"""Deploy the pmrsim contracts, wired to each other, for one layout.

Two links are circular and wired by the deployer right after deployment,
once each: the HospitalRegistry pushes hospital status to the
DoctorRegistry (so a doctor's standing is one call), and the PMR token
asks AccessGrants whether a doctor of another hospital holds a grant to
write (AccessGrants itself needs the token to check grants on minted
records).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from eth_utils import keccak

from sim.chain import Account, Chain, Contract
from sim.contracts import load_artifacts
from sim.errors import ChainError, InputError

LAYOUTS = ("private", "paper")
TOKENS = {"erc721": "PMRToken", "erc1155": "PMRMulti"}
REGULATOR_ROLE = bytes(keccak(b"REGULATOR_ROLE"))


@dataclass(frozen=True)
class System:
    """The deployed contracts of one pmrsim instance."""

    layout: str
    hospitals: Contract
    doctors: Contract
    patients: Contract
    pmrs: Contract
    labs: Contract
    grants: Contract
    iomt: Contract
    token: str = "erc721"

    def by_name(self) -> dict[str, Contract]:
        """Contract name (as in ``contracts_vyper/``) -> contract (one dict, do not change it)."""
        return self._by_name

    @functools.cached_property
    def _by_name(self) -> dict[str, Contract]:
        return {
            "HospitalRegistry": self.hospitals,
            "DoctorRegistry": self.doctors,
            "PatientRegistry": self.patients,
            "PMRToken": self.pmrs,
            "LabReports": self.labs,
            "AccessGrants": self.grants,
            "IoMTAnchor": self.iomt,
        }

    def label(self, role: str) -> str:
        """The deployed contract's name for a role: "PMRToken" is PMRMulti under ERC-1155."""
        return TOKENS[self.token] if role == "PMRToken" else role

    def name_of(self, address: bytes) -> str:
        """The contract name deployed at ``address`` ("?" if none)."""
        for name, contract in self.by_name().items():
            if contract.address == address:
                return self.label(name)
        return "?"


def deploy_system(
    chain: Chain, admin: Account, *, layout: str = "private", first_patient_id: int = 1,
    token: str = "erc721",
) -> System:
    """Deploy all contracts from ``admin`` for ``layout`` and ``token`` (erc721 or erc1155)."""
    if layout not in LAYOUTS:
        raise InputError(f"layout {layout!r}: expected one of {', '.join(LAYOUTS)}")
    if token not in TOKENS:
        raise InputError(f"token {token!r}: expected one of {', '.join(TOKENS)}")
    paper = layout == "paper"
    art = load_artifacts()

    def deploy(name: str, *args: object) -> Contract:
        return Contract.deploy(chain, admin, art[name].bytecode, art[name].abi, *args)

    hospitals = deploy("HospitalRegistry", paper)
    doctors = deploy("DoctorRegistry", hospitals.address, paper)
    patients = deploy("PatientRegistry", hospitals.address, paper, first_patient_id)
    pmrs = deploy(TOKENS[token], doctors.address, patients.address, paper)
    labs = deploy("LabReports", hospitals.address, pmrs.address, doctors.address, paper)
    grants = deploy("AccessGrants", hospitals.address, doctors.address, patients.address,
                    pmrs.address)
    iomt = deploy("IoMTAnchor", hospitals.address, patients.address)
    for contract, fn, target in ((hospitals, "set_doctor_registry", doctors),
                                 (pmrs, "set_access_grants", grants)):
        receipt = contract.transact(admin, fn, target.address)
        if not receipt.ok:
            raise ChainError(f"wiring {fn} failed: {receipt.revert_reason}")
    return System(layout, hospitals, doctors, patients, pmrs, labs, grants, iomt, token)
