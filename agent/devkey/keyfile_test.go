package devkey

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/accounts/keystore"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/google/uuid"
)

const testPass = "test passphrase"

// cheapKeyFile returns a keystore written by go-ethereum's encoder with
// scrypt n = 2^10 (1 MiB, milliseconds to derive) and the key it holds.
func cheapKeyFile(t testing.TB) ([]byte, *Key) {
	t.Helper()
	k, err := FromHex("4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318")
	if err != nil {
		t.Fatal(err)
	}
	ks := &keystore.Key{Id: uuid.MustParse("c20d291c-211f-4ffc-83c2-b5375cf66b87"), Address: crypto.PubkeyToAddress(k.secp.PublicKey), PrivateKey: k.secp}
	b, err := keystore.EncryptKey(ks, testPass, MinScryptN, 1)
	if err != nil {
		t.Fatal(err)
	}
	return b, k
}

// edit decodes b, applies f to the JSON tree and encodes it again.
func edit(t *testing.T, b []byte, f func(m map[string]any)) []byte {
	t.Helper()
	var m map[string]any
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(&m); err != nil {
		t.Fatal(err)
	}
	f(m)
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func cryptoOf(m map[string]any) map[string]any { return m["crypto"].(map[string]any) }
func kdfParams(m map[string]any) map[string]any {
	return cryptoOf(m)["kdfparams"].(map[string]any)
}

func TestParseKeyFile_Refuses(t *testing.T) {
	base, _ := cheapKeyFile(t)
	set := func(path string, v any) func(m map[string]any) {
		return func(m map[string]any) {
			parts := strings.Split(path, ".")
			o := m
			for _, p := range parts[:len(parts)-1] {
				o = o[p].(map[string]any)
			}
			if v == nil {
				delete(o, parts[len(parts)-1])
			} else {
				o[parts[len(parts)-1]] = v
			}
		}
	}
	raw := func(b string) func(*testing.T) []byte { return func(*testing.T) []byte { return []byte(b) } }
	ed := func(f func(m map[string]any)) func(*testing.T) []byte {
		return func(t *testing.T) []byte { return edit(t, base, f) }
	}
	replace := func(old, new string) func(*testing.T) []byte {
		return func(t *testing.T) []byte {
			if !bytes.Contains(base, []byte(old)) {
				t.Fatalf("%q not in the key file", old)
			}
			return bytes.Replace(base, []byte(old), []byte(new), 1)
		}
	}
	pbkdf2 := func(params map[string]any) func(m map[string]any) {
		return func(m map[string]any) {
			cryptoOf(m)["kdf"] = "pbkdf2"
			cryptoOf(m)["kdfparams"] = params
		}
	}
	salt := hex.EncodeToString(make([]byte, 32))
	for _, tc := range []struct {
		name  string
		file  func(*testing.T) []byte
		field string // the FormatError's Field
		says  string // in its Reason
	}{
		// The reproductions of issue 10, item 7.
		{"pbkdf2 without parameters", ed(pbkdf2(map[string]any{})), "crypto.kdfparams.dklen", "missing"},
		{"scrypt n 2^30", ed(set("crypto.kdfparams.n", 1<<30)), "crypto.kdfparams.n", "1073741824 is outside the accepted range 1024 to 262144"},

		{"empty", raw(""), "", "empty"},
		{"too large", func(*testing.T) []byte { return append(bytes.Repeat([]byte(" "), MaxKeyFileSize), base...) }, "", "larger than a key file can be"},
		{"not an object", raw("[1,2]"), "", "not a JSON object"},
		{"null", raw("null"), "", "not a JSON object"},
		{"garbage", raw("\x00\x01binary"), "", "not valid JSON"},
		{"invalid UTF-8", raw("{\"x-a\":\"\xff\"}"), "", "not valid UTF-8"},
		{"trailing data", func(*testing.T) []byte { return append(append([]byte{}, base...), " {}"...) }, "", "unexpected data after the JSON object"},
		{"duplicate member", replace(`"version":3`, `"version":3,"version":3`), "version", "given twice"},
		{"duplicate n", replace(`"n":1024`, `"n":1024,"n":1073741824`), "crypto.kdfparams.n", "given twice"},
		{"capitalised Crypto", replace(`"crypto":`, `"Crypto":`), "Crypto", "not a member of a version 3 keystore"},
		{"unknown member", ed(set("foo", 1)), "foo", "not a member"},
		{"unknown crypto member", ed(set("crypto.extra", "x")), "crypto.extra", "not a member"},
		{"unknown kdf parameter", ed(set("crypto.kdfparams.c", 5)), "crypto.kdfparams.c", "not a member"},

		{"version missing", ed(set("version", nil)), "version", "missing"},
		{"version 1", ed(set("version", 1)), "version", "only version 3"},
		{"version string", ed(set("version", "3")), "version", "not a whole number"},
		{"version fraction", replace(`"version":3`, `"version":3.0`), "version", "not a whole number"},
		{"id missing", ed(set("id", nil)), "id", "missing"},
		{"id not a UUID", ed(set("id", "device-1")), "id", "not a UUID"},
		{"address missing", ed(set("address", nil)), "address", "missing"},
		{"address short", ed(set("address", "2c7536e3")), "address", "4 bytes, not 20"},
		{"address not hex", ed(set("address", strings.Repeat("zz", 20))), "address", "not hexadecimal"},
		{"crypto missing", ed(set("crypto", nil)), "crypto", "missing"},
		{"crypto a string", ed(set("crypto", "x")), "crypto", "not a JSON object"},

		{"cipher cbc", ed(set("crypto.cipher", "aes-128-cbc")), "crypto.cipher", "only aes-128-ctr"},
		{"iv missing", ed(set("crypto.cipherparams.iv", nil)), "crypto.cipherparams.iv", "missing"},
		{"iv 15 bytes", ed(set("crypto.cipherparams.iv", strings.Repeat("00", 15))), "crypto.cipherparams.iv", "15 bytes, not 16"},
		{"ciphertext 31 bytes", ed(set("crypto.ciphertext", strings.Repeat("00", 31))), "crypto.ciphertext", "31 bytes, not 32"},
		{"ciphertext odd", ed(set("crypto.ciphertext", "abc")), "crypto.ciphertext", "not hexadecimal"},
		{"mac 64 bytes", ed(set("crypto.mac", strings.Repeat("00", 64))), "crypto.mac", "64 bytes, not 32"},
		{"mac a number", ed(set("crypto.mac", 5)), "crypto.mac", "not a string"},

		{"kdf argon2", ed(set("crypto.kdf", "argon2id")), "crypto.kdf", "scrypt or pbkdf2"},
		{"kdf missing", ed(set("crypto.kdf", nil)), "crypto.kdf", "missing"},
		{"kdfparams missing", ed(set("crypto.kdfparams", nil)), "crypto.kdfparams", "missing"},
		{"dklen 64", ed(set("crypto.kdfparams.dklen", 64)), "crypto.kdfparams.dklen", "64 is not 32"},
		{"salt 8 bytes", ed(set("crypto.kdfparams.salt", strings.Repeat("00", 8))), "crypto.kdfparams.salt", "8 bytes, not 16 to 64"},
		{"salt 65 bytes", ed(set("crypto.kdfparams.salt", strings.Repeat("00", 65))), "crypto.kdfparams.salt", "65 bytes, not 16 to 64"},
		{"n missing", ed(set("crypto.kdfparams.n", nil)), "crypto.kdfparams.n", "missing"},
		{"n 2^9", ed(set("crypto.kdfparams.n", 512)), "crypto.kdfparams.n", "outside the accepted range"},
		{"n 2^19", ed(set("crypto.kdfparams.n", 1<<19)), "crypto.kdfparams.n", "outside the accepted range"},
		{"n not a power of two", ed(set("crypto.kdfparams.n", 3000)), "crypto.kdfparams.n", "not a power of two"},
		{"n negative", ed(set("crypto.kdfparams.n", -1024)), "crypto.kdfparams.n", "not a whole number"},
		{"n exponent", replace(`"n":1024`, `"n":1.024e3`), "crypto.kdfparams.n", "not a whole number"},
		{"n beyond uint64", replace(`"n":1024`, `"n":184467440737095516160`), "crypto.kdfparams.n", "not a whole number"},
		{"r 0", ed(set("crypto.kdfparams.r", 0)), "crypto.kdfparams.r", "outside the accepted range 1 to 8"},
		{"r 9", ed(set("crypto.kdfparams.r", 9)), "crypto.kdfparams.r", "outside the accepted range 1 to 8"},
		{"p 0", ed(set("crypto.kdfparams.p", 0)), "crypto.kdfparams.p", "outside the accepted range 1 to 16"},
		{"p 17", ed(set("crypto.kdfparams.p", 17)), "crypto.kdfparams.p", "outside the accepted range 1 to 16"},
		{"work above 2^22", ed(func(m map[string]any) {
			p := kdfParams(m)
			p["n"], p["r"], p["p"] = 1<<18, 8, 3
		}), "crypto.kdfparams.p", "above 2^22"},

		{"pbkdf2 sha512", ed(pbkdf2(map[string]any{"c": 1 << 12, "dklen": 32, "prf": "hmac-sha512", "salt": salt})), "crypto.kdfparams.prf", "only hmac-sha256"},
		{"pbkdf2 c missing", ed(pbkdf2(map[string]any{"dklen": 32, "prf": "hmac-sha256", "salt": salt})), "crypto.kdfparams.c", "missing"},
		{"pbkdf2 c 2^21", ed(pbkdf2(map[string]any{"c": 1 << 21, "dklen": 32, "prf": "hmac-sha256", "salt": salt})), "crypto.kdfparams.c", "outside the accepted range 1024 to 1048576"},
		{"pbkdf2 c 10", ed(pbkdf2(map[string]any{"c": 10, "dklen": 32, "prf": "hmac-sha256", "salt": salt})), "crypto.kdfparams.c", "outside the accepted range"},
		{"pbkdf2 with n", ed(pbkdf2(map[string]any{"c": 1 << 12, "dklen": 32, "prf": "hmac-sha256", "salt": salt, "n": 1024})), "crypto.kdfparams.n", "not a member"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseKeyFile(tc.file(t))
			var fe *FormatError
			if !errors.As(err, &fe) || !errors.Is(err, ErrInvalidKeyFile) {
				t.Fatalf("ParseKeyFile = %v, want a *FormatError", err)
			}
			if fe.Field != tc.field || !strings.Contains(fe.Reason, tc.says) {
				t.Fatalf("ParseKeyFile = %q (field %q), want field %q saying %q", err, fe.Field, tc.field, tc.says)
			}
		})
	}
}

// TestLoad_Accepts loads the Web3 Secret Storage vectors (golden files),
// a key written as keygen writes it, go-ethereum's light and standard keys
// and a key with extra "x-" members.
func TestLoad_Accepts(t *testing.T) {
	web3 := "7a28b5ba57c53603b0b07b56bba752f7784bf506fa95edc395f5cf6c7514fe9d"
	vector := "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"
	base, _ := cheapKeyFile(t)
	for _, tc := range []struct {
		name, pass, scalar string
		file               func(t *testing.T) []byte
		kdf                string
	}{
		{"web3 scrypt vector", "testpassword", web3, golden("web3-scrypt.json"), "scrypt n=262144 r=1 p=8"},
		{"web3 pbkdf2 vector", "testpassword", web3, golden("web3-pbkdf2.json"), "pbkdf2 hmac-sha256 c=262144"},
		{"as keygen writes it", "waybill test vector", vector, golden("vector.key"), "scrypt n=32768 r=8 p=1"},
		{"geth light", testPass, vector, gethKey(vector, keystore.LightScryptN, keystore.LightScryptP), "scrypt n=4096 r=8 p=6"},
		{"x- members and 0x address", testPass, vector, func(t *testing.T) []byte {
			return edit(t, base, func(m map[string]any) {
				m["x-ethers"] = map[string]any{"client": "ethers.js"}
				m["address"] = "0x" + m["address"].(string)
			})
		}, "scrypt n=1024 r=8 p=1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "k.key")
			if err := os.WriteFile(p, tc.file(t), 0o600); err != nil {
				t.Fatal(err)
			}
			kf, err := ReadKeyFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if kf.KDF.String() != tc.kdf {
				t.Errorf("KDF = %s, want %s", kf.KDF, tc.kdf)
			}
			k, err := kf.Decrypt(context.Background(), []byte(tc.pass))
			if err != nil {
				t.Fatal(err)
			}
			if got := hex.EncodeToString(crypto.FromECDSA(k.ECDSA())); got != tc.scalar {
				t.Fatalf("scalar %s, want %s", got, tc.scalar)
			}
		})
	}
}

// TestParseKeyFile_Limits checks that the largest parameters accepted
// are go-ethereum's standard key's (n = 2^18, r = 8, p = 1: 256 MiB) and
// PBKDF2's c = 2^20, without deriving them.
func TestParseKeyFile_Limits(t *testing.T) {
	base, _ := cheapKeyFile(t)
	for _, tc := range []struct {
		edit func(m map[string]any)
		kdf  string
		mem  int
	}{
		{func(m map[string]any) { kdfParams(m)["n"] = keystore.StandardScryptN }, "scrypt n=262144 r=8 p=1", 256 << 20},
		{func(m map[string]any) { p := kdfParams(m); p["n"], p["r"], p["p"] = 1<<18, 1, 16 }, "scrypt n=262144 r=1 p=16", 32 << 20},
		{func(m map[string]any) {
			cryptoOf(m)["kdf"] = "pbkdf2"
			cryptoOf(m)["kdfparams"] = map[string]any{"c": MaxPBKDF2C, "dklen": 32, "prf": "hmac-sha256", "salt": strings.Repeat("ab", 64)}
		}, "pbkdf2 hmac-sha256 c=1048576", 0},
	} {
		kf, err := ParseKeyFile(edit(t, base, tc.edit))
		if err != nil {
			t.Fatal(err)
		}
		if kf.KDF.String() != tc.kdf || kf.KDF.Memory() != tc.mem {
			t.Errorf("KDF %s, %d bytes; want %s, %d bytes", kf.KDF, kf.KDF.Memory(), tc.kdf, tc.mem)
		}
	}
}

func golden(name string) func(t *testing.T) []byte {
	return func(t *testing.T) []byte {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
}

func gethKey(scalar string, n, p int) func(t *testing.T) []byte {
	return func(t *testing.T) []byte {
		priv, err := crypto.HexToECDSA(scalar)
		if err != nil {
			t.Fatal(err)
		}
		b, err := keystore.EncryptKey(&keystore.Key{Id: uuid.New(), Address: crypto.PubkeyToAddress(priv.PublicKey), PrivateKey: priv}, testPass, n, p)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
}

// TestWrite_GethReads checks that go-ethereum decrypts what Write writes.
func TestWrite_GethReads(t *testing.T) {
	p := filepath.Join(t.TempDir(), "k.key")
	k, err := Create(p, []byte(testPass))
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	gk, err := keystore.DecryptKey(b, testPass)
	if err != nil {
		t.Fatal(err)
	}
	if gk.Address != crypto.PubkeyToAddress(k.ECDSA().PublicKey) {
		t.Fatal("go-ethereum reads another key")
	}
}

func TestDecrypt_Damage(t *testing.T) {
	base, want := cheapKeyFile(t)
	other, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	flipIV := func(m map[string]any) {
		iv, _ := hex.DecodeString(cryptoOf(m)["cipherparams"].(map[string]any)["iv"].(string))
		iv[15] ^= 1
		cryptoOf(m)["cipherparams"].(map[string]any)["iv"] = hex.EncodeToString(iv)
	}
	flipCT := func(m map[string]any) {
		ct, _ := hex.DecodeString(cryptoOf(m)["ciphertext"].(string))
		ct[0] ^= 0x80
		cryptoOf(m)["ciphertext"] = hex.EncodeToString(ct)
	}
	for _, tc := range []struct {
		name string
		edit func(m map[string]any)
		pass string
		is   error
		says string
	}{
		{"wrong passphrase", func(map[string]any) {}, "nope", ErrWrongPassphrase, "restore the key file from its backup"},
		{"ciphertext flipped", flipCT, testPass, ErrWrongPassphrase, "ciphertext or mac is damaged"},
		{"iv flipped", flipIV, testPass, ErrInvalidKeyFile, "address: the file says 0x2c7536e3605d9c16a7a3d7b1898e529396a65c23 but holds the key of"},
		{"another address", func(m map[string]any) { a := other.Address(); m["address"] = hex.EncodeToString(a[:]) }, testPass, ErrInvalidKeyFile, "address or the iv is damaged"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kf, err := ParseKeyFile(edit(t, base, tc.edit))
			if err != nil {
				t.Fatal(err)
			}
			k, err := kf.Decrypt(context.Background(), []byte(tc.pass))
			if !errors.Is(err, tc.is) || !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("Decrypt = %v, %v; want %v saying %q", k, err, tc.is, tc.says)
			}
		})
	}
	kf, err := ParseKeyFile(base)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := kf.Decrypt(ctx, []byte(testPass)); !errors.Is(err, context.Canceled) {
		t.Fatalf("Decrypt after ctx ended = %v", err)
	}
	if k, err := kf.Decrypt(context.Background(), []byte(testPass)); err != nil || k.Address() != want.Address() {
		t.Fatalf("Decrypt = %v, %v", k, err)
	}
}

// TestKeyFile_Truncated cuts the key file at every offset: each is
// refused as truncated (never a panic) and names the file.
func TestKeyFile_Truncated(t *testing.T) {
	base, _ := cheapKeyFile(t)
	dir := t.TempDir()
	for i := 0; i < len(base); i++ {
		_, err := ParseKeyFile(base[:i])
		if !errors.Is(err, ErrInvalidKeyFile) {
			t.Fatalf("cut at %d: %v", i, err)
		}
		if i > 0 && !strings.Contains(err.Error(), "truncated") {
			t.Fatalf("cut at %d: %v does not say truncated", i, err)
		}
		if i%97 == 0 {
			p := filepath.Join(dir, "k.key")
			if err := os.WriteFile(p, base[:i], 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := Load(context.Background(), p, []byte(testPass))
			if !errors.Is(err, ErrInvalidKeyFile) || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "restore the key file from its backup") {
				t.Fatalf("Load of a key file cut at %d: %v", i, err)
			}
		}
	}
}

// TestKeyFile_BitFlips flips a seeded bit in every byte of the key file:
// each flip is refused or loads the very same key (a flip in the id or in
// the case of a hex digit), never another key.
func TestKeyFile_BitFlips(t *testing.T) {
	base, want := cheapKeyFile(t)
	rng := rand.New(rand.NewPCG(10, 7))
	same := 0
	for i := range base {
		b := append([]byte{}, base...)
		b[i] ^= 1 << rng.IntN(8)
		kf, err := ParseKeyFile(b)
		if err != nil {
			if !errors.Is(err, ErrInvalidKeyFile) {
				t.Fatalf("flip at %d: %v", i, err)
			}
			continue
		}
		k, err := kf.Decrypt(context.Background(), []byte(testPass))
		if err != nil {
			if !errors.Is(err, ErrWrongPassphrase) && !errors.Is(err, ErrInvalidKeyFile) {
				t.Fatalf("flip at %d: %v", i, err)
			}
			continue
		}
		if k.Address() != want.Address() {
			t.Fatalf("flip at %d (%q) loads another key %s", i, b, k.Address())
		}
		same++
	}
	t.Logf("%d of %d flips refused, %d load the same key", len(base)-same, len(base), same)
}

func FuzzParseKeyFile(f *testing.F) {
	base, _ := cheapKeyFile(f)
	f.Add(base)
	for _, name := range []string{"web3-scrypt.json", "web3-pbkdf2.json", "vector.key"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"crypto":{"kdf":"pbkdf2","kdfparams":{}}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		kf, err := ParseKeyFile(b)
		if err != nil {
			var fe *FormatError
			if !errors.As(err, &fe) {
				t.Fatalf("error %v is not a *FormatError", err)
			}
			return
		}
		k := kf.KDF
		switch k.Name {
		case "scrypt":
			if k.N < MinScryptN || k.N > MaxScryptN || k.N&(k.N-1) != 0 || k.R < 1 || k.R > MaxScryptR ||
				k.P < 1 || k.P > MaxScryptP || k.N*k.R*k.P > MaxScryptWork || k.Memory() > 256<<20 {
				t.Fatalf("accepted %s", k)
			}
		case "pbkdf2":
			if k.C < MinPBKDF2C || k.C > MaxPBKDF2C {
				t.Fatalf("accepted %s", k)
			}
		default:
			t.Fatalf("accepted KDF %q", k.Name)
		}
		if len(k.Salt) < MinSaltLen || len(k.Salt) > MaxSaltLen || len(kf.iv) != 16 || len(kf.ciphertext) != 32 || len(kf.mac) != 32 {
			t.Fatalf("accepted field sizes salt %d iv %d ciphertext %d mac %d", len(k.Salt), len(kf.iv), len(kf.ciphertext), len(kf.mac))
		}
		// Decrypting a cheap file must give a key or an error, never a panic.
		if (k.Name == "scrypt" && k.N*k.R*k.P <= 1<<14) || (k.Name == "pbkdf2" && k.C <= 1<<12) {
			if _, err := kf.Decrypt(context.Background(), []byte(testPass)); err != nil && !errors.Is(err, ErrWrongPassphrase) && !errors.Is(err, ErrInvalidKeyFile) {
				t.Fatalf("Decrypt: %v", err)
			}
		}
	})
}
