package anchor

import "testing"

func TestParseFinality(t *testing.T) {
	good := []struct {
		in   string
		want Finality
	}{
		{"qbft", QBFT},
		{"finalized", FinalizedTag},
		{"confirmations:1", Confirmations(1)},
		{"confirmations:12", Confirmations(12)},
		{"confirmations:43200", Confirmations(43200)},
	}
	for _, tt := range good {
		got, err := ParseFinality(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseFinality(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
		if got.String() != tt.in {
			t.Errorf("ParseFinality(%q).String() = %q", tt.in, got.String())
		}
	}
	bad := []string{"", "QBFT", "safe", "latest", "confirmations", "confirmations:", "confirmations:0",
		"confirmations:012", "confirmations:+3", "confirmations:-1", "confirmations:43201", "confirmations:3 ",
		"confirmations: 3", "confirmations:99999999999999999999"}
	for _, in := range bad {
		if f, err := ParseFinality(in); err == nil {
			t.Errorf("ParseFinality(%q) = %v, want an error", in, f)
		}
	}
	var f Finality
	if err := f.UnmarshalText([]byte("finalized")); err != nil || f != FinalizedTag {
		t.Errorf("UnmarshalText(finalized) = %v, %v", f, err)
	}
	if err := f.UnmarshalText([]byte("soon")); err == nil || f != FinalizedTag {
		t.Errorf("UnmarshalText(soon) = %v and changed f to %v", err, f)
	}
}

func TestFinality_Final(t *testing.T) {
	tests := []struct {
		f                  Finality
		n, head, finalized uint64
		want               bool
	}{
		{QBFT, 10, 9, 0, false},
		{QBFT, 10, 10, 0, true},
		{Confirmations(1), 10, 10, 0, true},
		{Confirmations(3), 10, 11, 0, false},
		{Confirmations(3), 10, 12, 0, true},
		{Confirmations(3), 10, 9, 0, false},
		{FinalizedTag, 10, 100, 9, false},
		{FinalizedTag, 10, 100, 10, true},
	}
	for _, tt := range tests {
		if got := tt.f.final(tt.n, tt.head, tt.finalized); got != tt.want {
			t.Errorf("%v.final(block %d, head %d, finalized %d) = %v, want %v", tt.f, tt.n, tt.head, tt.finalized, got, tt.want)
		}
	}
}
