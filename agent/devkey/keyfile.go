package devkey

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/pbkdf2"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/ethereum/go-ethereum/crypto"
	"github.com/google/uuid"
	"golang.org/x/crypto/scrypt"

	"github.com/waybill-eu/waybill/agent/event"
)

// Limits of the key files Load accepts (firmware-docs/PROTOCOL.md §5). They
// are checked before any key is derived, so that a damaged or hostile file
// can neither exhaust memory nor keep a device busy for long.
const (
	// MaxKeyFileSize bounds a key file; a keystore is about 500 bytes.
	MaxKeyFileSize = 64 << 10

	// MinScryptN and MaxScryptN bound scrypt's cost parameter n, which
	// must be a power of two. Scrypt needs 128·r·n bytes of memory: 1 MiB
	// at the minimum with r = 8, 256 MiB at the maximum (go-ethereum's
	// standard keys, n = 2^18).
	MinScryptN = 1 << 10
	MaxScryptN = 1 << 18
	// MaxScryptR bounds scrypt's block size r (1 ≤ r ≤ 8).
	MaxScryptR = 8
	// MaxScryptP bounds scrypt's parallelism p (1 ≤ p ≤ 16; go-ethereum's
	// light keys use p = 6).
	MaxScryptP = 16
	// MaxScryptWork bounds n·r·p, which the time to derive the key is
	// proportional to: twice go-ethereum's standard key (2^18·8·1), 16
	// times a key this package writes.
	MaxScryptWork = 1 << 22

	// MinPBKDF2C and MaxPBKDF2C bound PBKDF2's iteration count c.
	MinPBKDF2C = 1 << 10
	MaxPBKDF2C = 1 << 20

	// MinSaltLen and MaxSaltLen bound the KDF salt, in bytes.
	MinSaltLen = 16
	MaxSaltLen = 64
)

// ErrInvalidKeyFile is matched (errors.Is) by every error that says a key
// file is not a keystore Load accepts; the error is a *FormatError.
var ErrInvalidKeyFile = errors.New("not a valid key file")

// A FormatError says which member of a key file is wrong and why.
type FormatError struct {
	Field  string // the member at fault, as a path such as "crypto.kdfparams.n"; "" for the file as a whole
	Reason string
}

func (e *FormatError) Error() string {
	if e.Field == "" {
		return e.Reason
	}
	return e.Field + ": " + e.Reason
}

// Is reports ErrInvalidKeyFile as matching.
func (e *FormatError) Is(target error) bool { return target == ErrInvalidKeyFile }

func formatErr(field, format string, args ...any) error {
	return &FormatError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// KDF names the key derivation of a key file and its parameters.
type KDF struct {
	Name string // "scrypt" or "pbkdf2"
	N    int    // scrypt's cost
	R    int    // scrypt's block size
	P    int    // scrypt's parallelism
	C    int    // PBKDF2's iteration count
	Salt []byte
}

// String describes k as in "scrypt n=32768 r=8 p=1".
func (k KDF) String() string {
	if k.Name == "scrypt" {
		return fmt.Sprintf("scrypt n=%d r=%d p=%d", k.N, k.R, k.P)
	}
	return fmt.Sprintf("pbkdf2 hmac-sha256 c=%d", k.C)
}

// Memory returns the bytes the derivation needs (scrypt: 128·r·n).
func (k KDF) Memory() int {
	if k.Name == "scrypt" {
		return 128 * k.R * k.N
	}
	return 0
}

// derive returns the 32-byte derived key.
func (k KDF) derive(passphrase []byte) ([]byte, error) {
	if k.Name == "scrypt" {
		return scrypt.Key(passphrase, k.Salt, k.N, k.R, k.P, 32)
	}
	return pbkdf2.Key(sha256.New, string(passphrase), k.Salt, k.C, 32)
}

// A KeyFile is a parsed and validated keystore, not yet decrypted.
type KeyFile struct {
	Path    string        // where it was read from; "" when parsed from bytes
	Address event.Address // the address the file says it holds
	KDF     KDF

	iv, ciphertext, mac []byte
}

// ParseKeyFile parses and validates a Web3 Secret Storage version 3
// keystore within the limits of firmware-docs/PROTOCOL.md §5. Every error
// is a *FormatError naming the member at fault.
//
// The members are matched by exact name; a member given twice, a member
// the format does not define (other than top-level ones named "x-…", which
// some wallets add) and a value of the wrong type are refused.
func ParseKeyFile(b []byte) (*KeyFile, error) {
	if len(b) == 0 {
		return nil, formatErr("", "the file is empty")
	}
	if len(b) > MaxKeyFileSize {
		return nil, formatErr("", "%d bytes is larger than a key file can be (%d bytes)", len(b), MaxKeyFileSize)
	}
	top, err := members(b, "", func(name string) bool {
		switch name {
		case "address", "crypto", "id", "version":
			return true
		}
		return strings.HasPrefix(name, "x-")
	})
	if err != nil {
		return nil, err
	}
	if v, err := integer(top, "", "version"); err != nil {
		return nil, err
	} else if v != 3 {
		return nil, formatErr("version", "%d is not supported (only version 3)", v)
	}
	id, err := str(top, "", "id")
	if err != nil {
		return nil, err
	}
	if _, err := uuid.Parse(id); err != nil || len(id) != 36 {
		return nil, formatErr("id", "%q is not a UUID (8-4-4-4-12 hex digits)", id)
	}
	kf := new(KeyFile)
	addr, err := str(top, "", "address")
	if err != nil {
		return nil, err
	}
	a, err := hexBytes("address", strings.TrimPrefix(addr, "0x"), 20, 20)
	if err != nil {
		return nil, err
	}
	copy(kf.Address[:], a)

	c, err := object(top, "", "crypto", func(name string) bool {
		switch name {
		case "cipher", "cipherparams", "ciphertext", "kdf", "kdfparams", "mac":
			return true
		}
		return false
	})
	if err != nil {
		return nil, err
	}
	if s, err := str(c, "crypto.", "cipher"); err != nil {
		return nil, err
	} else if s != "aes-128-ctr" {
		return nil, formatErr("crypto.cipher", "%q is not supported (only aes-128-ctr)", s)
	}
	cp, err := object(c, "crypto.", "cipherparams", func(name string) bool { return name == "iv" })
	if err != nil {
		return nil, err
	}
	if kf.iv, err = hexMember(cp, "crypto.cipherparams.", "iv", 16, 16); err != nil {
		return nil, err
	}
	if kf.ciphertext, err = hexMember(c, "crypto.", "ciphertext", 32, 32); err != nil {
		return nil, err
	}
	if kf.mac, err = hexMember(c, "crypto.", "mac", 32, 32); err != nil {
		return nil, err
	}
	name, err := str(c, "crypto.", "kdf")
	if err != nil {
		return nil, err
	}
	if kf.KDF, err = parseKDF(c, name); err != nil {
		return nil, err
	}
	return kf, nil
}

func parseKDF(c map[string]json.RawMessage, name string) (KDF, error) {
	const at = "crypto.kdfparams."
	k := KDF{Name: name}
	var known func(string) bool
	switch name {
	case "scrypt":
		known = func(n string) bool { return n == "dklen" || n == "n" || n == "r" || n == "p" || n == "salt" }
	case "pbkdf2":
		known = func(n string) bool { return n == "dklen" || n == "c" || n == "prf" || n == "salt" }
	default:
		return k, formatErr("crypto.kdf", "%q is not supported (scrypt or pbkdf2)", name)
	}
	p, err := object(c, "crypto.", "kdfparams", known)
	if err != nil {
		return k, err
	}
	if dk, err := integer(p, at, "dklen"); err != nil {
		return k, err
	} else if dk != 32 {
		return k, formatErr(at+"dklen", "%d is not 32", dk)
	}
	if k.Salt, err = hexMember(p, at, "salt", MinSaltLen, MaxSaltLen); err != nil {
		return k, err
	}
	if name == "pbkdf2" {
		prf, err := str(p, at, "prf")
		if err != nil {
			return k, err
		}
		if prf != "hmac-sha256" {
			return k, formatErr(at+"prf", "%q is not supported (only hmac-sha256)", prf)
		}
		if k.C, err = bounded(p, at, "c", MinPBKDF2C, MaxPBKDF2C); err != nil {
			return k, err
		}
		return k, nil
	}
	if k.N, err = bounded(p, at, "n", MinScryptN, MaxScryptN); err != nil {
		return k, err
	}
	if k.N&(k.N-1) != 0 {
		return k, formatErr(at+"n", "%d is not a power of two", k.N)
	}
	if k.R, err = bounded(p, at, "r", 1, MaxScryptR); err != nil {
		return k, err
	}
	if k.P, err = bounded(p, at, "p", 1, MaxScryptP); err != nil {
		return k, err
	}
	if w := k.N * k.R * k.P; w > MaxScryptWork {
		return k, formatErr(at+"p", "n·r·p = %d·%d·%d is above 2^22, the most work a key may cost", k.N, k.R, k.P)
	}
	return k, nil
}

// Decrypt derives the key from passphrase and decrypts the file. A
// passphrase that does not match the file's MAC gives ErrWrongPassphrase
// (a damaged salt, ciphertext or MAC looks the same); a decrypted key
// whose address is not the file's address gives a *FormatError for
// "address" or "crypto.cipherparams.iv" (the MAC does not cover them).
//
// Deriving the key costs at most MaxScryptWork of scrypt; when ctx ends
// first, Decrypt returns ctx's error at once and the derivation finishes
// in the background.
func (kf *KeyFile) Decrypt(ctx context.Context, passphrase []byte) (*Key, error) {
	if ctx.Err() != nil {
		return nil, fmt.Errorf("devkey: deriving the key of %s: %w", kf.name(), context.Cause(ctx))
	}
	type result struct {
		dk  []byte
		err error
	}
	done := make(chan result, 1)
	go func() {
		dk, err := kf.KDF.derive(passphrase)
		done <- result{dk, err}
	}()
	var r result
	select {
	case <-ctx.Done():
		return nil, fmt.Errorf("devkey: deriving the key of %s: %w", kf.name(), context.Cause(ctx))
	case r = <-done:
	}
	if r.err != nil {
		return nil, fmt.Errorf("devkey: deriving the key of %s: %w", kf.name(), r.err)
	}
	mac := crypto.Keccak256(r.dk[16:32], kf.ciphertext)
	if subtle.ConstantTimeCompare(mac, kf.mac) != 1 {
		return nil, fmt.Errorf("devkey: %w %s (or its salt, ciphertext or mac is damaged: if the passphrase is right, %s)",
			ErrWrongPassphrase, kf.name(), restoreHint)
	}
	block, err := aes.NewCipher(r.dk[:16])
	if err != nil {
		return nil, fmt.Errorf("devkey: %w", err)
	}
	scalar := make([]byte, len(kf.ciphertext))
	cipher.NewCTR(block, kf.iv).XORKeyStream(scalar, kf.ciphertext)
	priv, err := crypto.ToECDSA(scalar)
	if err != nil {
		return nil, fmt.Errorf("devkey: key file %s: %w (%s)",
			kf.name(), &FormatError{Field: "crypto.cipherparams.iv", Reason: "the decrypted key is not a secp256k1 key"}, restoreHint)
	}
	k, err := fromECDSA(priv)
	if err != nil {
		return nil, err
	}
	if k.Address() != kf.Address {
		return nil, fmt.Errorf("devkey: key file %s: %w (%s)", kf.name(),
			&FormatError{Field: "address", Reason: fmt.Sprintf("the file says %s but holds the key of %s (the address or the iv is damaged)", kf.Address, k.Address())},
			restoreHint)
	}
	return k, nil
}

func (kf *KeyFile) name() string {
	if kf.Path == "" {
		return "(key file)"
	}
	return kf.Path
}

// restoreHint is the next step for a key file that is damaged.
const restoreHint = "restore the key file from its backup; a device key cannot be recreated, and a new one (waybill keygen) is a new device identity"

// members decodes the JSON object b into its members, refusing duplicate
// and unknown names and anything after the object. at is the object's
// path with a trailing dot ("" at the top level).
func members(b []byte, at string, known func(string) bool) (map[string]json.RawMessage, error) {
	where := strings.TrimSuffix(at, ".")
	if !utf8.Valid(b) {
		return nil, formatErr(where, "not valid UTF-8")
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	t, err := d.Token()
	if err != nil {
		return nil, jsonErr(where, b, err)
	}
	if t != json.Delim('{') {
		return nil, formatErr(where, "not a JSON object")
	}
	m := make(map[string]json.RawMessage)
	for d.More() {
		t, err := d.Token()
		if err != nil {
			return nil, jsonErr(where, b, err)
		}
		name := t.(string) // an object's member starts with its name
		var v json.RawMessage
		if err := d.Decode(&v); err != nil {
			return nil, jsonErr(at+name, b, err)
		}
		if _, dup := m[name]; dup {
			return nil, formatErr(at+name, "given twice")
		}
		if !known(name) {
			return nil, formatErr(at+name, "not a member of a version 3 keystore")
		}
		m[name] = v
	}
	if _, err := d.Token(); err != nil {
		return nil, jsonErr(where, b, err)
	}
	if _, err := d.Token(); err != io.EOF {
		return nil, formatErr(where, "unexpected data after the JSON object at byte %d", d.InputOffset())
	}
	return m, nil
}

func jsonErr(field string, b []byte, err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return formatErr(field, "the JSON ends after %d bytes, before it is complete (truncated)", len(b))
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return formatErr(field, "not valid JSON at byte %d: %s", se.Offset, strings.TrimPrefix(se.Error(), "json: "))
	}
	return formatErr(field, "not valid JSON: %s", strings.TrimPrefix(err.Error(), "json: "))
}

func object(m map[string]json.RawMessage, at, name string, known func(string) bool) (map[string]json.RawMessage, error) {
	v, ok := m[name]
	if !ok {
		return nil, formatErr(at+name, "missing")
	}
	return members(v, at+name+".", known)
}

func str(m map[string]json.RawMessage, at, name string) (string, error) {
	v, ok := m[name]
	if !ok {
		return "", formatErr(at+name, "missing")
	}
	var s string
	if len(v) == 0 || v[0] != '"' || json.Unmarshal(v, &s) != nil {
		return "", formatErr(at+name, "%s is not a string", clip(v))
	}
	return s, nil
}

// integer returns the member name as a non-negative JSON integer written
// in plain digits (no sign, fraction or exponent).
func integer(m map[string]json.RawMessage, at, name string) (uint64, error) {
	v, ok := m[name]
	if !ok {
		return 0, formatErr(at+name, "missing")
	}
	n, err := strconv.ParseUint(string(v), 10, 64)
	if err != nil || (len(v) > 1 && v[0] == '0') {
		return 0, formatErr(at+name, "%s is not a whole number from 0 to 2^64-1", clip(v))
	}
	return n, nil
}

func bounded(m map[string]json.RawMessage, at, name string, lo, hi int) (int, error) {
	n, err := integer(m, at, name)
	if err != nil {
		return 0, err
	}
	if n < uint64(lo) || n > uint64(hi) {
		return 0, formatErr(at+name, "%d is outside the accepted range %d to %d", n, lo, hi)
	}
	return int(n), nil
}

func hexMember(m map[string]json.RawMessage, at, name string, min, max int) ([]byte, error) {
	s, err := str(m, at, name)
	if err != nil {
		return nil, err
	}
	return hexBytes(at+name, s, min, max)
}

func hexBytes(field, s string, min, max int) ([]byte, error) {
	b, err := hex.DecodeString(s)
	if err != nil {
		return nil, formatErr(field, "%q is not hexadecimal", clip([]byte(s)))
	}
	switch {
	case min == max && len(b) != min:
		return nil, formatErr(field, "%d bytes, not %d", len(b), min)
	case len(b) < min || len(b) > max:
		return nil, formatErr(field, "%d bytes, not %d to %d", len(b), min, max)
	}
	return b, nil
}

// clip shortens a value quoted in an error to at most 40 runes.
func clip(b []byte) string {
	s := strings.ToValidUTF8(string(b), "\uFFFD")
	if utf8.RuneCountInString(s) <= 40 {
		return s
	}
	return string([]rune(s)[:40]) + "…"
}
