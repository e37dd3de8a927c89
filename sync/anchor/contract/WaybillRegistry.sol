// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

/// @title Waybill registry: a witness of every Waybill device's event log
/// @notice Records, per device log, the checkpoints (tree size, Merkle root)
/// the device signed, refusing any that would rewrite the log's history, and
/// proves on chain that an event is in an anchored log.
///
/// The byte formats are those of firmware-docs/PROTOCOL.md; this contract is
/// specified in firmware-docs/CONTRACT.md.
///
/// Logs. A device keeps one log per epoch, named by its checkpoint origin
/// "waybill/<fleet>/<device>/<epoch>" (PROTOCOL.md §7). The contract builds
/// that origin itself from (fleet, device, epoch), so a device can only
/// anchor under its own name, and keys all state by logId = keccak256(origin),
/// the same hash the EIP-712 checkpoint struct carries. Epochs are separate
/// trees with separate state: each may be anchored in any order, and within
/// each the size never goes backwards and every root extends the last one.
///
/// Signatures. Checkpoints and events are EIP-712 typed data (PROTOCOL.md §4)
/// in the domain {name "Waybill", version "1", chainId = block.chainid,
/// salt = keccak256(fleet)}; the fleet is passed with each call, so one
/// deployment serves every fleet on the chain. Anyone may submit a checkpoint
/// the device signed (a relayer pays the gas; the device itself may too).
///
/// Compiled for evmVersion paris (no PUSH0, MCOPY, TLOAD, TSTORE, BLOBHASH):
/// permissioned chains may not have the later forks.
contract WaybillRegistry {
    // ---- EIP-712 (PROTOCOL.md §4) ----

    bytes32 private constant DOMAIN_TYPEHASH =
        keccak256("EIP712Domain(string name,string version,uint256 chainId,bytes32 salt)");
    bytes32 private constant NAME_HASH = keccak256("Waybill");
    bytes32 private constant VERSION_HASH = keccak256("1");
    bytes32 private constant EVENT_TYPEHASH = keccak256(
        "WaybillEvent(address device,uint32 epoch,uint64 seq,uint64 time,string timeSource,string kind,string payload)"
    );
    bytes32 private constant CHECKPOINT_TYPEHASH =
        keccak256("WaybillCheckpoint(string origin,uint64 size,bytes32 root)");

    /// secp256k1 group order n and n/2 (PROTOCOL.md §4.4, EIP-2).
    uint256 private constant N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141;
    uint256 private constant HALF_N = 0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0;

    /// Largest integer an event carries (JSON numbers are exact to 2^53-1).
    uint256 private constant MAX_SAFE = 2 ** 53 - 1;
    /// Longest proof accepted, as agent/merkle: 64 hashes.
    uint256 private constant MAX_PROOF = 64;
    /// Largest canonical payload, in bytes (PROTOCOL.md §2).
    uint256 private constant MAX_PAYLOAD = 8192;

    // ---- State ----

    /// The latest anchored checkpoint of one log. Its root is roots[logId][size].
    struct Head {
        uint64 size; // tree size; 0 while nothing is anchored
        uint64 blockNumber; // block the anchor was included in
        uint64 timestamp; // that block's timestamp, Unix seconds
    }

    mapping(bytes32 logId => Head) private heads;
    /// Every anchored root, so that a proof against any anchored checkpoint
    /// stays verifiable after later anchors.
    mapping(bytes32 logId => mapping(uint64 size => bytes32 root)) private roots;

    /// A signed event, member for member as in its leaf (PROTOCOL.md §2, §6).
    struct SignedEvent {
        address device;
        uint32 epoch;
        uint64 seq;
        uint64 time; // Unix milliseconds
        string timeSource; // "gnss", "ntp", "rtc" or "unsynced"
        string kind;
        bytes payload; // the canonical JSON object, exactly as in the leaf
        bytes sig; // r ‖ s ‖ v, 65 bytes, v 27 or 28, low s
    }

    /// Emitted for every accepted checkpoint.
    /// @param device the device address
    /// @param logId keccak256(origin)
    /// @param size the new tree size
    /// @param root the new Merkle root
    /// @param previousSize the size anchored before, 0 for the log's first anchor
    /// @param origin "waybill/<fleet>/<device>/<epoch>"
    event Anchored(
        address indexed device,
        bytes32 indexed logId,
        uint64 indexed size,
        bytes32 root,
        uint64 previousSize,
        string origin
    );

    /// The device is the zero address.
    error ZeroDevice();
    /// The fleet is not 1-63 of a-z 0-9 . _ - starting with a letter or digit.
    error InvalidFleet();
    /// The checkpoint is of the empty tree: there is nothing to witness.
    error EmptyTree();
    /// The root is zero, which no SHA-256 tree has (zero marks "not
    /// anchored" in the state).
    error ZeroRoot();
    /// The checkpoint signature is malformed (length, v, r, high s) or does
    /// not recover to the device.
    error BadSignature();
    /// The tree size is below the anchored one.
    error SizeBackwards(uint64 anchoredSize, uint64 size);
    /// This exact checkpoint is the one already anchored.
    error AlreadyAnchored(uint64 size);
    /// The anchored checkpoint has this size with another root: the device
    /// signed two different trees of one size.
    error ConflictingRoot(uint64 size, bytes32 anchoredRoot, bytes32 root);
    /// The consistency proof does not show the new tree extending the
    /// anchored one (RFC 9162 §2.1.4.2): the root forks the log, or the proof
    /// is wrong.
    error InconsistentRoot(uint64 anchoredSize, uint64 size);

    // ---- Anchoring ----

    /// @notice Anchors a checkpoint the device signed: the tree of `size`
    /// leaves with `root` of the log of (`fleet`, `device`, `epoch`).
    /// @param sig the device's EIP-712 WaybillCheckpoint signature, r ‖ s ‖ v
    /// (the second signature line of the checkpoint note)
    /// @param consistency the RFC 9162 §2.1.4 consistency proof from the
    /// log's anchored head to this checkpoint; empty for the log's first
    /// anchor, required (and checked) for every later one
    function anchor(
        address device,
        string calldata fleet,
        uint32 epoch,
        uint64 size,
        bytes32 root,
        bytes calldata sig,
        bytes32[] calldata consistency
    ) external {
        (bytes32 id, bytes memory origin) = authorize(device, fleet, epoch, size, root, sig);
        uint64 prev = advance(id, size, root, consistency);
        emit Anchored(device, id, size, root, prev, string(origin));
    }

    /// Checks the arguments and the checkpoint signature of anchor; returns
    /// the log's id and origin.
    function authorize(
        address device,
        string calldata fleet,
        uint32 epoch,
        uint64 size,
        bytes32 root,
        bytes calldata sig
    ) private view returns (bytes32 id, bytes memory origin) {
        if (device == address(0)) revert ZeroDevice();
        if (!validFleet(fleet)) revert InvalidFleet();
        if (size == 0) revert EmptyTree();
        if (root == bytes32(0)) revert ZeroRoot();
        origin = buildOrigin(fleet, device, epoch);
        id = keccak256(origin);
        bytes32 structHash = keccak256(abi.encode(CHECKPOINT_TYPEHASH, id, size, root));
        if (!signedBy(digest(fleet, structHash), sig, device)) revert BadSignature();
    }

    /// Moves log id's head to (size, root) if that extends it; returns the
    /// previous size.
    function advance(bytes32 id, uint64 size, bytes32 root, bytes32[] calldata consistency)
        private
        returns (uint64 prev)
    {
        prev = heads[id].size;
        if (prev != 0) {
            if (size < prev) revert SizeBackwards(prev, size);
            bytes32 prevRoot = roots[id][prev];
            if (size == prev) {
                if (root == prevRoot) revert AlreadyAnchored(size);
                revert ConflictingRoot(size, prevRoot, root);
            }
            if (!consistent(consistency, prev, size, prevRoot, root)) revert InconsistentRoot(prev, size);
        }
        roots[id][size] = root;
        heads[id] = Head(size, uint64(block.number), uint64(block.timestamp));
    }

    // ---- Views ----

    /// @notice Reports whether the event is leaf `ev.seq` of the anchored
    /// checkpoint of tree size `size` of its log, and is signed by its device.
    /// The leaf bytes are rebuilt from the fields exactly as the device wrote
    /// them (PROTOCOL.md §6), hashed SHA-256(0x00 ‖ leaf), and the inclusion
    /// proof is checked per RFC 9162 §2.1.3.2 against the root anchored at
    /// `size` (any anchored size, not only the latest). The EIP-712 event
    /// signature must recover to ev.device in the domain of `fleet`.
    /// Returns false, never reverts, for any field, proof or size that does
    /// not verify.
    /// @param inclusion the audit path, leaf's sibling first
    function verifyEvent(string calldata fleet, SignedEvent calldata ev, uint64 size, bytes32[] calldata inclusion)
        external
        view
        returns (bool)
    {
        if (ev.device == address(0) || !validFleet(fleet)) return false;
        if (ev.seq > MAX_SAFE || ev.time > MAX_SAFE || ev.seq >= size) return false;
        if (ev.payload.length > MAX_PAYLOAD || ev.sig.length != 65) return false;
        bytes32 tsHash = keccak256(bytes(ev.timeSource));
        if (!validTimeSource(tsHash) || !validKind(ev.kind)) return false;
        if (inclusion.length > MAX_PROOF) return false;

        bytes32 root = roots[keccak256(buildOrigin(fleet, ev.device, ev.epoch))][size];
        if (root == bytes32(0)) return false;
        if (!included(inclusion, ev.seq, size, leafHash(ev), root)) return false;

        bytes32 structHash = keccak256(
            abi.encode(
                EVENT_TYPEHASH,
                ev.device,
                ev.epoch,
                ev.seq,
                ev.time,
                tsHash,
                keccak256(bytes(ev.kind)),
                keccak256(ev.payload)
            )
        );
        return signedBy(digest(fleet, structHash), ev.sig, ev.device);
    }

    /// @notice The latest anchored checkpoint of a log; size 0 if none.
    function head(bytes32 logId)
        external
        view
        returns (uint64 size, bytes32 root, uint64 blockNumber, uint64 timestamp)
    {
        Head memory h = heads[logId];
        return (h.size, roots[logId][h.size], h.blockNumber, h.timestamp);
    }

    /// @notice The root anchored for a log at tree size `size`, or zero if
    /// no checkpoint of that size was anchored.
    function rootAt(bytes32 logId, uint64 size) external view returns (bytes32) {
        return roots[logId][size];
    }

    /// @notice The checkpoint origin "waybill/<fleet>/<device>/<epoch>".
    function originOf(address device, string calldata fleet, uint32 epoch) external pure returns (string memory) {
        return string(buildOrigin(fleet, device, epoch));
    }

    /// @notice The key of a log's state: keccak256 of its origin.
    function logIdOf(address device, string calldata fleet, uint32 epoch) external pure returns (bytes32) {
        return keccak256(buildOrigin(fleet, device, epoch));
    }

    /// @notice The EIP-712 domain separator of `fleet` on this chain.
    function domainSeparator(string calldata fleet) external view returns (bytes32) {
        return separator(fleet);
    }

    // ---- EIP-712 and signatures ----

    function separator(string calldata fleet) private view returns (bytes32) {
        return keccak256(abi.encode(DOMAIN_TYPEHASH, NAME_HASH, VERSION_HASH, block.chainid, keccak256(bytes(fleet))));
    }

    function digest(string calldata fleet, bytes32 structHash) private view returns (bytes32) {
        return keccak256(abi.encodePacked(hex"1901", separator(fleet), structHash));
    }

    /// Reports whether sig is a valid signature of d by device: 65 bytes
    /// r ‖ s ‖ v with v 27 or 28, 0 < r < n, 0 < s <= n/2 (PROTOCOL.md §4.4).
    function signedBy(bytes32 d, bytes calldata sig, address device) private pure returns (bool) {
        if (sig.length != 65) return false;
        bytes32 r = bytes32(sig[0:32]);
        bytes32 s = bytes32(sig[32:64]);
        uint8 v = uint8(sig[64]);
        if (v != 27 && v != 28) return false;
        if (r == 0 || uint256(r) >= N || s == 0 || uint256(s) > HALF_N) return false;
        address got = ecrecover(d, v, r, s);
        return got != address(0) && got == device;
    }

    // ---- Leaf bytes (PROTOCOL.md §6; agent/event Signed.appendLeaf) ----

    /// SHA-256(0x00 ‖ leaf), the leaf being the RFC 8785 canonical JSON
    /// {"device":…,"epoch":…,"kind":…,"payload":…,"seq":…,"sig":…,
    /// "time":…,"time_source":…,"v":1} with lowercase hex and decimal
    /// integers; the payload is copied as it is.
    function leafHash(SignedEvent calldata ev) private pure returns (bytes32) {
        bytes memory head1 = abi.encodePacked(
            hex"00",
            '{"device":"0x',
            hexOf(abi.encodePacked(ev.device)),
            '","epoch":',
            decimal(ev.epoch),
            ',"kind":"',
            ev.kind,
            '","payload":'
        );
        bytes memory tail = abi.encodePacked(
            ',"seq":',
            decimal(ev.seq),
            ',"sig":"0x',
            hexOf(ev.sig),
            '","time":',
            decimal(ev.time),
            ',"time_source":"',
            ev.timeSource,
            '","v":1}'
        );
        return sha256(abi.encodePacked(head1, ev.payload, tail));
    }

    /// Lowercase hex digits of b, two per byte, 16 bytes at a time: the
    /// bytes are spread one per 16-bit lane, then one nibble per byte, and
    /// each nibble n becomes "0" + n, or "a" + n - 10 when n > 9 (n + 6 then
    /// carries into bit 4). The last round may read past b and write past
    /// out, into memory nothing has allocated yet.
    function hexOf(bytes memory b) private pure returns (bytes memory out) {
        out = new bytes(2 * b.length);
        assembly ("memory-safe") {
            let src := add(b, 32)
            let dst := add(out, 32)
            for { let i := 0 } lt(i, mload(b)) { i := add(i, 16) } {
                let x := shr(128, mload(add(src, i)))
                x := and(or(shl(64, x), x), 0x0000000000000000ffffffffffffffff0000000000000000ffffffffffffffff)
                x := and(or(shl(32, x), x), 0x00000000ffffffff00000000ffffffff00000000ffffffff00000000ffffffff)
                x := and(or(shl(16, x), x), 0x0000ffff0000ffff0000ffff0000ffff0000ffff0000ffff0000ffff0000ffff)
                x := and(or(shl(8, x), x), 0x00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff)
                x := and(or(shl(4, x), x), 0x0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f)
                let letters := mul(
                    and(shr(4, add(x, 0x0606060606060606060606060606060606060606060606060606060606060606)),
                        0x0101010101010101010101010101010101010101010101010101010101010101),
                    0x27
                )
                mstore(
                    add(dst, shl(1, i)),
                    add(add(x, 0x3030303030303030303030303030303030303030303030303030303030303030), letters)
                )
            }
        }
    }

    /// v in decimal, without leading zeros.
    function decimal(uint256 v) private pure returns (bytes memory out) {
        uint256 n = 1;
        for (uint256 t = v; t >= 10; t /= 10) {
            n++;
        }
        out = new bytes(n);
        assembly ("memory-safe") {
            for { let p := add(add(out, 32), n) } 1 {} {
                p := sub(p, 1)
                mstore8(p, add(48, mod(v, 10)))
                v := div(v, 10)
                if iszero(v) { break }
            }
        }
    }

    /// The checkpoint origin "waybill/<fleet>/<device>/<epoch>" (PROTOCOL.md §7).
    function buildOrigin(string calldata fleet, address device, uint32 epoch) private pure returns (bytes memory) {
        return abi.encodePacked("waybill/", fleet, "/0x", hexOf(abi.encodePacked(device)), "/", decimal(epoch));
    }

    /// ^[a-z0-9][a-z0-9._-]{0,62}$ (PROTOCOL.md §4.1).
    function validFleet(string calldata fleet) private pure returns (bool) {
        bytes calldata b = bytes(fleet);
        if (b.length == 0 || b.length > 63) return false;
        for (uint256 i; i < b.length; ++i) {
            bytes1 c = b[i];
            bool ok = (c >= "a" && c <= "z") || (c >= "0" && c <= "9");
            if (!ok && (i == 0 || (c != "." && c != "_" && c != "-"))) return false;
        }
        return true;
    }

    /// ^[a-z][a-z0-9_]{0,47}$ (PROTOCOL.md §2).
    function validKind(string calldata kind) private pure returns (bool) {
        bytes calldata b = bytes(kind);
        if (b.length == 0 || b.length > 48) return false;
        for (uint256 i; i < b.length; ++i) {
            bytes1 c = b[i];
            bool ok = c >= "a" && c <= "z";
            if (!ok && (i == 0 || !((c >= "0" && c <= "9") || c == "_"))) return false;
        }
        return true;
    }

    function validTimeSource(bytes32 h) private pure returns (bool) {
        return h == keccak256("gnss") || h == keccak256("ntp") || h == keccak256("rtc") || h == keccak256("unsynced");
    }

    // ---- RFC 9162 Merkle tree (PROTOCOL.md §6) ----

    /// SHA-256(0x01 ‖ left ‖ right) through the SHA-256 precompile.
    function nodeHash(bytes32 left, bytes32 right) private view returns (bytes32 h) {
        assembly ("memory-safe") {
            let p := mload(0x40)
            mstore8(p, 0x01)
            mstore(add(p, 1), left)
            mstore(add(p, 33), right)
            if iszero(staticcall(gas(), 0x02, p, 65, 0x00, 0x20)) { revert(0, 0) }
            h := mload(0x00)
        }
    }

    /// RFC 9162 §2.1.3.2: whether proof shows leaf hash `leaf` at `index` in
    /// the tree of `size` leaves with `root`.
    function included(bytes32[] calldata proof, uint256 index, uint256 size, bytes32 leaf, bytes32 root)
        private
        view
        returns (bool)
    {
        if (index >= size) return false;
        uint256 fn = index;
        uint256 sn = size - 1;
        bytes32 r = leaf;
        for (uint256 i; i < proof.length; ++i) {
            if (sn == 0) return false;
            if (fn & 1 == 1 || fn == sn) {
                r = nodeHash(proof[i], r);
                while (fn & 1 == 0 && fn != 0) {
                    fn >>= 1;
                    sn >>= 1;
                }
            } else {
                r = nodeHash(r, proof[i]);
            }
            fn >>= 1;
            sn >>= 1;
        }
        return sn == 0 && r == root;
    }

    /// RFC 9162 §2.1.4.2: whether proof shows the tree of m leaves with
    /// oldRoot to be a prefix of the tree of n leaves with newRoot, 0 < m < n.
    function consistent(bytes32[] calldata proof, uint256 m, uint256 n, bytes32 oldRoot, bytes32 newRoot)
        private
        view
        returns (bool)
    {
        if (proof.length == 0 || proof.length > MAX_PROOF) return false;
        uint256 i;
        bytes32 fr = oldRoot;
        if (m & (m - 1) != 0) {
            fr = proof[0];
            i = 1;
        }
        bytes32 sr = fr;
        uint256 fn = m - 1;
        uint256 sn = n - 1;
        while (fn & 1 == 1) {
            fn >>= 1;
            sn >>= 1;
        }
        for (; i < proof.length; ++i) {
            if (sn == 0) return false;
            bytes32 c = proof[i];
            if (fn & 1 == 1 || fn == sn) {
                fr = nodeHash(c, fr);
                sr = nodeHash(c, sr);
                while (fn & 1 == 0 && fn != 0) {
                    fn >>= 1;
                    sn >>= 1;
                }
            } else {
                sr = nodeHash(sr, c);
            }
            fn >>= 1;
            sn >>= 1;
        }
        return sn == 0 && fr == oldRoot && sr == newRoot;
    }
}
