package anchor

import (
	"bytes"
	"encoding/json"
	"errors"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/waybill-eu/waybill/agent/merkle"
	"github.com/waybill-eu/waybill/testbench/damage"
)

func sampleAnchor() *Anchor {
	t0 := time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC)
	return &Anchor{
		ID: 7, State: StateConfirmed, Origin: "waybill/demo/0x2c7536e3605d9c16a7a3d7b1898e529396a65c23/0",
		Size: 5, Root: merkle.Hash{1, 2, 3}, Note: []byte("note\n"),
		PrevSize: 2, PrevRoot: merkle.Hash{4}, Consistency: []merkle.Hash{{5}, {6}},
		Nonce: 3, Current: 1, Included: 1,
		Attempts: []Attempt{
			{Hash: Hash{9}, Raw: []byte{2, 1}, Ledger: "eip155:1337", Nonce: 3, Gas: 30000, Signed: t0,
				Fees: Fees{Tip: big.NewInt(1), Cap: big.NewInt(20)}, Error: "replacement transaction underpriced"},
			{Hash: Hash{10}, Raw: []byte{2, 2}, Ledger: "eip155:1337", Nonce: 3, Gas: 30000, Signed: t0.Add(time.Minute),
				Sent: t0.Add(time.Minute), Fees: Fees{Tip: new(big.Int).Lsh(big.NewInt(1), 70), Cap: new(big.Int).Lsh(big.NewInt(1), 71)}},
		},
		BlockNumber: 12, BlockHash: Hash{11}, Receipt: json.RawMessage(`{"status":"0x1"}`), GasUsed: 27592,
		Created: t0, Confirmed: t0.Add(2 * time.Minute), Reorgs: 1,
	}
}

func TestAnchor_JSONRoundTrip(t *testing.T) {
	an := sampleAnchor()
	b, err := json.Marshal(an)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"root":"AQIDAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="`, `"fee_cap":"2361183241434822606848"`,
		`"hash":"0x0900000000000000000000000000000000000000000000000000000000000000"`, `"raw":"0x0201"`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("stored form lacks %s:\n%s", want, b)
		}
	}
	var back Anchor
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatalf("Unmarshal(Marshal(anchor)) = %v", err)
	}
	if !reflect.DeepEqual(&back, an) {
		t.Fatalf("round trip differs:\n got %+v\nwant %+v", back, *an)
	}
	if c := an.Clone(); !reflect.DeepEqual(c, an) {
		t.Fatal("Clone differs")
	}
}

func TestAnchor_UnmarshalBad(t *testing.T) {
	good, err := json.Marshal(sampleAnchor())
	if err != nil {
		t.Fatal(err)
	}
	repl := func(old, new string) string {
		if !strings.Contains(string(good), old) {
			t.Fatalf("stored form lacks %q", old)
		}
		return strings.Replace(string(good), old, new, 1)
	}
	tests := []struct{ name, in, want string }{
		{"unknown member", repl(`"id":7`, `"id":7,"x":1`), "unknown field"},
		{"no id", repl(`"id":7`, `"id":0`), "no id"},
		{"unknown state", repl(`"state":"confirmed"`, `"state":"done"`), "unknown state"},
		{"current out of range", repl(`"current":1`, `"current":2`), "current attempt"},
		{"included out of range", repl(`"included":1`, `"included":5`), "included attempt"},
		{"confirmed without inclusion", repl(`"included":1`, `"included":-1`), "state confirmed"},
		{"uppercase hex", repl(`"raw":"0x0201"`, `"raw":"0X0201"`), "0x"},
		{"fee with leading zero", repl(`"fee_cap":"20"`, `"fee_cap":"020"`), "canonical"},
		{"negative fee", repl(`"tip":"1"`, `"tip":"-1"`), "canonical"},
		{"missing fee", repl(`"tip":"1",`, ``), "missing fees"},
		{"prev size above size", repl(`"prev_size":2`, `"prev_size":6`), "previous size"},
		{"bad root", repl(`"root":"AQID`, `"root":"!QID`), "base64"},
	}
	for _, tt := range tests {
		var an Anchor
		err := json.Unmarshal([]byte(tt.in), &an)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: Unmarshal = %v, want an error mentioning %q", tt.name, err, tt.want)
		}
		if an.ID != 0 {
			t.Errorf("%s: Unmarshal changed its target on error", tt.name)
		}
	}
}

func TestParseHash(t *testing.T) {
	good := "0x" + strings.Repeat("ab", 32)
	if h, err := ParseHash(good); err != nil || h.String() != good {
		t.Fatalf("ParseHash(%s) = %s, %v", good, h, err)
	}
	for _, in := range []string{"", "0x", "ab" + strings.Repeat("ab", 31), "0x" + strings.Repeat("AB", 32),
		"0x" + strings.Repeat("ab", 31), "0x" + strings.Repeat("ab", 33), "0x" + strings.Repeat("zz", 32), "0x" + strings.Repeat("a", 63)} {
		if _, err := ParseHash(in); err == nil {
			t.Errorf("ParseHash(%q) = nil error", in)
		}
	}
}

// Damaged bytes (cut short, a zeroed page, flipped bits, garbage, no read
// permission) never panic or fault: Open moves the file aside and starts a
// new store; ReadStore reports ErrDamaged naming the file.
func TestStore_DamagedBytes(t *testing.T) {
	mk := func(t *testing.T) string {
		path := filepath.Join(t.TempDir(), "anchor.db")
		s, err := openStore(path, false, time.Second, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		err = s.db.Update(func(tx *bolt.Tx) error {
			for id := uint64(1); id <= 200; id++ {
				an := sampleAnchor()
				an.ID = id
				b, _ := json.Marshal(an)
				if err := tx.Bucket(bAnchors).Put(u64(id), b); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		s.close()
		return path
	}
	size := func(p string) int64 { fi, _ := os.Stat(p); return fi.Size() }
	for _, tt := range []struct {
		name   string
		damage func(t *testing.T, p string) error
	}{
		{"truncated-17", func(_ *testing.T, p string) error { return damage.Truncate(p, 17) }},
		{"truncated-half", func(_ *testing.T, p string) error { return damage.Truncate(p, size(p)/2) }},
		{"truncated-last-page", func(_ *testing.T, p string) error { return damage.Truncate(p, size(p)-4096) }},
		{"zeroed-meta", func(_ *testing.T, p string) error { return damage.ZeroPage(p, 0, 4096) }},
		{"zeroed-both-metas", func(_ *testing.T, p string) error {
			if err := damage.ZeroPage(p, 0, 4096); err != nil {
				return err
			}
			return damage.ZeroPage(p, 1, 4096)
		}},
		{"zeroed-leaf", func(_ *testing.T, p string) error { return damage.ZeroPage(p, int(size(p)/4096/2), 4096) }},
		{"flipped-bits", func(_ *testing.T, p string) error { _, err := damage.FlipBits(p, 3, 64); return err }},
		{"garbage", func(_ *testing.T, p string) error { return damage.Garbage(p, 5) }},
		{"unreadable", func(t *testing.T, p string) error {
			err := damage.Unreadable(p)
			if errors.Is(err, damage.ErrPrivileged) {
				t.Skip("root reads the file whatever its permissions")
			}
			return err
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := mk(t)
			if err := tt.damage(t, path); err != nil {
				t.Fatal(err)
			}
			_, _, rerr := ReadStore(path)
			a, err := Open(path, nil, nil, nil)
			if err != nil {
				t.Fatalf("Open = %v, want the damaged store moved aside", err)
			}
			defer a.Close()
			aside, _ := filepath.Glob(path + ".damaged-*")
			st := a.Status()
			switch {
			case rerr == nil && len(aside) == 0 && st.Damaged == "":
				// The damage missed everything bbolt and the records use
				// (free pages): the store is intact.
			case !errors.Is(rerr, ErrDamaged) || !strings.Contains(rerr.Error(), path):
				t.Fatalf("ReadStore = %v, want ErrDamaged naming the file", rerr)
			case len(aside) != 1 || !strings.Contains(st.Damaged, aside[0]):
				t.Fatalf("moved aside %v; Status().Damaged = %q", aside, st.Damaged)
			}
		})
	}
}

// A store that fails its checks is moved aside, never deleted or silently
// reset: Open starts a new store and says in Status which file and which
// record failed and where the file went; ReadStore refuses it, naming them.
// Two anchors in flight, which the anchoring loop never leaves, are damage
// too.
func TestStore_Damaged(t *testing.T) {
	tests := []struct {
		name   string
		damage func(tx *bolt.Tx) error
		want   string
	}{
		{"version", func(tx *bolt.Tx) error { return tx.Bucket(bMeta).Put(kVersion, []byte("9")) }, `store version "9"`},
		{"nonce", func(tx *bolt.Tx) error { return tx.Bucket(bMeta).Put(kNextNonce, []byte{1}) }, "next_nonce"},
		{"record", func(tx *bolt.Tx) error { return tx.Bucket(bAnchors).Put(u64(1), []byte(`{"id":1}`)) }, "anchors/1"},
		{"record id", func(tx *bolt.Tx) error {
			b, _ := json.Marshal(sampleAnchor())
			return tx.Bucket(bAnchors).Put(u64(8), b)
		}, "record says id 7"},
		{"two in flight", func(tx *bolt.Tx) error {
			for _, id := range []uint64{1, 2} {
				an := sampleAnchor()
				an.ID, an.State, an.Included = id, StateSent, -1
				b, _ := json.Marshal(an)
				if err := tx.Bucket(bAnchors).Put(u64(id), b); err != nil {
					return err
				}
			}
			return nil
		}, "both in flight"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "anchor.db")
			s, err := openStore(path, false, time.Second, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			if err := s.db.Update(tt.damage); err != nil {
				t.Fatal(err)
			}
			s.close()
			_, _, err = ReadStore(path)
			if !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), path) {
				t.Fatalf("ReadStore = %v, want ErrDamaged naming %s and %q", err, path, tt.want)
			}
			before, _ := os.ReadFile(path)
			a, err := Open(path, nil, nil, nil)
			if err != nil {
				t.Fatalf("Open of a damaged store = %v, want it moved aside and a new store", err)
			}
			defer a.Close()
			st := a.Status()
			if !strings.Contains(st.Damaged, tt.want) || !strings.Contains(st.Damaged, "moved aside to "+path+".damaged-") {
				t.Fatalf("Status().Damaged = %q, want %q and where the file went", st.Damaged, tt.want)
			}
			aside, _ := filepath.Glob(path + ".damaged-*")
			if len(aside) != 1 {
				t.Fatalf("moved aside: %v", aside)
			}
			if after, _ := os.ReadFile(aside[0]); !bytes.Equal(after, before) {
				t.Fatal("the store moved aside is not the damaged file, byte for byte")
			}
			if st.Confirmed != 0 || st.InFlight != nil {
				t.Fatalf("the new store is not empty: %+v", st)
			}
		})
	}
}

// No store is not a damaged store.
func TestReadStore_Missing(t *testing.T) {
	_, _, err := ReadStore(filepath.Join(t.TempDir(), "anchor.db"))
	if !errors.Is(err, fs.ErrNotExist) || errors.Is(err, ErrDamaged) {
		t.Fatalf("ReadStore of a missing file = %v, want fs.ErrNotExist and not ErrDamaged", err)
	}
}
