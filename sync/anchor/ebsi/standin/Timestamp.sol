// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

/// @title A local stand-in for EBSI's Timestamp contract
/// @notice Waybill cannot deploy EBSI's audited Timestamp contract here, nor
/// reach EBSI's pilot network from its tests; this contract exposes the same
/// write function, event and read function, with the same rules, so that the
/// EBSI backend (sync/anchor/ebsi) is exercised on a real EVM chain.
///
/// What it mirrors (EBSI's TimestampLib, as in firmware-docs/EBSI.md):
/// - timestampHashes(uint256[] hashAlgorithmIds, bytes[] hashValues,
///   bytes[] timestampData) returns (bytes32[] timestampIds): at most three
///   hashes per call, one algorithm per hash, timestamp data optional;
/// - a timestamp's id is sha256(hashValue), computed with the SHA-256
///   precompile; a hash already timestamped keeps its first record;
/// - the TimestampedHashes event with the ids, algorithms, values and data;
/// - getTimestampById(bytes32) returns the hash, who timestamped it, in
///   which block, and its data; getHashAlgorithmById(uint256) returns an
///   algorithm's output length (the API checks hash lengths against it).
///
/// What it leaves out: EBSI's proxy and upgrade machinery, the Trusted
/// Policies Registry checks of who may insert hash algorithms, records and
/// versions (timestampRecordHashes and the rest), and pagination. Its one
/// algorithm, id 1, is sha2-256, registered at construction.
contract Timestamp {
    /// @notice Status of a hash algorithm: 1 active, 2 revoked (EBSI's values).
    enum Status {
        undefined,
        active,
        revoked
    }

    struct HashAlgorithm {
        uint256 outputLength;
        string ianaName;
        string oid;
        Status status;
        string multiHash;
    }

    struct Hash {
        uint256 algorithm;
        bytes value;
    }

    struct Record {
        Hash hash;
        address timestampedBy;
        uint256 blockNumber;
        bytes data;
    }

    /// @notice Emitted by every successful timestampHashes call.
    event TimestampedHashes(bytes32[] timestampIds, uint256[] hashAlgorithmIds, bytes[] hashValues, bytes[] timestampData);

    mapping(uint256 => HashAlgorithm) private algorithms;
    mapping(bytes32 => Record) private records;
    uint256 private total;

    constructor() {
        algorithms[1] = HashAlgorithm(256, "sha-256", "2.16.840.1.101.3.4.2.1", Status.active, "sha2-256");
    }

    /// @notice Timestamps up to three hashes; returns their timestamp ids.
    function timestampHashes(
        uint256[] calldata hashAlgorithmIds,
        bytes[] calldata hashValues,
        bytes[] calldata timestampData
    ) external returns (bytes32[] memory timestampIds) {
        require(hashAlgorithmIds.length <= 3, "hashAlgorithmIds>3");
        require(hashValues.length <= 3, "hashValues>3");
        require(timestampData.length <= 3, "timestampData>3");
        require(hashValues.length == hashAlgorithmIds.length, "hashvalue/algo count mismatch");
        timestampIds = new bytes32[](hashValues.length);
        for (uint256 i = 0; i < hashValues.length; i++) {
            require(hashValues[i].length > 0, "hashValue empty");
            HashAlgorithm storage alg = algorithms[hashAlgorithmIds[i]];
            require(alg.outputLength > 0, "hashAlgo unknown");
            require(alg.status == Status.active, "hashAlgo not active");
            bytes32 id = sha256(hashValues[i]);
            timestampIds[i] = id;
            Record storage r = records[id];
            if (r.hash.value.length == 0) {
                r.hash = Hash(hashAlgorithmIds[i], hashValues[i]);
                r.timestampedBy = msg.sender;
                r.blockNumber = block.number;
                r.data = i < timestampData.length ? timestampData[i] : bytes("");
                total++;
            } else {
                require(r.hash.algorithm == hashAlgorithmIds[i], "timestamp with different hashAlgo");
            }
        }
        emit TimestampedHashes(timestampIds, hashAlgorithmIds, hashValues, timestampData);
    }

    /// @notice The timestamp with id timestampId (sha256 of its hash value).
    function getTimestampById(bytes32 timestampId)
        external
        view
        returns (Hash memory hash, address timestampedBy, uint256 blockNumber, bytes memory data)
    {
        require(timestampId != bytes32(0), "tsId empty");
        Record storage r = records[timestampId];
        require(r.hash.value.length > 0, "timestamp unknown");
        return (r.hash, r.timestampedBy, r.blockNumber, r.data);
    }

    /// @notice The hash algorithm with id hashAlgorithmId.
    function getHashAlgorithmById(uint256 hashAlgorithmId) external view returns (HashAlgorithm memory) {
        HashAlgorithm storage alg = algorithms[hashAlgorithmId];
        require(alg.outputLength > 0, "hashAlgo unknown");
        return alg;
    }

    /// @notice How many distinct hashes have been timestamped.
    function getTimestampsTotal() external view returns (uint256) {
        return total;
    }
}
