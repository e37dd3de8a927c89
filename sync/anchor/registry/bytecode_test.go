package registry_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode"

	"github.com/ethereum/go-ethereum/eth/ethconfig"
	"github.com/ethereum/go-ethereum/node"
	"github.com/ethereum/go-ethereum/params"

	"github.com/waybill-eu/waybill/sync/anchor/registry"
)

const (
	contractDir = "../contract"
	repoRoot    = "../../.."
)

// forks are the EVM versions solc knows, oldest first.
var forks = []string{
	"homestead", "tangerineWhistle", "spuriousDragon", "byzantium", "constantinople", "petersburg",
	"istanbul", "berlin", "london", "paris", "shanghai", "cancun", "prague", "osaka",
}

// opcodeFork maps every defined opcode to the fork that introduced it ("" for
// the original set). 0xfe (INVALID, EIP-141) is the designated invalid
// instruction, valid to have in code on every fork.
var opcodeFork = func() map[byte]string {
	m := map[byte]string{0xfe: ""}
	for _, r := range [][2]int{{0x00, 0x0b}, {0x10, 0x1a}, {0x20, 0x20}, {0x30, 0x3c}, {0x40, 0x45}, {0x50, 0x5b}, {0x60, 0xa4}, {0xf0, 0xf3}, {0xff, 0xff}} {
		for op := r[0]; op <= r[1]; op++ {
			m[byte(op)] = ""
		}
	}
	for op, fork := range map[byte]string{
		0xf4: "homestead",                                                          // DELEGATECALL (EIP-7)
		0x3d: "byzantium", 0x3e: "byzantium", 0xfa: "byzantium", 0xfd: "byzantium", // RETURNDATASIZE, RETURNDATACOPY (EIP-211), STATICCALL (EIP-214), REVERT (EIP-140)
		0x1b: "constantinople", 0x1c: "constantinople", 0x1d: "constantinople", // SHL, SHR, SAR (EIP-145)
		0x3f: "constantinople", 0xf5: "constantinople", // EXTCODEHASH (EIP-1052), CREATE2 (EIP-1014)
		0x46: "istanbul", 0x47: "istanbul", // CHAINID (EIP-1344), SELFBALANCE (EIP-1884)
		0x48: "london",                 // BASEFEE (EIP-3198)
		0x5f: "shanghai",               // PUSH0 (EIP-3855)
		0x49: "cancun", 0x4a: "cancun", // BLOBHASH (EIP-4844), BLOBBASEFEE (EIP-7516)
		0x5c: "cancun", 0x5d: "cancun", 0x5e: "cancun", // TLOAD, TSTORE (EIP-1153), MCOPY (EIP-5656)
		0x1e: "osaka", // CLZ (EIP-7939)
	} {
		m[op] = fork
	}
	return m
}()

// checkOpcodes walks code instruction by instruction, skipping PUSH data,
// and returns an error for the first opcode that evmVersion does not have,
// for an undefined opcode and for a PUSH cut off by the end of the code. A
// trailing CBOR metadata section (solc's, its length in the last two bytes)
// is data and is not walked.
func checkOpcodes(code []byte, evmVersion string) error {
	level := slices.Index(forks, evmVersion)
	if level < 0 {
		return fmt.Errorf("unknown evmVersion %q", evmVersion)
	}
	code = stripMetadata(code)
	for pc := 0; pc < len(code); pc++ {
		op := code[pc]
		fork, ok := opcodeFork[op]
		if !ok {
			return fmt.Errorf("undefined opcode 0x%02x at offset %d", op, pc)
		}
		if fork != "" && slices.Index(forks, fork) > level {
			return fmt.Errorf("opcode 0x%02x at offset %d needs %s, newer than evmVersion %s", op, pc, fork, evmVersion)
		}
		if op >= 0x60 && op <= 0x7f { // PUSH1..PUSH32
			n := int(op-0x60) + 1
			if pc+n >= len(code) {
				return fmt.Errorf("PUSH%d at offset %d runs past the end of the code", n, pc)
			}
			pc += n
		}
	}
	return nil
}

// stripMetadata removes solc's CBOR metadata from the end of code: a CBOR
// map holding a "solc" key, followed by its length as two big-endian bytes.
func stripMetadata(code []byte) []byte {
	if len(code) < 2 {
		return code
	}
	n := int(code[len(code)-2])<<8 | int(code[len(code)-1])
	if n+2 > len(code) {
		return code
	}
	cbor := code[len(code)-2-n : len(code)-2]
	if len(cbor) == 0 || cbor[0]&0xe0 != 0xa0 || !bytes.Contains(cbor, []byte("\x64solc")) {
		return code
	}
	return code[:len(code)-2-n]
}

func TestCheckOpcodes(t *testing.T) {
	push32 := "7f" + strings.Repeat("5f", 32)
	cases := []struct {
		code, evm string
		ok        bool
	}{
		{"6000", "paris", true},
		{"5f", "paris", false},    // PUSH0
		{"5f", "shanghai", true},  //
		{"605f00", "paris", true}, // 0x5f as PUSH1 data
		{push32 + "00", "paris", true},
		{"5e", "paris", false},    // MCOPY
		{"5c", "shanghai", false}, // TLOAD
		{"5d", "paris", false},    // TSTORE
		{"49", "paris", false},    // BLOBHASH
		{"5e", "cancun", true},
		{"1e", "prague", false}, // CLZ
		{"1e", "osaka", true},
		{"46", "paris", true},  // CHAINID
		{"46", "berlin", true}, //
		{"46", "petersburg", false},
		{"48", "berlin", false},  // BASEFEE
		{"0c", "osaka", false},   // undefined
		{"61ff", "paris", false}, // PUSH2 cut off
		{"fe", "homestead", true},
		// A metadata section is skipped, whatever bytes it holds.
		{"6000" + "a1" + hex.EncodeToString([]byte("\x64solc")) + "5f5f" + "0008", "paris", true},
	}
	for _, c := range cases {
		code, err := hex.DecodeString(c.code)
		if err != nil {
			t.Fatal(err)
		}
		if err := checkOpcodes(code, c.evm); (err == nil) != c.ok {
			t.Errorf("checkOpcodes(%s, %s) = %v, want ok %v", c.code, c.evm, err, c.ok)
		}
	}
}

// configuredEVMVersion is the evmVersion compile.js uses: the environment
// variable EVM_VERSION, or else package.json's config.evmVersion.
func configuredEVMVersion(t testing.TB) string {
	if v := os.Getenv("EVM_VERSION"); v != "" {
		return v
	}
	return packageJSON(t).Config.EVMVersion
}

type pkgJSON struct {
	Config struct {
		EVMVersion    string `json:"evmVersion"`
		OptimizerRuns int    `json:"optimizerRuns"`
	} `json:"config"`
	Dependencies map[string]string `json:"dependencies"`
}

func packageJSON(t testing.TB) pkgJSON {
	t.Helper()
	var p pkgJSON
	data, err := os.ReadFile(filepath.Join(contractDir, "package.json"))
	if err == nil {
		err = json.Unmarshal(data, &p)
	}
	if err != nil || p.Config.EVMVersion == "" || p.Dependencies["solc"] == "" {
		t.Fatalf("sync/anchor/contract/package.json: %v (want config.evmVersion and a solc dependency)", err)
	}
	return p
}

func committed(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(contractDir, name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestBytecode_EVMVersion fails on any opcode in the committed bytecode, and
// in the runtime code a deployment leaves on chain, that is newer than the
// configured evmVersion. The simulated backend runs the newest forks and
// would not notice.
func TestBytecode_EVMVersion(t *testing.T) {
	evm := configuredEVMVersion(t)
	bin, err := hex.DecodeString(strings.TrimSpace(string(committed(t, "WaybillRegistry.bin"))))
	if err != nil {
		t.Fatalf("WaybillRegistry.bin: %v", err)
	}
	if err := checkOpcodes(bin, evm); err != nil {
		t.Errorf("WaybillRegistry.bin (creation code): %v", err)
	}
	ch := newChain(t)
	code, err := ch.client.CodeAt(context.Background(), ch.addr, nil)
	if err != nil || len(code) == 0 {
		t.Fatalf("deployed code: %d bytes, %v", len(code), err)
	}
	if err := checkOpcodes(code, evm); err != nil {
		t.Errorf("deployed runtime code: %v", err)
	}
	if len(stripMetadata(code)) == len(code) {
		t.Errorf("deployed code has no solc metadata section; the walk may be reading data as code")
	}
}

// parisConfig runs the simulated chain on the paris rules: no Shanghai,
// Cancun, Prague or Osaka. PUSH0 or MCOPY would fail there.
func parisConfig(_ *node.Config, c *ethconfig.Config) {
	cfg := *params.AllDevChainProtocolChanges
	cfg.ShanghaiTime, cfg.CancunTime, cfg.PragueTime, cfg.OsakaTime, cfg.BogotaTime = nil, nil, nil, nil, nil
	cfg.BlobScheduleConfig = nil
	c.Genesis.Config = &cfg
}

// TestParisChain deploys the committed bytecode on a chain running the paris
// rules and anchors and verifies there.
func TestParisChain(t *testing.T) {
	ch := newChainWith(t, nil, parisConfig)
	d := newDeviceLog(t, testKey(t))
	d.grow(50, "")
	ch.mustAnchor(d.checkpoint())
	d.grow(77, "")
	ch.mustAnchor(d.checkpoint().withProof(d.consistency(50, 77)))
	ev, proof := d.prove(60, 77)
	if ok, err := ch.verifyEvent(testFleet, ev, 77, proof); err != nil || !ok {
		t.Errorf("verifyEvent on a paris chain = %v, %v; want true", ok, err)
	}
}

// TestBindings_Committed checks that the bindings embed exactly the
// committed ABI and bytecode.
func TestBindings_Committed(t *testing.T) {
	// abigen embeds the ABI file's text with every white space character
	// removed (abigen.Bind), which also joins "struct X" in internalType.
	stripped := strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return -1
		}
		return r
	}, string(committed(t, "WaybillRegistry.abi.json")))
	if registry.WaybillRegistryMetaData.ABI != stripped {
		t.Errorf("registry.go's ABI differs from WaybillRegistry.abi.json; run sync/anchor/contract/build.sh")
	}
	if _, err := registry.WaybillRegistryMetaData.ParseABI(); err != nil {
		t.Errorf("embedded ABI: %v", err)
	}
	if bin := "0x" + strings.TrimSpace(string(committed(t, "WaybillRegistry.bin"))); registry.WaybillRegistryMetaData.Bin != bin {
		t.Errorf("registry.go's bytecode differs from WaybillRegistry.bin; run sync/anchor/contract/build.sh")
	}
}

// TestBuild_Reproducible recompiles WaybillRegistry.sol with the pinned solc
// and regenerates the bindings with abigen, when build.sh has installed
// them, and compares the results with the committed files byte for byte
// (build.sh --check does the same from a clean machine).
func TestBuild_Reproducible(t *testing.T) {
	root, err := filepath.Abs(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	if v := os.Getenv("EVM_VERSION"); v != "" && v != packageJSON(t).Config.EVMVersion {
		t.Skipf("EVM_VERSION=%s differs from the committed build's evmVersion", v)
	}
	modules := filepath.Join(root, "build", "contract", "node_modules")
	if _, err := exec.LookPath("node"); err != nil {
		t.Skip("node is not installed: cannot recompile the contract (the bindings test still compares registry.go with the committed files)")
	}
	if _, err := os.Stat(filepath.Join(modules, "solc", "package.json")); err != nil {
		t.Skip("the pinned solc is not installed in build/contract: run sync/anchor/contract/build.sh (make contracts) first")
	}
	out := t.TempDir()
	cmd := exec.Command("node", filepath.Join(contractDir, "compile.js"), "--out", out)
	cmd.Env = append(os.Environ(), "NODE_PATH="+modules)
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("compile.js: %v\n%s", err, msg)
	}
	for _, name := range []string{"WaybillRegistry.abi.json", "WaybillRegistry.bin"} {
		got, err := os.ReadFile(filepath.Join(out, name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, committed(t, name)) {
			t.Errorf("%s differs from what WaybillRegistry.sol compiles to; run sync/anchor/contract/build.sh", name)
		}
	}

	abigen := filepath.Join(root, "build", "abigen")
	ver, err := exec.Command(abigen, "--version").Output()
	want := gethVersion(t)
	if err != nil || !strings.Contains(string(ver), "version "+strings.TrimPrefix(want, "v")) {
		t.Skipf("build/abigen %s is not installed (found %q): run sync/anchor/contract/build.sh to check registry.go", want, strings.TrimSpace(string(ver)))
	}
	goOut := filepath.Join(out, "registry.go")
	cmd = exec.Command(abigen, "--v2", "--abi", filepath.Join(out, "WaybillRegistry.abi.json"), "--bin", filepath.Join(out, "WaybillRegistry.bin"),
		"--pkg", "registry", "--type", "WaybillRegistry", "--out", goOut)
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("abigen: %v\n%s", err, msg)
	}
	got, err := os.ReadFile(goOut)
	if err != nil {
		t.Fatal(err)
	}
	cur, err := os.ReadFile("registry.go")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, cur) {
		t.Errorf("registry.go differs from what abigen generates; run sync/anchor/contract/build.sh")
	}
}

// gethVersion is the go-ethereum version go.mod requires.
func gethVersion(t testing.TB) string {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Version}}", "github.com/ethereum/go-ethereum").Output()
	if err != nil {
		t.Skipf("go list -m github.com/ethereum/go-ethereum: %v", err)
	}
	return strings.TrimSpace(string(out))
}
