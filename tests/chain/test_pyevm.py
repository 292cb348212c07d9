"""The pyevm backend: conformance, plus what only it offers (dropped txs, eth-tester gas)."""

from __future__ import annotations

from typing import Any

import pytest

from sim.chain import Chain, Contract, make_chain
from sim.chain.abi import decode_revert_reason, encode_args
from sim.chain.keys import signing_backend_name
from sim.chain.pyevm import PyEVMChain
from tests.chain.conformance import ChainConformance, ChainFactory, deploy_counter
from tests.chain.contracts import counter


class TestPyEVMConformance(ChainConformance):
    """Run the conformance suite on :class:`PyEVMChain`."""

    @pytest.fixture
    def chain_factory(self) -> ChainFactory:
        """Build py-evm chains through the public factory."""

        def factory(seed: int | bytes, block_gas_limit: int) -> Chain:
            return make_chain("pyevm", seed=seed, block_gas_limit=block_gas_limit)

        return factory


def test_signing_uses_coincurve() -> None:
    """eth-keys signs with the coincurve backend (fast ECDSA)."""
    assert signing_backend_name() == "CoinCurveECCBackend"


def test_make_chain_gives_pyevm_cancun() -> None:
    """The default backend is PyEVMChain on one Cancun VM."""
    chain = make_chain(seed=b"x")
    assert isinstance(chain, PyEVMChain) and chain.name == "pyevm"
    assert chain.block_number == 0 and chain.block_gas_limit == 30_000_000


def test_revert_reason_decoding() -> None:
    """Error(string), Panic(uint256), bare and custom revert data decode as documented."""
    from eth_abi import encode
    from eth_utils import keccak

    error = keccak(b"Error(string)")[:4] + encode(["string"], ["nope"])
    panic = keccak(b"Panic(uint256)")[:4] + encode(["uint256"], [0x11])
    assert decode_revert_reason(error) == "nope"
    assert decode_revert_reason(panic) == "Panic(0x11)"
    assert decode_revert_reason(b"") == ""
    assert decode_revert_reason(b"\xde\xad") == "0xdead"


def test_gas_matches_eth_tester() -> None:
    """Deploy and call gas equal eth-tester's PyEVM backend pinned to Cancun."""
    from eth.vm.forks.cancun import CancunVM
    from eth_tester import EthereumTester, PyEVMBackend

    backend = PyEVMBackend(vm_configuration=((0, CancunVM),))
    assert backend.chain.get_vm().fork == "cancun"
    tester = EthereumTester(backend)
    sender = tester.get_accounts()[0]
    bytecode, _ = counter()
    init = bytecode + encode_args({"inputs": [{"type": "uint256"}]}, [5])

    def tester_gas(tx: dict[str, Any]) -> tuple[int, Any]:
        receipt = tester.get_transaction_receipt(
            tester.send_transaction({"from": sender, "gas": 2_000_000, **tx})
        )
        return int(receipt["gas_used"]), receipt

    deploy_gas, deploy_receipt = tester_gas({"data": "0x" + init.hex()})
    chain = make_chain(seed=1)
    c = deploy_counter(chain)
    assert chain.receipt(chain.block(1).receipts[0].tx_hash).gas_used == deploy_gas
    for fn, args in (("set", (42,)), ("bump", ()), ("set", (100,)), ("sink", ())):
        data = c.calldata(fn, *args)
        to = deploy_receipt["contract_address"]
        expected, _ = tester_gas({"to": to, "data": "0x" + data.hex()})
        got = c.transact(chain.account("alice"), fn, *args, gas=2_000_000).gas_used
        assert got == expected, fn


def test_bad_fee_transaction_is_dropped_not_fatal() -> None:
    """A queued transaction py-evm rejects at mining is dropped; the block still mines."""
    chain = PyEVMChain(1)
    c = deploy_counter(chain)
    acct = chain.account("alice")
    h = c.send(acct, "bump")
    chain.fund(acct.address, 0)  # cannot pay any more
    block = chain.mine()
    assert block.receipts == () and chain.pending() == ()
    assert h in chain.dropped
    chain.fund(acct.address)
    assert c.transact(acct, "bump").ok


def test_contract_rejects_wrong_arity() -> None:
    """Calling with the wrong number of arguments is an InputError."""
    from sim.errors import InputError

    chain = PyEVMChain(1)
    c = deploy_counter(chain)
    with pytest.raises(InputError, match="set"):
        c.call("set")
    assert isinstance(c, Contract)


def test_state_blobs_raise_when_the_database_is_unreachable(monkeypatch: pytest.MonkeyPatch) -> None:
    """If py-evm's in-memory database moves, state_blobs() raises a ChainError, not []."""
    from sim.errors import ChainError

    chain = PyEVMChain(1)
    deploy_counter(chain)
    monkeypatch.setattr(chain._db.db, "wrapped_db", object())  # a py-evm that keeps it elsewhere
    with pytest.raises(ChainError, match="cannot read py-evm's database"):
        chain.state_blobs()
