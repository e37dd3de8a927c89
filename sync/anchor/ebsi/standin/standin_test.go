package standin_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/waybill-eu/waybill/sync/anchor/ebsi/standin"
)

// afterParis are the opcodes introduced after the paris EVM version, which
// a paris-level chain (permissioned Besu networks, EBSI's among them as far
// as Waybill knows) rejects: PUSH0 (shanghai), TLOAD, TSTORE, MCOPY,
// BLOBHASH, BLOBBASEFEE (cancun), CLZ (osaka).
var afterParis = map[byte]string{0x5f: "PUSH0", 0x5c: "TLOAD", 0x5d: "TSTORE", 0x5e: "MCOPY", 0x49: "BLOBHASH", 0x4a: "BLOBBASEFEE", 0x1e: "CLZ"}

// checkParis walks code instruction by instruction, skipping PUSH data and
// solc's trailing CBOR metadata, and fails on an opcode newer than paris.
func checkParis(code []byte) error {
	if n := len(code); n >= 2 {
		m := int(code[n-2])<<8 | int(code[n-1])
		if m+2 <= n && bytes.Contains(code[n-2-m:n-2], []byte("\x64solc")) {
			code = code[:n-2-m]
		}
	}
	for pc := 0; pc < len(code); pc++ {
		op := code[pc]
		if name, ok := afterParis[op]; ok {
			return fmt.Errorf("%s (0x%02x) at offset %d is newer than paris", name, op, pc)
		}
		if op >= 0x60 && op <= 0x7f {
			pc += int(op - 0x5f)
		}
	}
	return nil
}

func TestCheckParis(t *testing.T) {
	for _, c := range []struct {
		code []byte
		ok   bool
	}{
		{[]byte{0x60, 0x00}, true},
		{[]byte{0x5f}, false},
		{[]byte{0x60, 0x5f, 0x00}, true}, // PUSH1 data
		{[]byte{0x5e}, false},
	} {
		if err := checkParis(c.code); (err == nil) != c.ok {
			t.Errorf("checkParis(%x) = %v, want ok %v", c.code, err, c.ok)
		}
	}
}

// TestBytecode_Paris: the committed creation code holds no opcode newer
// than paris, the evmVersion sync/anchor/contract/package.json configures.
func TestBytecode_Paris(t *testing.T) {
	if err := checkParis(standin.Bytecode()); err != nil {
		t.Error(err)
	}
}

// TestABI_EBSIFunctions: the stand-in exposes EBSI's function, event and
// views with EBSI's signatures.
func TestABI_EBSIFunctions(t *testing.T) {
	a := standin.ABI()
	for name, sig := range map[string]string{
		"timestampHashes":      "timestampHashes(uint256[],bytes[],bytes[])",
		"getTimestampById":     "getTimestampById(bytes32)",
		"getHashAlgorithmById": "getHashAlgorithmById(uint256)",
	} {
		if m, ok := a.Methods[name]; !ok || m.Sig != sig {
			t.Errorf("method %s: %v, want %s", name, m.Sig, sig)
		}
	}
	if e, ok := a.Events["TimestampedHashes"]; !ok || e.Sig != "TimestampedHashes(bytes32[],uint256[],bytes[],bytes[])" {
		t.Errorf("event TimestampedHashes: %v", e.Sig)
	}
}

// TestBuild_Reproducible recompiles Timestamp.sol with the pinned solc,
// when sync/anchor/contract/build.sh has installed it, and compares the
// result with the committed files byte for byte.
func TestBuild_Reproducible(t *testing.T) {
	root, err := filepath.Abs("../../../..")
	if err != nil {
		t.Fatal(err)
	}
	var pkg struct {
		Config struct {
			EVMVersion string `json:"evmVersion"`
		} `json:"config"`
	}
	b, err := os.ReadFile(filepath.Join(root, "sync/anchor/contract/package.json"))
	if err != nil || json.Unmarshal(b, &pkg) != nil {
		t.Fatalf("sync/anchor/contract/package.json: %v", err)
	}
	if v := os.Getenv("EVM_VERSION"); v != "" && v != pkg.Config.EVMVersion {
		t.Skipf("EVM_VERSION=%s differs from the committed build's evmVersion", v)
	}
	if _, err := exec.LookPath("node"); err != nil {
		t.Skip("node is not installed: cannot recompile the stand-in")
	}
	modules := filepath.Join(root, "build", "contract", "node_modules")
	if _, err := os.Stat(filepath.Join(modules, "solc", "package.json")); err != nil {
		t.Skip("the pinned solc is not installed in build/contract: run sync/anchor/contract/build.sh (make contracts) first")
	}
	out := t.TempDir()
	cmd := exec.Command("node", filepath.Join(root, "sync", "anchor", "contract", "compile.js"), "--src", "Timestamp.sol", "--out", out)
	cmd.Env = append(os.Environ(), "NODE_PATH="+modules)
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("compile.js: %v\n%s", err, msg)
	}
	for _, name := range []string{"Timestamp.abi.json", "Timestamp.bin"} {
		got, err := os.ReadFile(filepath.Join(out, name))
		if err != nil {
			t.Fatal(err)
		}
		want, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from what Timestamp.sol compiles to: run node sync/anchor/contract/compile.js --src sync/anchor/ebsi/standin/Timestamp.sol", name)
		}
	}
}
