"""``pmrsim serve [RUN_DIR]``: the DApp in a browser, on loopback.

Without RUN_DIR, a live world: a fresh deployment on the chosen backend,
acted on through the paper's screens. With RUN_DIR, the explorer of that
finished run (its folder locked while served, as ``replay`` does). The
server binds to 127.0.0.1 unless ``--allow-remote`` is given with another
``--host``: it signs transactions for its users, so it should not be
reachable from elsewhere by accident.
"""

from __future__ import annotations

import argparse
import errno
import ipaddress
import socket
import sys
from pathlib import Path
from typing import Any

from sim.errors import InputError


def register(sub: Any) -> None:
    """Add the ``serve`` sub-command."""
    p = sub.add_parser("serve", help="the DApp: live screens for each stakeholder, or a run's explorer")
    p.add_argument("run_dir", nargs="?", metavar="RUN_DIR",
                   help="a finished run folder to explore (default: a live world)")
    p.add_argument("--backend", choices=["pyevm", "revm", "ethtester", "rpc", "anvil"],
                   default="pyevm", help="chain of the live world (default: pyevm)")
    p.add_argument("--rpc-url", help="JSON-RPC node of --backend rpc")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    p.add_argument("--port", type=_port, default=8000, help="port (default: 8000)")
    p.add_argument("--allow-remote", action="store_true",
                   help="allow a --host that is not loopback (the server signs for its users)")
    p.add_argument("--server-name", action="append", default=[], metavar="NAME",
                   help="a name or address remote clients use for this machine (repeatable); "
                        "needed with a wildcard --host such as 0.0.0.0, since only the names "
                        "served are answered")
    p.add_argument("--seed", type=int, default=0, help="seed of the live world (default: 0)")
    p.set_defaults(func=run)


def _port(text: str) -> int:
    """A TCP port number, 1-65535."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {text!r}") from None
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port number 1-65535, got {value}")
    return value


def is_loopback(host: str) -> bool:
    """True for a loopback address or the name localhost."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, allow_remote: bool, names: tuple[str, ...] = ()) -> None:
    """Refuse a non-loopback ``host`` unless ``allow_remote``; a wildcard ``host`` also needs
    the names clients will send (``--server-name``), since no client sends 0.0.0.0."""
    if not is_loopback(host) and not allow_remote:
        raise InputError(f"--host {host}: not a loopback address; the server signs transactions "
                         "for its users, so binding elsewhere needs --allow-remote")
    if host in ("0.0.0.0", "::", "[::]") and not names:
        raise InputError(f"--host {host}: a wildcard address answers only the Host names it "
                         "serves; name this machine as clients reach it with --server-name NAME")
    for name in names:
        if not name or any(c in name for c in "/@ \t") or name.count(":") == 1:
            raise InputError(f"--server-name {name!r}: expected a host name or an IP address "
                             "(no port, scheme or path)")


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port``; :class:`InputError` when it is busy or not ours."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise InputError(f"--host {host}: cannot resolve ({exc.strerror})") from None
    family, _, _, _, address = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(64)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise InputError(f"--port {port}: already in use on {host}") from None
        raise InputError(f"--host {host} --port {port}: cannot bind ({exc.strerror})") from None
    sock.setblocking(False)
    return sock


def build(args: argparse.Namespace, hosts: set[str]) -> tuple[Any, Any]:
    """The ASGI app for ``args`` (a live world, or the explorer of ``args.run_dir``), and the
    live world (None for the explorer), which the caller closes."""
    from sim.dapp.app import create_app

    if args.run_dir is not None:
        from sim.dapp.explorer import Explorer

        return create_app(explorer=Explorer(Path(args.run_dir)), hosts=hosts), None
    if args.backend == "rpc" and not args.rpc_url:
        raise InputError("--backend rpc needs --rpc-url URL")
    from sim.dapp.live import LiveWorld

    world = LiveWorld(args.backend, rpc_url=args.rpc_url, seed=args.seed)
    return create_app(live=world, hosts=hosts), world


def run(args: argparse.Namespace) -> int:
    """Check the flags, bind, build the app, serve until interrupted."""
    import uvicorn

    from sim.dapp.security import served_hosts

    check_bind(args.host, args.allow_remote, tuple(args.server_name))
    if args.run_dir is not None:
        from sim.outputs import reading

        with reading(args.run_dir, "serve"):
            return _serve(args, uvicorn, served_hosts)
    return _serve(args, uvicorn, served_hosts)


def _serve(args: argparse.Namespace, uvicorn: Any, served_hosts: Any) -> int:
    sock = bind(args.host, args.port)
    world = None
    try:
        host = f"[{args.host}]" if ":" in args.host else args.host
        app, world = build(args, served_hosts(args.host, args.port, tuple(args.server_name)))
        print(f"pmrsim serve: http://{host}:{args.port}/ "
              f"({'explorer of ' + args.run_dir if args.run_dir else 'live world'}; Ctrl-C stops)",
              file=sys.stderr, flush=True)
        config = uvicorn.Config(app, log_level="warning", lifespan="off")
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        sock.close()
        if world is not None:
            world.close()
    return 0
