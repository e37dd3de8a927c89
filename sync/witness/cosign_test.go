package witness

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/waybill-eu/waybill/agent/checkpoint"
)

// otherKey returns a witness key other than the test key.
func otherKey(t testing.TB, name string) *Key {
	t.Helper()
	s := sha256.Sum256([]byte("another witness " + name))
	k, err := NewKey(name, s[:])
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// lastLine returns the last line of a note, with its newline.
func lastLine(note []byte) []byte {
	return note[bytes.LastIndex(note[:len(note)-1], []byte("\n"))+1:]
}

// cosignLine returns a cosignature line by k over text with the raw
// timestamp ts and an Ed25519 signature of msg (the right message unless
// the test wants otherwise).
func cosignLine(k *Key, ts uint64, msg []byte) string {
	raw := binary.BigEndian.AppendUint32(nil, k.KeyID())
	raw = binary.BigEndian.AppendUint64(raw, ts)
	raw = append(raw, ed25519Sign(k, msg)...)
	return "\u2014 " + k.Name() + " " + base64.StdEncoding.EncodeToString(raw) + "\n"
}

func TestCosign_Good(t *testing.T) {
	k := testKey(t)
	for _, c := range []struct {
		name string
		note []byte
		now  time.Time
	}{
		{"device vector", deviceNote(t), testTime},
		{"Unix epoch", deviceNote(t), time.Unix(0, 0)},
		{"sub-second time is truncated", deviceNote(t), testTime.Add(999 * time.Millisecond)},
		{"tree size 0", logCheckpoint(t, 0), testTime},
		{"already cosigned by another witness", mustCosign(t, otherKey(t, "w2.example/x"), deviceNote(t), testTime), testTime},
		{"non-ASCII origin", signText(t, "waybill/δοκιμή/0\n1\n"+base64.StdEncoding.EncodeToString(make([]byte, 32))+"\n"), testTime},
	} {
		t.Run(c.name, func(t *testing.T) {
			out, err := k.Cosign(c.note, c.now)
			if err != nil {
				t.Fatalf("Cosign: %v", err)
			}
			if !bytes.HasPrefix(out, c.note) || bytes.Count(out[len(c.note):], []byte("\n")) != 1 {
				t.Fatalf("Cosign changed the note or added more than one line:\n%s", out)
			}
			got, err := VerifyCosignature(out, k.VerifierKey())
			if err != nil {
				t.Fatalf("VerifyCosignature: %v", err)
			}
			if want := time.Unix(c.now.Unix(), 0); !got.Equal(want) || got.Location() != time.UTC {
				t.Fatalf("VerifyCosignature time %v, want %v in UTC", got, want)
			}
			// agent/checkpoint opens it with the witness verifier.
			if _, err := checkpoint.Open(out, k.Verifier()); err != nil {
				t.Fatalf("checkpoint.Open with the witness verifier: %v", err)
			}
		})
	}
}

func mustCosign(t testing.TB, k *Key, note []byte, now time.Time) []byte {
	t.Helper()
	out, err := k.Cosign(note, now)
	if err != nil {
		t.Fatalf("Cosign: %v", err)
	}
	return out
}

func TestCosign_Bad(t *testing.T) {
	k := testKey(t)
	dev := deviceNote(t)
	text := string(noteText(dev))
	sigs := string(dev[len(text)+1:])
	root := base64.StdEncoding.EncodeToString(make([]byte, 32))

	// A note with 100 signature lines, the most a note may carry.
	var full []byte
	{
		n := []byte(text + "\n" + sigs)
		for i := 0; len(bytes.Split(bytes.TrimSuffix(n[len(text)+1:], []byte("\n")), []byte("\n"))) < 100; i++ {
			n = mustCosign(t, otherKey(t, fmt.Sprintf("w%d.example", i)), n, testTime)
		}
		full = n
	}
	// A note that fits, but not with one more line.
	bigOrigin := strings.Repeat("o", checkpoint.MaxNoteSize-260)
	big := signText(t, bigOrigin+"\n1\n"+root+"\n")

	for _, c := range []struct {
		name string
		note []byte
		now  time.Time
		want string
		is   error
	}{
		{"empty", nil, testTime, "note does not end in newline", checkpoint.ErrMalformed},
		{"text only", []byte(text), testTime, "no blank line before the signatures", checkpoint.ErrMalformed},
		{"no signature line", []byte(text + "\n"), testTime, "no signature lines", checkpoint.ErrMalformed},
		{"not a checkpoint", signText(t, "hello\n"), testTime, "text has 1 lines, want at least 3", ErrNotCheckpoint},
		{"bad tree size", signText(t, "o\n01\n"+root+"\n"), testTime, "tree size \"01\" is not canonical", ErrNotCheckpoint},
		{"extension line", signText(t, "o\n1\n"+root+"\next\n"), testTime, "1 extension lines", ErrNotCheckpoint},
		{"blank line in text", signText(t, "o\n1\n"+root+"\n\nx\n"), testTime, "line is empty", ErrNotCheckpoint},
		{"duplicate signature line", []byte(string(dev) + strings.SplitAfter(sigs, "\n")[0]), testTime, "second signature by key", checkpoint.ErrMalformed},
		{"non-UTF-8 in the text", []byte(strings.Replace(string(dev), "demo", "d\xffmo", 1)), testTime, "invalid UTF-8", checkpoint.ErrMalformed},
		{"non-UTF-8 in a line", append(bytes.Clone(dev), "\u2014 w\xfe AAAAAAA=\n"...), testTime, "invalid UTF-8", checkpoint.ErrMalformed},
		{"CRLF", bytes.ReplaceAll(dev, []byte("\n"), []byte("\r\n")), testTime, "control character 0x0d", checkpoint.ErrMalformed},
		{"oversized", append(bytes.Repeat([]byte("x"), checkpoint.MaxNoteSize), '\n'), testTime, "more than 1048576", checkpoint.ErrMalformed},
		{"already cosigned", mustCosign(t, k, dev, testTime), testTime.Add(time.Hour), "already carries a cosignature by this key", ErrAlreadyCosigned},
		{"100 lines", full, testTime, "already has 100 signature lines", nil},
		{"no room", big, testTime, "cosigned note would be", nil},
		{"before the epoch", dev, time.Unix(-1, 0), "before the Unix epoch", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			out, err := k.Cosign(c.note, c.now)
			if err == nil {
				t.Fatalf("Cosign accepted it:\n%s", out)
			}
			wantErr(t, err, c.want)
			if c.is != nil && !errors.Is(err, c.is) {
				t.Errorf("error %q does not wrap %v", err, c.is)
			}
		})
	}
}

func TestVerifyCosignature(t *testing.T) {
	k := testKey(t)
	dev := deviceNote(t)
	good := mustCosign(t, k, dev, testTime)
	line := string(lastLine(good))
	prefix := string(good[:len(good)-len(line)])
	text := noteText(dev)
	ts := uint64(testTime.Unix())

	// The same body with another root: the device line no longer
	// verifies, and neither does the cosignature.
	altered := bytes.Replace(good, []byte("VltuhpPY"), []byte("WltuhpPY"), 1)
	// A cosignature over another checkpoint, carried on this one.
	otherCk := mustCosign(t, k, logCheckpoint(t, 3), testTime)
	// Same name, another key.
	impostor := otherKey(t, testName)

	for _, c := range []struct {
		name string
		note []byte
		vkey string
		want string
		is   error
	}{
		{"wrong key", good, otherKey(t, "w2.example").VerifierKey(), "no cosignature by the witness key w2.example+", ErrNoCosignature},
		{"same name, other key", good, impostor.VerifierKey(), "no cosignature by the witness key", ErrNoCosignature},
		{"impostor's line", []byte(prefix + cosignLine(impostor, ts, Message(text, ts))), k.VerifierKey(), "no cosignature", ErrNoCosignature},
		{"device note only", dev, k.VerifierKey(), "no cosignature", ErrNoCosignature},
		{"altered body", altered, k.VerifierKey(), "does not verify", ErrInvalidSignature},
		{"altered time", []byte(prefix + cosignLine(k, ts+1, Message(text, ts))), k.VerifierKey(), "does not verify", ErrInvalidSignature},
		{"time beyond 2^63-1", []byte(prefix + cosignLine(k, math.MaxInt64+1, Message(text, math.MaxInt64+1))), k.VerifierKey(), "does not verify", ErrInvalidSignature},
		{"signature of another checkpoint", []byte(prefix + string(lastLine(otherCk))), k.VerifierKey(), "does not verify", ErrInvalidSignature},
		{"message without the time line", []byte(prefix + cosignLine(k, ts, append([]byte("cosignature/v1\n"), text...))), k.VerifierKey(), "does not verify", ErrInvalidSignature},
		{"message with a leading-zero time", []byte(prefix + cosignLine(k, ts, []byte(fmt.Sprintf("cosignature/v1\ntime 0%d\n%s", ts, text)))), k.VerifierKey(), "does not verify", ErrInvalidSignature},
		{"note text signed plainly", []byte(prefix + cosignLine(k, ts, text)), k.VerifierKey(), "does not verify", ErrInvalidSignature},
		{"truncated signature", []byte(prefix + line[:len(line)-9] + "\n"), k.VerifierKey(), "does not verify", ErrInvalidSignature},
		{"duplicate cosignature", append(bytes.Clone(good), line...), k.VerifierKey(), "second signature by key", checkpoint.ErrMalformed},
		{"oversized", append(bytes.Repeat([]byte("x"), checkpoint.MaxNoteSize), good...), k.VerifierKey(), "more than 1048576", checkpoint.ErrMalformed},
		{"non-UTF-8", append(good[:len(good)-1:len(good)-1], 0xff, '\n'), k.VerifierKey(), "invalid UTF-8", checkpoint.ErrMalformed},
		{"not a checkpoint", mustSign2(t, "not\na checkpoint\n", k), k.VerifierKey(), "text has 2 lines", ErrNotCheckpoint},
		{"device key as witness key", good, deviceVKey(t), "type 0x01", ErrInvalidKey},
		{"bad key", good, "nonsense", `no "+" after the key name`, ErrInvalidKey},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := VerifyCosignature(c.note, c.vkey)
			if err == nil {
				t.Fatalf("VerifyCosignature accepted it (time %v)", got)
			}
			if !got.IsZero() {
				t.Errorf("time %v with an error, want zero", got)
			}
			wantErr(t, err, c.want)
			if !errors.Is(err, c.is) {
				t.Errorf("error %q does not wrap %v", err, c.is)
			}
		})
	}
}

// mustSign2 signs text with the log key and adds a cosignature line by k
// over it, bypassing Cosign's checks.
func mustSign2(t *testing.T, text string, k *Key) []byte {
	t.Helper()
	n := signText(t, text)
	ts := uint64(testTime.Unix())
	return append(n, cosignLine(k, ts, Message([]byte(text), ts))...)
}

func TestMessage(t *testing.T) {
	for _, c := range []struct {
		ts   uint64
		want string
	}{
		{0, "cosignature/v1\ntime 0\nT\n"},
		{1679315147, "cosignature/v1\ntime 1679315147\nT\n"},
		{math.MaxInt64, "cosignature/v1\ntime 9223372036854775807\nT\n"},
	} {
		if got := string(Message([]byte("T\n"), c.ts)); got != c.want {
			t.Errorf("Message(%d) = %q, want %q", c.ts, got, c.want)
		}
	}
}
