package verify

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/waybill-eu/waybill/agent/checkpoint"
	"github.com/waybill-eu/waybill/agent/signer"
)

func (f *fixture) consistency(t testing.TB, oldSize, newSize uint64) *Consistency {
	t.Helper()
	oldRoot, newRoot, p, err := f.log.ProveConsistency(oldSize, newSize)
	if err != nil {
		t.Fatal(err)
	}
	return &Consistency{OldSize: oldSize, NewSize: newSize, OldRoot: oldRoot, NewRoot: newRoot, Proof: p}
}

func TestConsistency_RoundTripVerifyTamper(t *testing.T) {
	f := genericFixture(t, 9)
	for n := uint64(1); n <= 9; n++ {
		for m := uint64(1); m <= n; m++ {
			c := f.consistency(t, m, n)
			data, err := c.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			c2, err := ParseConsistency(data)
			if err != nil {
				t.Fatalf("%d->%d: %v\n%s", m, n, err, data)
			}
			if !reflect.DeepEqual(c, c2) && !(len(c.Proof) == 0 && len(c2.Proof) == 0) {
				t.Fatalf("round trip: %+v %+v", c, c2)
			}
			if err := c2.Verify(); err != nil {
				t.Fatalf("%d->%d: %v", m, n, err)
			}
			// tlog agrees.
			tp := make(tlog.TreeProof, len(c.Proof))
			for i, h := range c.Proof {
				tp[i] = tlog.Hash(h)
			}
			if err := tlog.CheckTree(tp, int64(n), tlog.Hash(c.NewRoot), int64(m), tlog.Hash(c.OldRoot)); err != nil {
				t.Fatalf("tlog.CheckTree %d->%d: %v", m, n, err)
			}
			// The roots are the signed ones.
			for size, root := range map[uint64][32]byte{m: c.OldRoot, n: c.NewRoot} {
				cp, _, err := checkpoint.OpenCheckpoint(f.notes[size], signer.NoteVerifier(KeyName(f.dom.Fleet, f.key.Address()), f.key.Address(), f.dom))
				if err != nil || cp.Root != root {
					t.Fatalf("root of size %d is not the signed one (%v)", size, err)
				}
			}
			if m == 3 && n == 9 {
				tamperConsistency(t, data)
			}
		}
	}
}

func tamperConsistency(t *testing.T, data []byte) {
	if want := `{"consistency":["`; !bytes.HasPrefix(data, []byte(want)) {
		t.Fatalf("consistency JSON does not start with %s: %s", want, data)
	}
	for i := range data {
		for _, v := range tamperVariants(data[i]) {
			mut := bytes.Clone(data)
			mut[i] = v
			c, err := ParseConsistency(mut)
			if err == nil {
				err = c.Verify()
			}
			if err == nil {
				t.Fatalf("byte %d (%q -> %q) changed and the proof still verifies: %s", i, data[i], v, mut)
			}
		}
	}
}

func TestParseConsistency_Strict(t *testing.T) {
	f := genericFixture(t, 5)
	data, _ := f.consistency(t, 2, 5).Marshal()
	s := string(data)
	for name, in := range map[string]string{
		"old size 0":     strings.Replace(s, `"old_size":2`, `"old_size":0`, 1),
		"old > new":      strings.Replace(s, `"old_size":2`, `"old_size":6`, 1),
		"unknown member": strings.Replace(s, `{"consistency"`, `{"proof":[],"consistency"`, 1),
		"missing member": strings.Replace(s, `,"old_size":2`, ``, 1),
		"duplicate":      strings.Replace(s, `"old_size":2`, `"old_size":2,"old_size":2`, 1),
		"not array":      strings.Replace(s, `"consistency":[`, `"consistency":{"a":[`, 1),
		"case variant":   strings.Replace(s, `"old_size"`, `"Old_size"`, 1),
		"null":           strings.Replace(s, `"old_size":2`, `"old_size":null`, 1),
	} {
		if _, err := ParseConsistency([]byte(in)); err == nil || !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v", name, err)
		}
	}
	c := f.consistency(t, 2, 5)
	c.Proof = c.Proof[1:]
	if err := c.Verify(); err == nil || !errors.Is(err, ErrInvalid) {
		t.Errorf("short proof: %v", err)
	}
}
