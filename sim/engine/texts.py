"""Synthetic clinical text for visits and lab reports (drawn from the run's generator)."""

from __future__ import annotations

import random

from sim.protocol.records import LabFindings, TestType, VisitRecord

_COMPLAINTS = ["fever for {n} days", "cough for {n} weeks", "chest pain on exertion",
               "abdominal pain, {n} days", "headache and dizziness", "joint pain in both knees",
               "shortness of breath", "rash on forearms", "lower back pain, {n} weeks"]
_HISTORY = ["type 2 diabetes since {y}", "hypertension since {y}", "asthma in childhood",
            "appendectomy in {y}", "no significant history", "hypothyroidism since {y}"]
_DIAGNOSES = ["viral fever", "lower respiratory tract infection", "stable angina",
              "acute gastritis", "migraine", "osteoarthritis", "contact dermatitis",
              "lumbar strain", "community-acquired pneumonia"]
_TREATMENTS = ["paracetamol 650 mg, rest", "amoxicillin 500 mg tds for 5 days",
               "aspirin 75 mg, review in 2 weeks", "pantoprazole 40 mg", "physiotherapy",
               "topical steroid", "review with reports"]
_INSURERS = ["Star Health", "ICICI Lombard", "PM-JAY", "New India Assurance", ""]  # "": uninsured
_OBSERVATIONS = {
    TestType.XRAY: ["no active lung lesion", "opacity in right lower zone", "cardiomegaly"],
    TestType.CT: ["no intracranial bleed", "small renal calculus", "normal study"],
    TestType.MRI: ["L4-L5 disc bulge", "normal brain parenchyma", "meniscal tear"],
    TestType.ULTRASOUND: ["fatty liver grade 1", "normal abdomen", "gall stones"],
    TestType.MAMMOGRAPHY: ["BI-RADS 1", "BI-RADS 2 benign calcification"],
    TestType.BLOOD: ["HbA1c {v}.{d} %", "haemoglobin {v}.{d} g/dL", "TSH {d}.{v} mIU/L"],
    TestType.URINE: ["trace protein", "no pus cells", "glucose positive"],
    TestType.ECG: ["sinus rhythm {v}0 bpm", "left axis deviation", "ST depression V4-V6"],
    TestType.GENERAL_EXAM: ["BP 1{v}0/8{d} mmHg", "BMI 2{d}.{v}"],
}


def visit_record(rng: random.Random) -> VisitRecord:
    """A plausible visit record."""
    n, y = rng.randint(2, 9), rng.randint(1995, 2020)
    return VisitRecord(
        present_illness=rng.choice(_COMPLAINTS).format(n=n),
        past_illness=rng.choice(_HISTORY).format(y=y),
        provisional_diagnosis=rng.choice(_DIAGNOSES),
        treatment_summary=rng.choice(_TREATMENTS),
        insurance=rng.choice(_INSURERS),
    )


def lab_findings(rng: random.Random, test: TestType, day: object) -> LabFindings:
    """Plausible findings of ``test`` captured on ``day``."""
    observation = rng.choice(_OBSERVATIONS[test]).format(v=rng.randint(1, 9), d=rng.randint(0, 9))
    return LabFindings(test, day, rng.randint(1000, 1999),  # type: ignore[arg-type]
                       f"to evaluate {rng.choice(_DIAGNOSES)}", observation)
