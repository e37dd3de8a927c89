// Package standin holds the local stand-in for EBSI's Timestamp contract:
// its Solidity source (Timestamp.sol), compiled by sync/anchor/contract/compile.js (--src) with the solc
// pinned in sync/anchor/contract/package.json, and the committed ABI and
// creation code that this package embeds. The stand-in exposes the same
// timestampHashes function, TimestampedHashes event and getTimestampById
// view as EBSI's contract; sync/anchor/ebsi/ebsitest deploys it on
// go-ethereum's simulated chain behind a stand-in of EBSI's Timestamp and
// Ledger APIs.
package standin

import (
	_ "embed"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"

	"github.com/ethereum/go-ethereum/accounts/abi"
)

// ABIJSON is the committed Timestamp.abi.json.
//
//go:embed Timestamp.abi.json
var ABIJSON string

//go:embed Timestamp.bin
var binHex string

// Bytecode returns the committed creation code (Timestamp.bin).
func Bytecode() []byte {
	b, err := hex.DecodeString(strings.TrimSpace(binHex))
	if err != nil {
		panic("standin: Timestamp.bin is not hex: " + err.Error())
	}
	return b
}

var parsed = sync.OnceValues(func() (abi.ABI, error) {
	a, err := abi.JSON(strings.NewReader(ABIJSON))
	if err != nil {
		return abi.ABI{}, fmt.Errorf("standin: Timestamp.abi.json: %w", err)
	}
	return a, nil
})

// ABI returns the parsed committed ABI.
func ABI() abi.ABI {
	a, err := parsed()
	if err != nil {
		panic(err)
	}
	return a
}
