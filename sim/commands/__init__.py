"""Sub-commands of ``pmrsim``.

Each module here has ``register(subparsers)`` that adds its sub-command(s)
and sets ``func`` to a handler ``(args: argparse.Namespace) -> int``.
Handlers raise :class:`sim.errors.InputError` for bad input (exit 2) and
:class:`sim.errors.CheckFailed` for a failed check (exit 1); ``sim.cli``
prints them as one line.
"""
