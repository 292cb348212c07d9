"""pmrsim: a deterministic blockchain testbed for patient medical records.

The public API (documented in ``docs/api.md``; a test keeps the two in step):

* :func:`load_scenario`, :func:`run_scenario` - simulate a scenario as ``pmrsim run`` does.
* :func:`replay_folder` - re-execute a run's trace and verify it.
* :func:`make_chain`, :class:`Chain` - a chain of any backend (pyevm, revm, ethtester, rpc).
* :class:`Protocol` and the actors (:class:`Regulator`, :class:`Hospital`, :class:`Desk`,
  :class:`Doctor`, :class:`Lab`, :class:`Patient`, :class:`Device`) - the paper's use cases.
* :func:`run_story` - the tour's story, step by step.
* :class:`PmrsimError` and its subclasses - every error pmrsim raises.

Imports are lazy: ``import sim`` stays cheap, and each name loads its layer
(py-evm, pydicom, ...) on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "load_scenario": "sim.engine.scenario",
    "run_scenario": "sim.engine.runner",
    "replay_folder": "sim.engine.replay",
    "make_chain": "sim.chain",
    "Chain": "sim.chain",
    "Protocol": "sim.protocol",
    "Regulator": "sim.protocol",
    "Hospital": "sim.protocol",
    "Desk": "sim.protocol",
    "Doctor": "sim.protocol",
    "Lab": "sim.protocol",
    "Patient": "sim.protocol",
    "Device": "sim.protocol",
    "run_story": "sim.protocol.story",
    "PmrsimError": "sim.errors",
    "InputError": "sim.errors",
    "CheckFailed": "sim.errors",
    "ChainError": "sim.errors",
    "TransactionReverted": "sim.errors",
}

__all__ = sorted([*_EXPORTS, "__version__"])


def __getattr__(name: str) -> Any:
    """Load a public name from its layer on first use."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'sim' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
