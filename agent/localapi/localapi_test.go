package localapi

import (
	"bytes"
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/waybill-eu/waybill/agent/devkey"
	"github.com/waybill-eu/waybill/agent/event"
	"github.com/waybill-eu/waybill/agent/eventlog"
)

func fixedClock() (int64, event.TimeSource) { return 3_600_000, event.SourceUnsynced }

func TestParseInput_Table(t *testing.T) {
	tests := []struct{ in, want string }{
		{`{"kind":"manual","payload":{"note":"hi"}}`, ""},
		{`{"kind":"manual","payload":{ "note" : "hi" }}`, ""}, // canonicalized
		{`{"kind":"manual","payload":{"note":"hi"},"time":1795766400000,"time_source":"gnss"}`, ""},
		{`{"kind":"manual","payload":{"note":"hi"},"time":1795766400000}`, "without \"time_source\""},
		{`{"kind":"manual","payload":{"note":"hi"},"time_source":"gnss"}`, "without \"time\""},
		{`{"kind":"manual","payload":{"note":"hi"},"time":5,"time_source":"ntp"}`, "before the floor"},
		{`{"kind":"manual"}`, `missing "payload"`},
		{`{"payload":{}}`, `missing "kind"`},
		{`{"kind":"manual","payload":{"note":"hi"},"extra":1}`, "unknown field"},
		{`{"kind":"manual","payload":{"note":"a","note":"b"}}`, "duplicate key"},
		{`{"kind":"manual","payload":{"note":"hi"}} {}`, "more than one"},
		{`[1,2]`, "not a JSON object"},
		{`{"kind":"nope","payload":{}}`, "unknown kind"},
	}
	for _, tt := range tests {
		_, err := ParseInput([]byte(tt.in), fixedClock)
		if tt.want == "" && err != nil {
			t.Errorf("ParseInput(%s) = %v", tt.in, err)
		}
		if tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("ParseInput(%s) = %v, want error containing %q", tt.in, err, tt.want)
		}
	}
}

func FuzzParseInput(f *testing.F) {
	f.Add([]byte(`{"kind":"manual","payload":{"note":"hi"}}`))
	f.Add([]byte(`{"kind":"position","payload":{"lat":1,"lon":2},"time":1795766400000,"time_source":"gnss"}`))
	f.Add([]byte(`{"kind":"x_y","payload":{"a":[1,{"b":null}]}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		ev, err := ParseInput(b, fixedClock)
		if err != nil {
			return
		}
		if err := ev.Validate(); err != nil {
			t.Fatalf("ParseInput accepted an invalid event: %v", err)
		}
	})
}

func TestAppendStream_OrderAndBadLines(t *testing.T) {
	k, _ := devkey.FromHex("4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318")
	id := eventlog.Identity{Device: k.Address(), Fleet: "t", ChainID: 1}
	l, err := eventlog.Open(context.Background(), t.TempDir(), &eventlog.Options{Create: &id, Keys: k})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var in strings.Builder
	for i := 0; i < 300; i++ {
		if i == 100 {
			in.WriteString("{broken\n")
		}
		in.WriteString(`{"kind":"manual","payload":{"note":"n` + string(rune('a'+i%26)) + `"}}` + "\n")
	}
	var out bytes.Buffer
	res, err := AppendStream(context.Background(), l, fixedClock, strings.NewReader(in.String()), &out)
	if err != nil || res != (Result{Lines: 301, NotAppended: 1}) {
		t.Fatalf("AppendStream = %+v, %v", res, err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 301 || !strings.HasPrefix(lines[100], "error: line 101:") {
		t.Fatalf("%d output lines; line 101 = %q", len(lines), lines[100])
	}
	seq := 0
	for i, line := range lines {
		if i == 100 {
			continue
		}
		if line != strconv.Itoa(seq) {
			t.Fatalf("output line %d = %q, want %d (input order)", i+1, line, seq)
		}
		seq++
	}
	var shown bytes.Buffer
	if err := Show(&shown, l, 299, 0); err != nil || !strings.Contains(shown.String(), `"seq":299`) {
		t.Fatalf("Show = %q, %v", shown.String(), err)
	}
}
