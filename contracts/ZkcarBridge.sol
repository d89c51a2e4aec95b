// SPDX-License-Identifier: MIT
// zkcar bridge on L1 (SPEC §2). Deposits only for now; later turns add batch
// commitment, proof verification and withdrawal payout. The deposit ABI is stable.
pragma solidity 0.8.28;

contract ZkcarBridge {
    /// Emitted once per deposit. Ids are 0, 1, 2, ... with no gaps; the L1
    /// watcher refuses a gap. Amounts are in gwei and fit 63 bits.
    event Deposit(uint64 indexed depositId, address indexed from, address indexed to, uint64 amountGwei);

    uint64 private nextDepositId;

    /// Credits `to` on L2 with msg.value. Reverts unless msg.value > 0,
    /// msg.value is a whole number of gwei and msg.value / 1 gwei < 2**63.
    function deposit(address to) external payable {
        require(msg.value > 0, "zero deposit");
        require(msg.value % 1 gwei == 0, "not a multiple of 1 gwei");
        uint256 amountGwei = msg.value / 1 gwei;
        require(amountGwei < 2 ** 63, "amount too large");
        uint64 id = nextDepositId;
        nextDepositId = id + 1;
        emit Deposit(id, msg.sender, to, uint64(amountGwei));
    }

    /// The number of deposits so far, which is also the next deposit id.
    function depositCount() external view returns (uint64) {
        return nextDepositId;
    }
}
