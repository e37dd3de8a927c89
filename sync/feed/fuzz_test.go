package feed

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParseMessage: no input panics; every error wraps ErrMalformed; an
// accepted input is exactly its own canonical form, and its leaf is the
// event it claims. Seeded from the vectors, valid and invalid.
func FuzzParseMessage(f *testing.F) {
	vj, err := os.ReadFile(filepath.Join(vecDir, "vectors.json"))
	if err != nil {
		f.Fatal(err)
	}
	var v vecFeed
	if err := json.Unmarshal(vj, &v); err != nil {
		f.Fatal(err)
	}
	for _, m := range v.Messages {
		b, err := os.ReadFile(filepath.Join(vecDir, m.File))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, c := range v.Invalid {
		f.Add([]byte(c.Payload))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseMessage(data)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		if !bytes.Equal(m.Marshal(), data) {
			t.Fatalf("accepted %q, which is not its canonical form %q", data, m.Marshal())
		}
		if m.Event == nil || m.Event.Seq != m.Seq || !bytes.Equal(m.Event.LeafOfValid(), m.Leaf) {
			t.Fatalf("accepted %q with a leaf that is not its event", data)
		}
	})
}
