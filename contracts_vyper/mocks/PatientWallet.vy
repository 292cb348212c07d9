# pragma version ~=0.4.3
"""
@title PatientWallet (test and adversary mock, never deployed by the system)
@custom:contract-name PatientWallet
@license MIT
@notice A contract account a patient may hold: it forwards its owner's calls
        and answers the ERC-1155 receiver hook by its mode: 0 accepts,
        1 refuses (reverts), 2 re-enters (forwards the stored call while
        the hook runs, notes whether it succeeded, then accepts). Used to
        try trust model rules T2 (no reentrancy) and T3 (a refusing
        receiver does not block its records).
"""

MODE_ACCEPT: constant(uint256) = 0
MODE_REFUSE: constant(uint256) = 1
MODE_REENTER: constant(uint256) = 2

owner: public(address)
mode: public(uint256)
hooks: public(uint256)
reentry_target: public(address)
reentry_data: public(Bytes[1024])
reentered: public(bool)
reentry_tried: public(bool)


@deploy
def __init__(mode: uint256):
    """
    @dev The deployer owns the wallet.
    @param mode How the receiver hook answers (0 accept, 1 refuse, 2 re-enter).
    """
    self.owner = msg.sender
    self.mode = mode


@external
def execute(target: address, data: Bytes[2048]) -> Bytes[1024]:
    """
    @dev Forward the owner's call; reverts with the callee's reason when it fails.
    @param target The contract to call.
    @param data The calldata.
    @return Bytes The callee's return data.
    """
    assert msg.sender == self.owner, "wallet: only the owner"
    return raw_call(target, data, max_outsize=1024)


@external
def set_mode(mode: uint256):
    """
    @dev Change how the receiver hook answers.
    @param mode 0 accept, 1 refuse, 2 re-enter.
    """
    assert msg.sender == self.owner, "wallet: only the owner"
    self.mode = mode


@external
def set_reentry(target: address, data: Bytes[1024]):
    """
    @dev The call the hook forwards in mode 2.
    @param target The contract to call back.
    @param data The calldata.
    """
    assert msg.sender == self.owner, "wallet: only the owner"
    self.reentry_target = target
    self.reentry_data = data


@external
def onERC1155Received(operator: address, sender: address, id: uint256, amount: uint256, data: Bytes[1024]) -> bytes4:
    """
    @dev The ERC-1155 receiver hook, answered by the mode.
    @param operator Unused.
    @param sender Unused.
    @param id Unused.
    @param amount Unused.
    @param data Unused.
    @return bytes4 The acceptance selector.
    """
    self.hooks += 1
    assert self.mode != MODE_REFUSE, "wallet: refuses"
    if self.mode == MODE_REENTER:
        self.reentry_tried = True
        self.reentered = raw_call(self.reentry_target, self.reentry_data, revert_on_failure=False)
    return method_id("onERC1155Received(address,address,uint256,uint256,bytes)", output_type=bytes4)


@external
@view
def supportsInterface(interface_id: bytes4) -> bool:
    """
    @dev ERC-165: ERC-165 and the ERC-1155 receiver.
    @param interface_id The interface identifier.
    @return bool Whether it is supported.
    """
    return interface_id == 0x01FFC9A7 or interface_id == 0x4E2312E0
