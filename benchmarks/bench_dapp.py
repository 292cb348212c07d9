"""Benchmark: the DApp's screens' server time on a live world of many patients.

Usage::

    python benchmarks/bench_dapp.py [--patients N] [--quick] [--repeat R] [--json PATH]

Builds a live world on the revm backend (one hospital, its desk and lab, two
doctors), registers N patients (default 20,000; ``--quick`` 2,000) through the
desk's actor, gives the first patient a visit, a lab study and a grant, then
requests each screen R times (default 40) in process through Starlette's
TestClient and reports the p50 and p95 per screen (the time includes the
in-process client, so it bounds the server's). Target: p95 under 100 ms on
every screen. Exit 1 when a screen misses it. Not a test: run by hand.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
import warnings
from pathlib import Path

TARGET_MS = 100.0


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print one line per screen."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--patients", type=int, default=None)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeat", type=int, default=40)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    patients = args.patients or (2_000 if args.quick else 20_000)
    if patients < 1 or args.repeat < 2:
        print("bench_dapp: --patients must be at least 1 and --repeat at least 2", file=sys.stderr)
        return 2
    warnings.simplefilter("ignore")  # the test client's notice about its HTTP library
    from starlette.testclient import TestClient

    from sim.dapp.app import create_app
    from sim.dapp.live import LiveWorld
    from sim.protocol.records import (
        DoctorProfile,
        HospitalProfile,
        PatientDetails,
        TestType,
        VisitRecord,
    )

    world = LiveWorld("revm")
    lab, _ = world.apply(HospitalProfile("GOVREG-1", "City General Hospital", "x", "x", "x"))
    world.verify(lab)
    world.add_staff(lab, "desk")
    world.add_staff(lab, "lab")
    world.onboard(lab, DoctorProfile("UPRN-1", "Dr. One", "x", "x"))
    world.onboard(lab, DoctorProfile("UPRN-2", "Dr. Two", "x", "x"))
    started = time.perf_counter()
    for i in range(patients):
        world.register_patient(lab, PatientDetails(f"Patient {i}", 40, "F", 60.0, 160.0, "a", "p", "e"))
    setup_s = time.perf_counter() - started
    world.advance(22, "regulator")
    first = world.patients["patient-1"].patient_id
    pmr = world.visit("dr-one", first, dt.date(2021, 1, 26), VisitRecord("a", "b", "c", "d")).issued
    pmr_id = int(pmr["pmr_id"])
    world.upload(lab, pmr_id, TestType.CT, "CT_small.dcm", "reason", "observations")
    world.grant("patient-1", "dr-two", pmr_id, 7)
    read = world.read("dr-two", pmr_id)
    screens = {
        "role picker (applicant)": "/live",
        "regulator": "/live?role=regulator",
        "hospital admin": f"/live?role=hospital:{lab}",
        "desk": f"/live?role=desk:{lab}",
        "lab": f"/live?role=lab:{lab}",
        "doctor": "/live?role=doctor:dr-two",
        "patient (by Patient-ID)": f"/live?patient_id={first}",
        "action page": f"/live/action/{read.number}",
        "rebuilt image": f"/live/action/{read.number}.png",
        "state JSON": "/api/live",
    }
    results = {}
    with TestClient(create_app(live=world, hosts={"testserver"})) as client:
        for name, url in screens.items():
            client.get(url)  # templates compiled once
            times = []
            for _ in range(args.repeat):
                t = time.perf_counter()
                response = client.get(url)
                times.append((time.perf_counter() - t) * 1000)
                assert response.status_code == 200, (url, response.status_code)
            times.sort()
            p50 = times[len(times) // 2]
            p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
            results[name] = {"url": url, "p50_ms": round(p50, 2), "p95_ms": round(p95, 2),
                             "bytes": len(response.content), "ok": p95 < TARGET_MS}
            print(f"{name:28} p50 {p50:7.1f} ms  p95 {p95:7.1f} ms  {len(response.content):>8,} B"
                  f"  {'ok' if p95 < TARGET_MS else 'MISSED'}")
    print(f"{patients:,} patients registered in {setup_s:.1f} s; target p95 < {TARGET_MS:.0f} ms")
    if args.json is not None:
        args.json.write_text(json.dumps({"patients": patients, "setup_s": round(setup_s, 1),
                                         "screens": results}, indent=1) + "\n")
    return 0 if all(r["ok"] for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
