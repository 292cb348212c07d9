"""``pmrsim serve``: loopback by default, one-line errors, serves a run's explorer."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from sim.cli import main
from sim.commands.serve import check_bind, is_loopback
from sim.errors import InputError


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_non_loopback_host_refused(capsys: pytest.CaptureFixture[str]) -> None:
    """A non-loopback --host exits 2 with one line naming --allow-remote."""
    assert main(["serve", "--host", "0.0.0.0", "--port", str(_free_port())]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--allow-remote" in err


def test_allow_remote_is_explicit() -> None:
    """Loopback names pass; others pass only with allow_remote."""
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5")
    check_bind("192.168.1.5", True)
    with pytest.raises(InputError):
        check_bind("192.168.1.5", False)


def test_busy_port(capsys: pytest.CaptureFixture[str]) -> None:
    """A port already in use exits 2 with one line."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        assert main(["serve", "--port", str(port)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "already in use" in err


@pytest.mark.parametrize("port", ["0", "70000", "http"])
def test_bad_port(port: str, capsys: pytest.CaptureFixture[str]) -> None:
    """A port outside 1-65535 is a usage error: exit 2, one line."""
    with pytest.raises(SystemExit) as exc:
        main(["serve", "--port", port])
    assert exc.value.code == 2 and capsys.readouterr().err.count("\n") == 1


def test_not_a_run_dir(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A RUN_DIR without summary.json exits 2 naming the file."""
    assert main(["serve", str(tmp_path), "--port", str(_free_port())]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "summary.json" in err


def test_rpc_needs_url(capsys: pytest.CaptureFixture[str]) -> None:
    """--backend rpc without --rpc-url exits 2."""
    assert main(["serve", "--backend", "rpc", "--port", str(_free_port())]) == 2
    assert "--rpc-url" in capsys.readouterr().err


def test_wildcard_host_needs_server_names(capsys: pytest.CaptureFixture[str]) -> None:
    """--allow-remote --host 0.0.0.0 without --server-name exits 2 naming --server-name; a
    server name with a port or a scheme is refused too."""
    port = str(_free_port())
    assert main(["serve", "--host", "0.0.0.0", "--allow-remote", "--port", port]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--server-name" in err
    with pytest.raises(InputError, match=r"--server-name 'pmr\.lan:8000'"):
        check_bind("0.0.0.0", True, ("pmr.lan:8000",))
    with pytest.raises(InputError, match=r"--server-name 'http://pmr\.lan'"):
        check_bind("0.0.0.0", True, ("http://pmr.lan",))
    check_bind("0.0.0.0", True, ("pmr.lan", "10.0.0.5", "fe80::1"))
