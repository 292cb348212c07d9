"""The DApp layer: the paper's use cases as a typed Python API over a Chain.

>>> from sim.chain import make_chain
>>> from sim.protocol import Protocol, Hospital, Regulator
>>> p = Protocol.deploy(make_chain(seed=1))
"""

from sim.protocol.actors import Actor, Desk, Device, Doctor, Hospital, Lab, Patient, Regulator
from sim.protocol.custodian import KeyCustodian
from sim.protocol.deployment import LAYOUTS, System, deploy_system
from sim.protocol.merkle import Reading, ReadingBatch, merkle_proof, merkle_root
from sim.protocol.outcome import Outcome, SlotWrites
from sim.protocol.protocol import Protocol
from sim.protocol.records import (
    DoctorProfile,
    HospitalProfile,
    LabFindings,
    PatientDetails,
    TestType,
    VisitRecord,
)

__all__ = [
    "LAYOUTS",
    "Actor",
    "Desk",
    "Device",
    "Doctor",
    "DoctorProfile",
    "Hospital",
    "HospitalProfile",
    "KeyCustodian",
    "Lab",
    "LabFindings",
    "Outcome",
    "Patient",
    "PatientDetails",
    "Protocol",
    "Reading",
    "ReadingBatch",
    "Regulator",
    "SlotWrites",
    "System",
    "TestType",
    "VisitRecord",
    "deploy_system",
    "merkle_proof",
    "merkle_root",
]
