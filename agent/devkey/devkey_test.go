package devkey

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCreateLoad_RoundTrip(t *testing.T) {
	p := filepath.Join(t.TempDir(), "device.key")
	k, err := Create(p, []byte("pw"))
	if err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(p)
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, want 0600", fi.Mode().Perm())
	}
	got, err := Load(context.Background(), p, []byte("pw"))
	if err != nil {
		t.Fatal(err)
	}
	if got.Address() != k.Address() || !got.Ed25519.Equal(k.Ed25519) {
		t.Fatal("loaded key differs from the created one")
	}
	if _, err := Create(p, []byte("pw")); err == nil || !strings.Contains(err.Error(), "refusing to overwrite") {
		t.Fatalf("Create over an existing key = %v", err)
	}
}

func TestLoad_Errors(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "device.key")
	if _, err := Create(p, []byte("pw")); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(context.Background(), p, []byte("nope")); !errors.Is(err, ErrWrongPassphrase) {
		t.Fatalf("wrong passphrase: %v", err)
	}
	os.Chmod(p, 0o640)
	if _, err := Load(context.Background(), p, []byte("pw")); !errors.Is(err, ErrPermissions) || !strings.Contains(err.Error(), "chmod 600 "+p) {
		t.Fatalf("group-readable key: %v", err)
	}
	if _, err := Load(context.Background(), filepath.Join(dir, "missing"), []byte("pw")); err == nil || !strings.Contains(err.Error(), "waybill keygen") {
		t.Fatalf("missing key: %v", err)
	}
	bad := filepath.Join(dir, "bad.key")
	os.WriteFile(bad, []byte("{not json"), 0o600)
	if _, err := Load(context.Background(), bad, []byte("pw")); !errors.Is(err, ErrInvalidKeyFile) || !strings.Contains(err.Error(), bad) {
		t.Fatalf("garbage key: %v", err)
	}
	if _, err := Create(filepath.Join(dir, "k2"), nil); err == nil {
		t.Fatal("Create accepted an empty passphrase")
	}
}

// The Ed25519 derivation is part of the protocol (PROTOCOL.md §5): pin it.
func TestDeriveEd25519_Vector(t *testing.T) {
	k, err := FromHex("4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318")
	if err != nil {
		t.Fatal(err)
	}
	pub := hex.EncodeToString(k.Ed25519Public())
	again, _ := DeriveEd25519(mustHex("4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"))
	if hex.EncodeToString(again.Public().(ed25519.PublicKey)) != pub {
		t.Fatal("derivation is not deterministic")
	}
	if k.Address().String() != "0x2c7536e3605d9c16a7a3d7b1898e529396a65c23" {
		t.Fatalf("address = %s", k.Address())
	}
	t.Logf("ed25519 public key %s", pub)
}

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

func TestReadPassphrase(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "pass")
	os.WriteFile(f, []byte("secret\r\n"), 0o600)
	if b, err := ReadPassphrase(context.Background(), f); err != nil || string(b) != "secret" {
		t.Fatalf("ReadPassphrase(file) = %q, %v", b, err)
	}
	t.Setenv(PassphraseEnv, "from-env")
	if b, err := ReadPassphrase(context.Background(), ""); err != nil || string(b) != "from-env" {
		t.Fatalf("ReadPassphrase(env) = %q, %v", b, err)
	}
	os.Unsetenv(PassphraseEnv)
	if _, err := ReadPassphrase(context.Background(), ""); err == nil || !strings.Contains(err.Error(), "--passphrase-file") {
		t.Fatalf("no passphrase: %v", err)
	}
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, []byte("\n"), 0o600)
	if _, err := ReadPassphrase(context.Background(), empty); err == nil {
		t.Fatal("empty passphrase file accepted")
	}
}
