// Package devkey creates and loads a device's key file.
//
// The file is a go-ethereum keystore (Web3 Secret Storage, version 3) holding
// the device's secp256k1 key, encrypted with scrypt and AES-128-CTR. Its
// scrypt parameters are N = 2^15, r = 8, p = 1: 32 MiB of memory and about a
// second on a Raspberry Pi Zero, affordable at every start-up on a 512 MiB
// device (go-ethereum's standard N = 2^18 needs 256 MiB).
//
// The device's second key, the Ed25519 key that signs checkpoint notes for
// stock transparency-log tools, is derived from the secp256k1 key with HKDF
// (RFC 5869, SHA-256; see firmware-docs/PROTOCOL.md §5), so one file and one
// passphrase hold the whole identity and the two keys can never drift apart.
//
// The file is written with mode 0600. Load (a key file) and
// ReadPassphrase (a passphrase file) refuse a file that group or others
// can access. Load validates the keystore against the limits of
// PROTOCOL.md §5 (the KDFs allowed and their parameters, the size of
// every field) before deriving any key, so that a damaged or hostile file
// gives an error naming the file and the field, never a panic or an
// exhausted memory; ReadPassphrase reads at most MaxPassphraseLen bytes
// and stops waiting for a FIFO's writer when its context ends.
package devkey

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/ethereum/go-ethereum/accounts/keystore"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/google/uuid"

	"github.com/waybill-eu/waybill/agent/atomicfile"
	"github.com/waybill-eu/waybill/agent/checkpoint"
	"github.com/waybill-eu/waybill/agent/event"
	"github.com/waybill-eu/waybill/agent/signer"
)

// Scrypt parameters of key files this package writes.
const (
	ScryptN = 1 << 15
	ScryptP = 1
)

// PassphraseEnv is the environment variable read for the passphrase when no
// passphrase file is given.
const PassphraseEnv = "WAYBILL_PASSPHRASE"

// ErrWrongPassphrase is returned by Load when the passphrase does not
// decrypt the key file.
var ErrWrongPassphrase = errors.New("wrong passphrase for key file")

// ErrPermissions is matched (errors.Is) by the error for a key or
// passphrase file that group or others can read, write or execute.
var ErrPermissions = errors.New("permissions too open")

// Key is a device's identity: the secp256k1 signing key and the Ed25519
// note key derived from it.
type Key struct {
	Signer  *signer.Key
	Ed25519 ed25519.PrivateKey
	secp    *ecdsa.PrivateKey
}

// Address returns the device address.
func (k *Key) Address() event.Address { return k.Signer.Address() }

// ECDSA returns the secp256k1 private key, for signing ledger transactions
// when the device pays for its own anchors.
func (k *Key) ECDSA() *ecdsa.PrivateKey { return k.secp }

// Ed25519Public returns the note key's public half.
func (k *Key) Ed25519Public() ed25519.PublicKey { return k.Ed25519.Public().(ed25519.PublicKey) }

// hkdfInfo separates the note key from any other use of the secp256k1 key.
const hkdfInfo = "waybill/v1 checkpoint note ed25519 key"

// DeriveEd25519 derives the Ed25519 note key from the 32-byte secp256k1
// private scalar: seed = HKDF-SHA256(IKM = scalar, salt = "waybill", info =
// "waybill/v1 checkpoint note ed25519 key", L = 32).
func DeriveEd25519(secpScalar []byte) (ed25519.PrivateKey, error) {
	seed, err := hkdf.Key(sha256.New, secpScalar, []byte("waybill"), hkdfInfo, ed25519.SeedSize)
	if err != nil {
		return nil, fmt.Errorf("devkey: derive note key: %w", err)
	}
	return ed25519.NewKeyFromSeed(seed), nil
}

func fromECDSA(priv *ecdsa.PrivateKey) (*Key, error) {
	ed, err := DeriveEd25519(crypto.FromECDSA(priv))
	if err != nil {
		return nil, err
	}
	return &Key{Signer: signer.NewKey(priv), Ed25519: ed, secp: priv}, nil
}

// Generate makes a new random device key without writing it.
func Generate() (*Key, error) {
	priv, err := crypto.GenerateKey()
	if err != nil {
		return nil, fmt.Errorf("devkey: generate: %w", err)
	}
	return fromECDSA(priv)
}

// FromHex builds a key from a 64-digit hex secp256k1 scalar (for tests and
// test vectors only: a real device key is generated and never printed).
func FromHex(h string) (*Key, error) {
	priv, err := crypto.HexToECDSA(strings.TrimPrefix(h, "0x"))
	if err != nil {
		return nil, fmt.Errorf("devkey: %w", err)
	}
	return fromECDSA(priv)
}

// Create generates a key and writes it encrypted to path, which must not
// exist. It returns the new key. The passphrase must be 1 to
// MaxPassphraseLen bytes.
func Create(path string, passphrase []byte) (*Key, error) {
	if len(passphrase) == 0 {
		return nil, errors.New("devkey: refusing an empty passphrase")
	}
	if len(passphrase) > MaxPassphraseLen {
		return nil, fmt.Errorf("devkey: %w: %d bytes, more than %d", ErrTooLong, len(passphrase), MaxPassphraseLen)
	}
	if _, err := os.Lstat(path); err == nil {
		return nil, fmt.Errorf("devkey: %s already exists; refusing to overwrite a device key", path)
	}
	k, err := Generate()
	if err != nil {
		return nil, err
	}
	return k, Write(path, k, passphrase)
}

// Write encrypts k with passphrase and writes it atomically to path, mode 0600.
func Write(path string, k *Key, passphrase []byte) error {
	id, err := uuid.NewRandom()
	if err != nil {
		return fmt.Errorf("devkey: %w", err)
	}
	ks := &keystore.Key{Id: id, Address: crypto.PubkeyToAddress(k.secp.PublicKey), PrivateKey: k.secp}
	blob, err := keystore.EncryptKey(ks, string(passphrase), ScryptN, ScryptP)
	if err != nil {
		return fmt.Errorf("devkey: encrypt: %w", err)
	}
	if err := atomicfile.WriteFile(path, blob, 0o600); err != nil {
		return fmt.Errorf("devkey: %w", err)
	}
	return nil
}

// Load reads, validates and decrypts the key file at path (ReadKeyFile,
// then KeyFile.Decrypt). Its errors name the file and say what is wrong:
// ErrPermissions, ErrInvalidKeyFile, ErrWrongPassphrase, or ctx's error
// when ctx ends while the key is derived.
func Load(ctx context.Context, path string, passphrase []byte) (*Key, error) {
	kf, err := ReadKeyFile(path)
	if err != nil {
		return nil, err
	}
	return kf.Decrypt(ctx, passphrase)
}

// SignEvent signs e in domain d with the secp256k1 key.
func (k *Key) SignEvent(d signer.Domain, e event.Event) (*event.Signed, error) {
	return k.Signer.SignEvent(d, e)
}

// NoteSigners returns the two checkpoint signers for key name in domain d:
// the Ed25519 note key (signed-note type 0x01, for stock tools) first, then
// the secp256k1 EIP-712 key (for contracts).
func (k *Key) NoteSigners(name string, d signer.Domain) ([]checkpoint.Signer, error) {
	ed, err := checkpoint.NewEd25519Signer(name, k.Ed25519)
	if err != nil {
		return nil, err
	}
	secp, err := k.Signer.NoteSigner(name, d)
	if err != nil {
		return nil, err
	}
	return []checkpoint.Signer{ed, secp}, nil
}

// VerifierKey returns the signed-note verifier key of the Ed25519 note key
// under name, in the standard "name+hash+key" form.
func (k *Key) VerifierKey(name string) (string, error) {
	return checkpoint.VerifierKey(name, k.Ed25519Public())
}
