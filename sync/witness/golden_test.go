package witness

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"testing"
)

// TestGolden_Vector makes the test vector of firmware-docs/WITNESS.md: PROTOCOL.md
// §7's device checkpoint cosigned by the test witness key at testTime.
func TestGolden_Vector(t *testing.T) {
	k := testKey(t)
	golden(t, "witness.skey", []byte(k.PrivateKey()+"\n"))
	golden(t, "witness.vkey", []byte(k.VerifierKey()+"\n"))

	dev := deviceNote(t)
	cosigned, err := k.Cosign(dev, testTime)
	if err != nil {
		t.Fatalf("Cosign: %v", err)
	}
	golden(t, "cosigned.note", cosigned)
	if !bytes.HasPrefix(cosigned, dev) {
		t.Fatal("the cosigned note does not start with the device's note, byte for byte")
	}
	if n := bytes.Count(cosigned[len(dev):], []byte("\n")); n != 1 {
		t.Fatalf("Cosign added %d lines, want 1", n)
	}

	got, err := VerifyCosignature(cosigned, k.VerifierKey())
	if err != nil || !got.Equal(testTime) {
		t.Fatalf("VerifyCosignature = %v, %v; want %v", got, err, testTime)
	}
	v, err := Check(cosigned, deviceVKey(t), []string{k.VerifierKey()}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Err(); err != nil {
		t.Fatalf("Check: %v", err)
	}
	if len(v.Lines) != 3 || v.Lines[0].Role != Log || v.Lines[1].Role != Other || v.Lines[2].Role != Witness {
		t.Fatalf("lines %+v, want log, other (the secp256k1 line), witness", v.Lines)
	}
	loaded, err := ParsePrivateKey(strings.TrimSuffix(string(readFile(t, "testdata/witness.skey")), "\n"))
	if err != nil || loaded.VerifierKey() != k.VerifierKey() {
		t.Fatalf("ParsePrivateKey(testdata/witness.skey) = %v, %v", loaded, err)
	}
}

// TestGolden_Doc checks firmware-docs/WITNESS.md's vector byte for byte
// against testdata and the seed it names against the key.
func TestGolden_Doc(t *testing.T) {
	doc := string(readFile(t, "../../firmware-docs/WITNESS.md"))
	for _, c := range []struct{ block, file string }{
		{"witness.skey", "testdata/witness.skey"},
		{"witness.vkey", "testdata/witness.vkey"},
		{"checkpoint.note", deviceNotePath},
		{"cosigned.note", "testdata/cosigned.note"},
		{"message", ""},
	} {
		got := docBlock(t, doc, c.block)
		var want []byte
		if c.file != "" {
			want = readFile(t, c.file)
		} else {
			want = Message(noteText(deviceNote(t)), uint64(testTime.Unix()))
		}
		if !bytes.Equal([]byte(got), want) {
			t.Errorf("WITNESS.md block %q differs from %s\ndoc:\n%s\nwant:\n%s", c.block, c.file, got, want)
		}
	}
	// The decoded fields of the cosignature line, as the prose gives them.
	cosigned := readFile(t, "testdata/cosigned.note")
	line := cosigned[bytes.LastIndex(cosigned[:len(cosigned)-1], []byte("\n"))+1:]
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(line[bytes.LastIndexByte(line, ' ')+1:])))
	if err != nil || len(raw) != 76 {
		t.Fatalf("cosignature line %q: %d bytes, %v", line, len(raw), err)
	}
	for _, want := range []string{
		"key ID `" + hex.EncodeToString(raw[:4]) + "`",
		"timestamp\n`" + hex.EncodeToString(raw[4:12]) + "` (1767225600)",
		"`" + hex.EncodeToString(raw[12:44]) + "`\n`" + hex.EncodeToString(raw[44:]) + "`",
	} {
		if !strings.Contains(doc, want) {
			t.Errorf("WITNESS.md does not contain %q", want)
		}
	}
	if seed := docBlock(t, doc, "seed"); seed != hex.EncodeToString(testSeed())+"\n" {
		t.Errorf("WITNESS.md seed block %q, want %x", seed, testSeed())
	}
}

// docBlock returns the fenced block that follows the marker
// "<!-- vector: name -->" in doc, with its final newline.
func docBlock(t *testing.T, doc, name string) string {
	t.Helper()
	_, rest, ok := strings.Cut(doc, "<!-- vector: "+name+" -->\n```\n")
	if !ok {
		t.Fatalf("WITNESS.md has no block marked %q", name)
	}
	block, _, ok := strings.Cut(rest, "```\n")
	if !ok {
		t.Fatalf("WITNESS.md: block %q is not closed", name)
	}
	return block
}
