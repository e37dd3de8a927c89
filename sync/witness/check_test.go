package witness

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestCheck(t *testing.T) {
	w1, w2, w3 := testKey(t), otherKey(t, "w2.example/x"), otherKey(t, "w3.example/x")
	stranger := otherKey(t, "stranger.example")
	dev := deviceNote(t)
	devKey := deviceVKey(t)
	keys := []string{w1.VerifierKey(), w2.VerifierKey(), w3.VerifierKey()}

	cos := func(n []byte, ks ...*Key) []byte {
		for i, k := range ks {
			n = mustCosign(t, k, n, testTime.Add(time.Duration(i)*time.Second))
		}
		return n
	}
	two := cos(dev, w1, w2)
	// A good cosignature line by w2, made over another checkpoint.
	w2Bad := append(cos(dev, w1), lastLine(cos(logCheckpoint(t, 9), w2))...)
	// The log's line spoiled, the cosignatures made over the spoiled
	// text: every witness line verifies, the log's does not.
	spoiledText := bytes.Replace(dev, []byte("VltuhpPY"), []byte("WltuhpPY"), 1)

	for _, c := range []struct {
		name      string
		note      []byte
		threshold int
		valid     []string // names of the valid witness lines, in order
		logValid  bool
		is        error // of Verdict.Err; nil for a note that meets the policy
	}{
		{"device note, threshold 0", dev, 0, nil, true, nil},
		{"device note, threshold 1", dev, 1, nil, true, ErrBelowThreshold},
		{"one of one", cos(dev, w1), 1, []string{w1.Name()}, true, nil},
		{"two of two", two, 2, []string{w1.Name(), w2.Name()}, true, nil},
		{"two, threshold 3", two, 3, []string{w1.Name(), w2.Name()}, true, ErrBelowThreshold},
		{"unknown witness ignored", cos(dev, stranger, w1), 1, []string{w1.Name()}, true, nil},
		{"unknown witness does not count", cos(dev, stranger), 1, nil, true, ErrBelowThreshold},
		{"invalid cosignature by a known witness", w2Bad, 1, []string{w1.Name()}, true, ErrInvalidSignature},
		{"invalid log signature", cos(spoiledText, w1, w2), 2, []string{w1.Name(), w2.Name()}, false, ErrInvalidSignature},
		{"another log's checkpoint", cos(logCheckpoint(t, 4), w1), 1, []string{w1.Name()}, false, ErrNoLogSignature},
	} {
		t.Run(c.name, func(t *testing.T) {
			v, err := Check(c.note, devKey, keys, c.threshold)
			if err != nil {
				t.Fatalf("Check: %v", err)
			}
			var valid []string
			for _, l := range v.Cosigners() {
				valid = append(valid, l.Name)
				if l.Time.IsZero() {
					t.Errorf("valid cosignature by %s has no time", l.Name)
				}
			}
			if strings.Join(valid, ",") != strings.Join(c.valid, ",") {
				t.Errorf("valid cosigners %v, want %v", valid, c.valid)
			}
			if v.LogValid() != c.logValid {
				t.Errorf("LogValid = %v, want %v", v.LogValid(), c.logValid)
			}
			err = v.Err()
			switch {
			case c.is == nil && err != nil:
				t.Errorf("Err = %v, want nil", err)
			case c.is != nil && !errors.Is(err, c.is):
				t.Errorf("Err = %v, want %v", err, c.is)
			}
			if len(v.Lines) != bytes.Count(c.note[len(noteText(c.note))+1:], []byte("\n")) {
				t.Errorf("%d lines judged, the note has more or fewer", len(v.Lines))
			}
		})
	}

	// The device vector's lines, by role: Ed25519 (log), secp256k1
	// (other), then the witnesses in order, with their times.
	v, err := Check(two, devKey, keys, 2)
	if err != nil {
		t.Fatal(err)
	}
	want := []Line{
		{Name: v.Lines[0].Name, KeyID: 0x6f2b24d0, Role: Log, Valid: true},
		{Name: v.Lines[1].Name, KeyID: 0x19973104, Role: Other},
		{Name: w1.Name(), KeyID: w1.KeyID(), Role: Witness, Valid: true, Time: testTime},
		{Name: w2.Name(), KeyID: w2.KeyID(), Role: Witness, Valid: true, Time: testTime.Add(time.Second)},
	}
	for i := range want {
		g := v.Lines[i]
		if g.Name != want[i].Name || g.KeyID != want[i].KeyID || g.Role != want[i].Role || g.Valid != want[i].Valid || !g.Time.Equal(want[i].Time) {
			t.Errorf("line %d: %+v, want %+v", i+1, v.Lines[i], want[i])
		}
	}
	if v.Checkpoint.Size != 5 || !strings.HasSuffix(v.Checkpoint.Origin, "/0") {
		t.Errorf("checkpoint %+v, want the device vector's", v.Checkpoint)
	}
}

func TestCheck_CannotJudge(t *testing.T) {
	dev := deviceNote(t)
	for _, c := range []struct {
		name, want string
		note       []byte
	}{
		{"malformed", "no blank line", []byte("x\n")},
		{"duplicate line", "second signature by key", append(bytes.Clone(dev), lastLine(dev)...)},
		{"not a checkpoint", "not a checkpoint", signText(t, "a\nb\n")},
	} {
		t.Run(c.name, func(t *testing.T) {
			v, err := Check(c.note, deviceVKey(t), nil, 0)
			if err == nil {
				t.Fatalf("Check judged it: %+v", v)
			}
			wantErr(t, err, c.want)
		})
	}
}

func TestNewPolicy_Bad(t *testing.T) {
	w := testKey(t)
	dev := deviceVKey(t)
	for _, c := range []struct {
		name      string
		log       string
		witnesses []string
		threshold int
		want      string
	}{
		{"witness key as log key", w.VerifierKey(), nil, 0, "log key"},
		{"bad witness key", dev, []string{"x"}, 0, "witness key 1"},
		{"device key as witness key", dev, []string{dev}, 0, "type 0x01"},
		{"witness given twice", dev, []string{w.VerifierKey(), w.VerifierKey()}, 1, "witness key 2 (" + w.Name()},
		{"negative threshold", dev, []string{w.VerifierKey()}, -1, "threshold -1"},
		{"threshold above the keys", dev, []string{w.VerifierKey()}, 2, "threshold 2 is not between 0 and the 1 witness keys"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, err := NewPolicy(c.log, c.witnesses, c.threshold); err == nil {
				t.Fatal("NewPolicy accepted it")
			} else {
				wantErr(t, err, c.want)
			}
		})
	}
}
