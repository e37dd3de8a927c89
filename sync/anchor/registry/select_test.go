package registry_test

import (
	"bytes"
	"encoding/base64"
	"os"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/common"

	"github.com/waybill-eu/waybill/agent/event"
	"github.com/waybill-eu/waybill/agent/signer"
	"github.com/waybill-eu/waybill/sync/anchor/registry"
)

// The contract's sig is the note's secp256k1 line, selected by key name and
// key ID wherever it stands (CONTRACT.md §anchor, PROTOCOL.md §7): swapped
// lines and another key's line first give the same arguments.
func TestAnchorArgs_SelectsLineByKey(t *testing.T) {
	note, err := os.ReadFile("../../../firmware-docs/testdata/checkpoint.note")
	if err != nil {
		t.Fatal(err)
	}
	device := event.Address(common.HexToAddress("0x2c7536e3605d9c16a7a3d7b1898e529396a65c23"))
	d := signer.Domain{ChainID: 1337, Fleet: "demo"}
	want, err := registry.AnchorArgs(note, d, device)
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(note, []byte("\n\n"))
	text, lines := string(note[:i+2]), strings.SplitAfter(string(note[i+2:]), "\n")
	witness := "— witness.example/w " + base64.StdEncoding.EncodeToString(append([]byte{1, 2, 3, 4}, make([]byte, 64)...)) + "\n"
	for name, n := range map[string]string{
		"swapped":              text + lines[1] + lines[0],
		"witness first":        text + witness + lines[1] + lines[0],
		"secp256k1 line alone": text + lines[1],
	} {
		got, err := registry.AnchorArgs([]byte(n), d, device)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if !bytes.Equal(got.Sig, want.Sig) || got.Size != want.Size || got.Root != want.Root || got.Epoch != want.Epoch {
			t.Errorf("%s: args %+v, want %+v", name, got, want)
		}
	}
	if _, err := registry.AnchorArgs([]byte(text+lines[0]), d, device); err == nil {
		t.Error("a note without the secp256k1 line gave anchor arguments")
	}
}
