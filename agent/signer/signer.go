// Package signer signs and recovers Waybill events and checkpoints with the
// device's secp256k1 key, as EIP-712 typed data, so that an EVM contract can
// check any of them with ecrecover.
//
// The typed-data definitions are in firmware-docs/PROTOCOL.md §4:
//
//	EIP712Domain(string name,string version,uint256 chainId,bytes32 salt)
//	  name    = "Waybill"
//	  version = "1"
//	  chainId = the ledger's EIP-155 chain ID
//	  salt    = keccak256(fleet)
//	WaybillEvent(address device,uint32 epoch,uint64 seq,uint64 time,string timeSource,string kind,string payload)
//	WaybillCheckpoint(string origin,uint64 size,bytes32 root)
//
// The digest is keccak256(0x19 0x01 ‖ domainSeparator ‖ hashStruct(message))
// (EIP-712). Signatures are 65 bytes r ‖ s ‖ v with v ∈ {27, 28} and s in the
// lower half of the group order (EIP-2); anything else is refused. The device
// address inside each event and the fleet and chain in the domain stop a
// signature from being replayed for another device, fleet or chain.
package signer

import (
	"crypto/ecdsa"
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"
	"regexp"
	"strconv"
	"sync"

	"github.com/ethereum/go-ethereum/crypto"

	"github.com/waybill-eu/waybill/agent/event"
)

// ErrSignature is wrapped by every error about a signature that does not
// verify: malformed, high-s, or recovering to another address.
var ErrSignature = errors.New("signature does not verify")

// Domain is the EIP-712 signing domain of one fleet on one chain.
type Domain struct {
	ChainID uint64 // EIP-155 chain ID of the ledger the fleet anchors to
	Fleet   string // fleet identifier; see ValidFleet
}

var fleetRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)

// ValidFleet reports whether s is a well-formed fleet identifier: 1–63
// characters, lowercase letters, digits, '.', '_' and '-', starting with a
// letter or digit.
func ValidFleet(s string) bool { return fleetRE.MatchString(s) }

// Validate checks the domain's fields.
func (d Domain) Validate() error {
	if !ValidFleet(d.Fleet) {
		return fmt.Errorf("signer: fleet %q is not valid (1-63 of a-z 0-9 . _ -, starting with a letter or digit)", d.Fleet)
	}
	if d.ChainID == 0 || d.ChainID > event.MaxSeq {
		return fmt.Errorf("signer: chain ID %d is out of range (1 to 2^53-1, so that JSON carries it exactly)", d.ChainID)
	}
	return nil
}

// KeyName returns the signed-note key name of a device's checkpoint keys:
// "waybill/<fleet>/<device>". It is the same in every epoch.
func KeyName(fleet string, device event.Address) string {
	return "waybill/" + fleet + "/" + device.String()
}

// Origin returns the checkpoint origin of a device's log in epoch e:
// "waybill/<fleet>/<device>/<e>".
func Origin(fleet string, device event.Address, epoch uint32) string {
	return KeyName(fleet, device) + "/" + strconv.FormatUint(uint64(epoch), 10)
}

var (
	domainType     = crypto.Keccak256([]byte("EIP712Domain(string name,string version,uint256 chainId,bytes32 salt)"))
	eventType      = crypto.Keccak256([]byte("WaybillEvent(address device,uint32 epoch,uint64 seq,uint64 time,string timeSource,string kind,string payload)"))
	checkpointType = crypto.Keccak256([]byte("WaybillCheckpoint(string origin,uint64 size,bytes32 root)"))
	nameHash       = crypto.Keccak256([]byte("Waybill"))
	versionHash    = crypto.Keccak256([]byte("1"))
)

// separators caches domain separators: a device signs in one domain.
var separators sync.Map // Domain → [32]byte

// Separator returns the EIP-712 domain separator.
func (d Domain) Separator() [32]byte {
	if v, ok := separators.Load(d); ok {
		return v.([32]byte)
	}
	sep := d.separator()
	separators.Store(d, sep)
	return sep
}

func (d Domain) separator() [32]byte {
	var buf [5 * 32]byte
	copy(buf[0:], domainType)
	copy(buf[32:], nameHash)
	copy(buf[64:], versionHash)
	putUint(buf[96:128], d.ChainID)
	copy(buf[128:], crypto.Keccak256([]byte(d.Fleet)))
	return [32]byte(crypto.Keccak256(buf[:]))
}

func putUint(word []byte, v uint64) { binary.BigEndian.PutUint64(word[24:32], v) }

func digest(d Domain, structHash []byte) [32]byte {
	sep := d.Separator()
	return [32]byte(crypto.Keccak256([]byte{0x19, 0x01}, sep[:], structHash))
}

// EventDigest returns the EIP-712 digest the device signs for e.
func EventDigest(d Domain, e *event.Event) [32]byte {
	var buf [8 * 32]byte
	copy(buf[0:], eventType)
	copy(buf[32+12:64], e.Device[:])
	putUint(buf[64:96], uint64(e.Epoch))
	putUint(buf[96:128], e.Seq)
	putUint(buf[128:160], uint64(e.Time))
	copy(buf[160:], crypto.Keccak256([]byte(e.Source)))
	copy(buf[192:], crypto.Keccak256([]byte(e.Kind)))
	copy(buf[224:], crypto.Keccak256(e.Payload))
	return digest(d, crypto.Keccak256(buf[:]))
}

// CheckpointDigest returns the EIP-712 digest the device signs for a
// checkpoint of origin at size with root.
func CheckpointDigest(d Domain, origin string, size uint64, root [32]byte) [32]byte {
	var buf [4 * 32]byte
	copy(buf[0:], checkpointType)
	copy(buf[32:], crypto.Keccak256([]byte(origin)))
	putUint(buf[64:96], size)
	copy(buf[96:], root[:])
	return digest(d, crypto.Keccak256(buf[:]))
}

// Key is a device's secp256k1 signing key.
type Key struct {
	priv *ecdsa.PrivateKey
	addr event.Address
}

// NewKey wraps a secp256k1 private key.
func NewKey(priv *ecdsa.PrivateKey) *Key {
	return &Key{priv: priv, addr: event.Address(crypto.PubkeyToAddress(priv.PublicKey))}
}

// Address returns the key's device address.
func (k *Key) Address() event.Address { return k.addr }

// SignDigest signs a 32-byte digest and returns r ‖ s ‖ v with v ∈ {27, 28}
// and low s.
func (k *Key) SignDigest(h [32]byte) (event.Signature, error) {
	var sig event.Signature
	raw, err := crypto.Sign(h[:], k.priv) // deterministic (RFC 6979), low-s
	if err != nil {
		return sig, fmt.Errorf("signer: sign: %w", err)
	}
	copy(sig[:], raw)
	sig[64] += 27
	return sig, nil
}

// SignEvent sets e.Device to the key's address and returns the signed event.
func (k *Key) SignEvent(d Domain, e event.Event) (*event.Signed, error) {
	e.Device = k.addr
	if err := e.Validate(); err != nil {
		return nil, err
	}
	sig, err := k.SignDigest(EventDigest(d, &e))
	if err != nil {
		return nil, err
	}
	return &event.Signed{Event: e, Sig: sig}, nil
}

var secp256k1HalfN = new(big.Int).Rsh(crypto.S256().Params().N, 1)

// Recover returns the address that signed digest h with sig. It refuses v
// other than 27 or 28, r or s out of range, and high s.
func Recover(h [32]byte, sig event.Signature) (event.Address, error) {
	var a event.Address
	v := sig[64]
	if v != 27 && v != 28 {
		return a, fmt.Errorf("%w: v is %d, want 27 or 28", ErrSignature, v)
	}
	r := new(big.Int).SetBytes(sig[:32])
	s := new(big.Int).SetBytes(sig[32:64])
	if r.Sign() == 0 || s.Sign() == 0 || r.Cmp(crypto.S256().Params().N) >= 0 {
		return a, fmt.Errorf("%w: r or s out of range", ErrSignature)
	}
	if s.Cmp(secp256k1HalfN) > 0 {
		return a, fmt.Errorf("%w: s is in the upper half of the order (only low-s signatures are valid)", ErrSignature)
	}
	raw := append([]byte(nil), sig[:]...)
	raw[64] -= 27
	pub, err := crypto.SigToPub(h[:], raw)
	if err != nil {
		return a, fmt.Errorf("%w: recover: %v", ErrSignature, err)
	}
	return event.Address(crypto.PubkeyToAddress(*pub)), nil
}

// VerifyEvent checks that s was signed by s.Device in domain d.
func VerifyEvent(d Domain, s *event.Signed) error {
	got, err := Recover(EventDigest(d, &s.Event), s.Sig)
	if err != nil {
		return fmt.Errorf("event %d: %w", s.Seq, err)
	}
	if got != s.Device {
		return fmt.Errorf("event %d: %w: signed by %s, not by device %s", s.Seq, ErrSignature, got, s.Device)
	}
	return nil
}

// VerifyCheckpoint checks that sig over (origin, size, root) in domain d was
// made by device.
func VerifyCheckpoint(d Domain, device event.Address, origin string, size uint64, root [32]byte, sig event.Signature) error {
	got, err := Recover(CheckpointDigest(d, origin, size, root), sig)
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	if got != device {
		return fmt.Errorf("checkpoint: %w: signed by %s, not by device %s", ErrSignature, got, device)
	}
	return nil
}
