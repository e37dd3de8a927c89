package event_test

import (
	"context"
	"errors"
	"testing"

	"github.com/waybill-eu/waybill/agent/checkpoint"
	"github.com/waybill-eu/waybill/agent/event"
	"github.com/waybill-eu/waybill/agent/eventlog"
	"github.com/waybill-eu/waybill/agent/eventlog/logcheck"
	"github.com/waybill-eu/waybill/agent/signer"
	"github.com/waybill-eu/waybill/agent/verify"
)

// logKeys signs for an eventlog with the test key alone.
type logKeys struct{ *signer.Key }

func (k logKeys) NoteSigners(name string, d signer.Domain) ([]checkpoint.Signer, error) {
	s, err := k.NoteSigner(name, d)
	return []checkpoint.Signer{s}, err
}

// TestParseInput_Log is the reproduction of the loose input, end to end
// through a real log: lines that were signed wrongly or could never be
// proven are refused before anything is appended, and every accepted line
// is appended and proven from the log, as `waybill log prove` does.
func TestParseInput_Log(t *testing.T) {
	ctx := context.Background()
	id := eventlog.Identity{Device: testKey.Address(), Fleet: testDomain.Fleet, ChainID: testDomain.ChainID}
	dir := t.TempDir()
	l, err := eventlog.Open(ctx, dir, &eventlog.Options{Create: &id, Keys: logKeys{testKey}})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()

	var accepted []inputCase
	for _, c := range inputCases {
		ev, err := event.ParseInput([]byte(c.line), inputClock)
		if c.err != "" {
			if err == nil {
				t.Fatalf("%s: %.100s accepted", c.rule, c.line)
			}
			// What ParseInput returns with its error, the log refuses too.
			if _, err := l.Append(ctx, ev); !errors.Is(err, event.ErrInvalid) {
				t.Fatalf("%s: %.100s: Append of what ParseInput refused = %v, want ErrInvalid", c.rule, c.line, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %.100s: %v", c.rule, c.line, err)
		}
		if _, err := l.Append(ctx, ev); err != nil {
			t.Fatalf("%s: %.100s: append: %v", c.rule, c.line, err)
		}
		accepted = append(accepted, c)
	}
	note, cp, err := l.Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if cp.Size != uint64(len(accepted)) {
		t.Fatalf("log has %d events, %d lines were accepted (a refused line was appended?)", cp.Size, len(accepted))
	}
	for seq, c := range accepted {
		leaf, proof, err := l.ProveInclusion(uint64(seq), cp.Size)
		if err != nil {
			t.Fatalf("%s: event %d: %v", c.rule, seq, err)
		}
		s, err := event.Parse(leaf)
		if err != nil || string(s.Payload) != c.payload {
			t.Fatalf("%s: event %d: payload %.100s, %v; want %.100s", c.rule, seq, s.Payload, err, c.payload)
		}
		b, err := verify.NewBundle(leaf, l.Identity().Domain(), note, proof)
		if err != nil {
			t.Fatalf("%s: event %d (%.60s): cannot be proven: %v", c.rule, seq, c.line, err)
		}
		out, err := b.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		b2, err := verify.ParseBundle(out)
		if err == nil {
			err = b2.Verify(verify.Options{Fleet: testDomain.Fleet, ChainID: testDomain.ChainID})
		}
		if err != nil {
			t.Fatalf("%s: event %d: bundle does not verify: %v", c.rule, seq, err)
		}
	}
	// `waybill log check` on the log these lines wrote.
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := logcheck.Check(ctx, dir, logcheck.Options{Workers: 1}); err != nil {
		t.Fatalf("log check: %v", err)
	}
}
