package prove

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/waybill-eu/waybill/agent/devkey"
	"github.com/waybill-eu/waybill/agent/event"
	"github.com/waybill-eu/waybill/agent/eventlog"
	"github.com/waybill-eu/waybill/agent/verify"
)

// testKeyHex is a well-known example key; never use it for anything real.
const testKeyHex = "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"

func clock() (int64, event.TimeSource) { return 1_795_766_400_000, event.SourceNTP }

// newLog returns a real log of n events in small segments, with a signed
// checkpoint after every append whose index is in ckAt.
func newLog(t *testing.T, n int, ckAt ...int) (*eventlog.Log, *devkey.Key) {
	t.Helper()
	k, err := devkey.FromHex(testKeyHex)
	if err != nil {
		t.Fatal(err)
	}
	id := eventlog.Identity{Device: k.Address(), Fleet: "test-fleet", ChainID: 1337}
	l, err := eventlog.Open(context.Background(), t.TempDir(), &eventlog.Options{Create: &id, Keys: k, SegmentBytes: 8 << 10})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	ctx := context.Background()
	var queued []*eventlog.Pending // appended together, sharing a commit
	for i := range n {
		ev, err := event.ParseInput(fmt.Appendf(nil, `{"kind":"manual","payload":{"note":"round %d"}}`, i), clock)
		if err != nil {
			t.Fatal(err)
		}
		p, err := l.Enqueue(ctx, ev)
		if err != nil {
			t.Fatal(err)
		}
		queued = append(queued, p)
		// A segment is sealed between commits: commit at most 8 events
		// at once, so that the small segments fill and seal.
		if i == n-1 || i%8 == 7 || slices.Contains(ckAt, i) {
			for _, p := range queued {
				if _, err := p.Wait(); err != nil {
					t.Fatal(err)
				}
			}
			queued = queued[:0]
		}
		if slices.Contains(ckAt, i) {
			if _, _, err := l.Checkpoint(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	return l, k
}

// TestBundle_RoundTrip: every event's bundle, assembled from the log and
// encoded in both formats, parses and verifies with package verify
// against the pins of the log's device, fleet and chain, and names the
// event's own leaf.
func TestBundle_RoundTrip(t *testing.T) {
	const n = 40
	l, k := newLog(t, n, 9, n-1)
	dev := k.Address()
	opts := verify.Options{Device: &dev, Fleet: "test-fleet", ChainID: 1337}
	for _, size := range []uint64{0, 10, n} {
		top := size
		if top == 0 {
			top = n
		}
		for seq := range top {
			b, err := Bundle(l, seq, size, nil)
			if err != nil {
				t.Fatalf("Bundle(%d, %d): %v", seq, size, err)
			}
			leaf, err := l.Leaf(seq)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(b.Leaf, leaf) || b.Index != seq || b.Checkpoint.Size != top {
				t.Fatalf("Bundle(%d, %d): index %d size %d, leaf %q; want the log's leaf %q", seq, size, b.Index, b.Checkpoint.Size, b.Leaf, leaf)
			}

			js, err := Encode(b, FormatJSON)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.HasSuffix(js, []byte("}\n")) || bytes.Count(js, []byte("\n")) != 1 {
				t.Fatalf("Encode(json) is not one line: %q", js)
			}
			pj, err := verify.ParseBundle(js)
			if err != nil {
				t.Fatalf("ParseBundle(Encode(json)) for %d/%d: %v", seq, top, err)
			}
			if err := pj.Verify(opts); err != nil {
				t.Fatalf("bundle %d/%d: %v", seq, top, err)
			}

			tp, err := Encode(b, FormatTlogProof)
			if err != nil {
				t.Fatal(err)
			}
			p, err := verify.ParseTlogProof(tp)
			if err != nil {
				t.Fatalf("ParseTlogProof(Encode(tlog-proof)) for %d/%d: %v", seq, top, err)
			}
			pb, err := p.Bundle(l.Identity().Domain())
			if err != nil {
				t.Fatal(err)
			}
			if err := pb.Verify(opts); err != nil {
				t.Fatalf("tlog-proof %d/%d: %v", seq, top, err)
			}
			if js2, _ := Encode(pb, ""); !bytes.Equal(js2, js) {
				t.Fatalf("the tlog-proof of %d/%d gives another bundle:\n%s\n%s", seq, top, js2, js)
			}
		}
	}
	// Another device's pin refuses every bundle.
	b, err := Bundle(l, 3, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	other := event.Address{1}
	if err := b.Verify(verify.Options{Device: &other}); !errors.Is(err, verify.ErrInvalid) {
		t.Errorf("Verify with another device = %v, want ErrInvalid", err)
	}
}

func TestBundle_Refuses(t *testing.T) {
	l, _ := newLog(t, 12, 9)
	leaf3, err := l.Leaf(3)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		seq, size uint64
		leaf      []byte
		want      string
	}{
		{"not covered", 10, 0, nil, "event 10 is not covered by the checkpoint of size 10"},
		{"beyond the log", 20, 0, nil, "event 20 is not covered"},
		{"size never signed", 2, 7, nil, ""},
		{"another event's leaf", 4, 0, leaf3, "the event given is not event 4 of this log"},
		{"not a leaf", 3, 0, []byte("{}"), "the event given is not event 3 of this log"},
	}
	for _, tt := range tests {
		_, err := Bundle(l, tt.seq, tt.size, tt.leaf)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: Bundle(%d, %d) = %v, want an error containing %q", tt.name, tt.seq, tt.size, err, tt.want)
		}
	}
	b, err := Bundle(l, 1, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Encode(b, "yaml"); err == nil || !strings.Contains(err.Error(), `unknown proof format "yaml"`) {
		t.Errorf("Encode(yaml) = %v", err)
	}

	empty, _ := newLog(t, 2)
	if _, err := Bundle(empty, 0, 0, nil); !errors.Is(err, eventlog.ErrNoCheckpoint) || !strings.Contains(err.Error(), "waybill log checkpoint --data") {
		t.Errorf("Bundle without a checkpoint = %v, want ErrNoCheckpoint and how to sign one", err)
	}
}

// TestBundle_Pruned: an event whose payload retention pruned is proven
// from the leaf its holder kept, a line of Events; without it, the error
// says how.
func TestBundle_Pruned(t *testing.T) {
	const n = 150
	l, k := newLog(t, n, n-1)
	var lines bytes.Buffer
	if err := Events(&lines, l, 0, 0); err != nil {
		t.Fatal(err)
	}
	res, err := l.Prune(context.Background(), n-1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Leaf(0); !errors.Is(err, eventlog.ErrPruned) {
		t.Fatalf("Prune = %+v: event 0 is not pruned (%v); the test needs more events", res, err)
	}
	if _, err := Bundle(l, 0, 0, nil); !errors.Is(err, eventlog.ErrPruned) || !strings.Contains(err.Error(), "--leaf FILE") {
		t.Errorf("Bundle of a pruned event = %v, want ErrPruned and how to give the leaf", err)
	}
	sc := bufio.NewScanner(&lines)
	sc.Buffer(nil, 1<<20)
	if !sc.Scan() {
		t.Fatal("no line")
	}
	var line struct{ Leaf string }
	if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
		t.Fatal(err)
	}
	leaf, err := base64.StdEncoding.DecodeString(line.Leaf)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Bundle(l, 0, 0, leaf)
	if err != nil {
		t.Fatalf("Bundle of a pruned event with its leaf: %v", err)
	}
	js, err := Encode(b, FormatJSON)
	if err != nil {
		t.Fatal(err)
	}
	pb, err := verify.ParseBundle(js)
	if err != nil {
		t.Fatal(err)
	}
	dev := k.Address()
	if err := pb.Verify(verify.Options{Device: &dev, Fleet: "test-fleet", ChainID: 1337}); err != nil {
		t.Errorf("the pruned event's bundle: %v", err)
	}
}

// TestEvents: each line is the event's canonical object and its leaf, in
// sequence order, from..from+limit.
func TestEvents(t *testing.T) {
	l, _ := newLog(t, 8)
	for _, tt := range []struct{ from, limit, want uint64 }{{0, 0, 8}, {3, 2, 2}, {6, 0, 2}, {8, 0, 0}} {
		var out bytes.Buffer
		if err := Events(&out, l, tt.from, tt.limit); err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
		if out.Len() == 0 {
			lines = nil
		}
		if uint64(len(lines)) != tt.want {
			t.Fatalf("Events(%d, %d): %d lines, want %d", tt.from, tt.limit, len(lines), tt.want)
		}
		for i, s := range lines {
			seq := tt.from + uint64(i)
			leaf, err := l.Leaf(seq)
			if err != nil {
				t.Fatal(err)
			}
			want := string(leaf[:len(leaf)-1]) + `,"leaf":"` + base64.StdEncoding.EncodeToString(leaf) + `"}`
			if s != want {
				t.Errorf("line for %d:\n%s\nwant\n%s", seq, s, want)
			}
			ev, err := ParseEventLine([]byte(s + "\n"))
			if err != nil {
				t.Fatalf("ParseEventLine(line %d): %v", seq, err)
			}
			if got, err := ev.Leaf(); err != nil || !bytes.Equal(got, leaf) || ev.Seq != seq {
				t.Errorf("ParseEventLine(line %d) = event %d with leaf %q, %v", seq, ev.Seq, got, err)
			}
		}
	}
}

// TestConsistency_RoundTrip: the proof between every two signed sizes
// parses and verifies, with the roots of their checkpoints.
func TestConsistency_RoundTrip(t *testing.T) {
	l, _ := newLog(t, 30, 0, 6, 7, 19, 29)
	sizes := []uint64{1, 7, 8, 20, 30}
	for i, from := range sizes {
		for _, to := range sizes[i:] {
			out, err := Consistency(l, from, to)
			if err != nil {
				t.Fatalf("Consistency(%d, %d): %v", from, to, err)
			}
			c, err := verify.ParseConsistency(out)
			if err != nil {
				t.Fatalf("ParseConsistency(%d, %d): %v", from, to, err)
			}
			if err := c.Verify(); err != nil {
				t.Fatalf("consistency %d→%d: %v", from, to, err)
			}
			for _, s := range []struct {
				size uint64
				root [32]byte
			}{{from, c.OldRoot}, {to, c.NewRoot}} {
				b, err := Bundle(l, 0, s.size, nil)
				if err != nil {
					t.Fatal(err)
				}
				if b.Checkpoint.Root != s.root {
					t.Errorf("consistency %d→%d: root of %d is %s, the checkpoint's %s", from, to, s.size, s.root, b.Checkpoint.Root)
				}
			}
		}
	}
	if _, err := Consistency(l, 8, 7); err == nil {
		t.Error("Consistency(8, 7) succeeded")
	}
}

func TestParseEventLine_Refuses(t *testing.T) {
	l, _ := newLog(t, 1)
	var out bytes.Buffer
	if err := Events(&out, l, 0, 0); err != nil {
		t.Fatal(err)
	}
	line := strings.TrimSuffix(out.String(), "\n")
	leaf, err := l.Leaf(0)
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.StdEncoding.EncodeToString(leaf)
	other := strings.Replace(string(leaf), "round 0", "round 9", 1)
	for _, tt := range []struct{ name, in, want string }{
		{"no leaf member", string(leaf), `log show line: no "leaf" member at its end`},
		{"leaf member first", `{"leaf":"` + b64 + `",` + string(leaf[1:]), `log show line: no "leaf" member at its end`},
		{"truncated", strings.Replace(line, b64, b64[:len(b64)-1], 1), `log show line: "leaf" is not canonical standard base64`},
		{"url-safe", strings.Replace(line, b64, strings.NewReplacer("+", "-", "/", "_").Replace(b64)+"-", 1), `log show line: "leaf" is not canonical standard base64`},
		{"members not the leaf", other[:len(other)-1] + `,"leaf":"` + b64 + `"}`, "log show line: the event members are not the leaf's bytes"},
		{"spaces", strings.Replace(line, `,"leaf":"`, `, "leaf":"`, 1), `log show line: no "leaf" member at its end`},
		{"not an event", `{"a":1,"leaf":"` + base64.StdEncoding.EncodeToString([]byte(`{"a":1}`)) + `"}`, "log show line: leaf: "},
	} {
		if _, err := ParseEventLine([]byte(tt.in)); err == nil || !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("%s: ParseEventLine = %v, want %q", tt.name, err, tt.want)
		}
	}
}

// FuzzParseEventLine: the parser never panics, and a line it accepts is
// exactly the line Events writes for that event.
func FuzzParseEventLine(f *testing.F) {
	f.Add([]byte(`{"device":"0x2c7536e3605d9c16a7a3d7b1898e529396a65c23","leaf":"e30="}`))
	f.Add([]byte(`{"a":1,"leaf":"eyJhIjoxfQ=="}` + "\n"))
	f.Add([]byte(`,"leaf":""}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ParseEventLine(data)
		if err != nil {
			return
		}
		leaf, err := s.Leaf()
		if err != nil {
			t.Fatalf("accepted a line whose event has no leaf: %v", err)
		}
		want := string(leaf[:len(leaf)-1]) + `,"leaf":"` + base64.StdEncoding.EncodeToString(leaf) + `"}`
		if got := strings.TrimSuffix(string(data), "\n"); got != want {
			t.Fatalf("accepted %q, which is not the line %q", got, want)
		}
	})
}
