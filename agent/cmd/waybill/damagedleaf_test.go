package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCLI_DamagedEventProvenFromKeptCopy changes the bytes of event 1 in
// its segment file (its stored hash intact). log prove refuses to serve it
// and names --leaf; the copy a consumer kept is proven and verifies; the
// log goes on signing checkpoints; log check lists the damaged event.
func TestCLI_DamagedEventProvenFromKeptCopy(t *testing.T) {
	dir, key, vkey, _ := keyed(t)
	data := filepath.Join(dir, "log")
	in := `{"kind":"delivery","payload":{"parcel":"04A13C2F","lat":50.8476,"lon":4.3537}}
{"kind":"door_opened","payload":{"door":"rear"}}
{"kind":"position","payload":{"lat":50.85,"lon":4.35,"speed_mps":3.5}}
`
	if code, out, errs := waybill(t, in, "log", "append", "--data", data, "--key", key, "--fleet", "cli-test", "--chain-id", "1337"); code != 0 {
		t.Fatalf("append = %d %s %s", code, out, errs)
	}
	if code, _, errs := waybill(t, "", "log", "checkpoint", "--data", data, "--key", key); code != 0 {
		t.Fatalf("checkpoint: %s", errs)
	}
	code, shown, _ := waybill(t, "", "log", "show", "--data", data, "--from", "1", "--limit", "1")
	if code != 0 || !strings.Contains(shown, `"seq":1`) {
		t.Fatalf("show 1 = %d %q", code, shown)
	}
	kept := filepath.Join(dir, "kept1.json")
	if err := os.WriteFile(kept, []byte(shown), 0o644); err != nil {
		t.Fatal(err)
	}
	// "rear" becomes "Rear" in every copy of event 1 in the segment.
	seg := filepath.Join(data, "epoch-0", "seg-000000.db")
	b, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	n := bytes.Count(b, []byte(`"door":"rear"`))
	if n == 0 {
		t.Fatal("event 1 not found in the segment")
	}
	if err := os.WriteFile(seg, bytes.ReplaceAll(b, []byte(`"door":"rear"`), []byte(`"door":"Rear"`)), 0o644); err != nil {
		t.Fatal(err)
	}

	code, _, errs := waybill(t, "", "log", "prove", "--data", data, "--seq", "1")
	if code == 0 || !strings.Contains(errs, "damaged") || !strings.Contains(errs, "seg-000000.db") || !strings.Contains(errs, "--leaf") {
		t.Fatalf("prove of the damaged event = %d: %s; want it refused, naming the file and --leaf", code, errs)
	}
	code, bundle, errs := waybill(t, "", "log", "prove", "--data", data, "--seq", "1", "--leaf", kept)
	if code != 0 {
		t.Fatalf("prove of the damaged event from the kept copy = %d: %s", code, errs)
	}
	bpath := filepath.Join(dir, "bundle1.json")
	os.WriteFile(bpath, []byte(bundle), 0o644)
	if code, out, errs := waybill(t, "", "verify", "--vkey", vkey, bpath); code != 0 {
		t.Fatalf("verify the damaged event's bundle from the kept copy = %d: %s%s", code, out, errs)
	}
	other := filepath.Join(dir, "kept2.json")
	_, shown2, _ := waybill(t, "", "log", "show", "--data", data, "--from", "2", "--limit", "1")
	os.WriteFile(other, []byte(shown2), 0o644)
	if code, _, errs := waybill(t, "", "log", "prove", "--data", data, "--seq", "1", "--leaf", other); code == 0 || !strings.Contains(errs, "is not event 1") {
		t.Fatalf("prove with another event's copy = %d: %s", code, errs)
	}

	if code, _, errs := waybill(t, `{"kind":"door_closed","payload":{"door":"rear"}}`+"\n", "log", "append", "--data", data, "--key", key); code != 0 {
		t.Fatalf("append after the damage: %s", errs)
	}
	if code, out, errs := waybill(t, "", "log", "checkpoint", "--data", data, "--key", key); code != 0 || !strings.Contains(out, "\n4\n") {
		t.Fatalf("checkpoint after the damage = %d %q %s; want size 4 signed", code, out, errs)
	}
	code, out, errs := waybill(t, "", "log", "check", "--data", data)
	if code == 0 || !strings.Contains(errs, "1 event(s) have damaged bytes: 1 (epoch-0/seg-000000.db)") {
		t.Fatalf("log check = %d %s%s; want the damaged event listed", code, out, errs)
	}
}
