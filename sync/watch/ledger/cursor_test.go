package ledger_test

import (
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/common"

	"github.com/waybill-eu/waybill/sync/watch/ledger"
)

func TestCursor_Text(t *testing.T) {
	h := common.HexToHash("0x00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff")
	good := []struct {
		c    ledger.Cursor
		text string
	}{
		{ledger.Cursor{}, "0"},
		{ledger.Cursor{Next: 1234}, "1234"},
		{ledger.Cursor{Next: 18446744073709551615}, "18446744073709551615"},
		{ledger.Cursor{Next: 7, Hash: h}, "7:0x00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"},
	}
	for _, tt := range good {
		b, err := tt.c.MarshalText()
		if err != nil || string(b) != tt.text || tt.c.String() != tt.text {
			t.Errorf("%+v: MarshalText = %q, %v; want %q", tt.c, b, err, tt.text)
		}
		var got ledger.Cursor
		if err := got.UnmarshalText([]byte(tt.text)); err != nil || got != tt.c {
			t.Errorf("UnmarshalText(%q) = %+v, %v; want %+v", tt.text, got, err, tt.c)
		}
	}
	hex := "0x00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
	bad := []string{
		"", "-1", "+1", "01", "1.0", " 1", "1 ", "18446744073709551616", "x",
		"7:", "7:" + hex[2:], "7:0X" + hex[2:], "7:" + strings.ToUpper(hex), "7:" + hex + "00", "7:" + hex[:64],
		"0:" + hex, "7:0x" + strings.Repeat("0", 64), "7:" + hex + ":1",
	}
	for _, in := range bad {
		c := ledger.Cursor{Next: 99}
		err := c.UnmarshalText([]byte(in))
		if err == nil {
			t.Errorf("UnmarshalText(%q) = %+v, want an error", in, c)
			continue
		}
		if c != (ledger.Cursor{Next: 99}) {
			t.Errorf("UnmarshalText(%q) changed the cursor on error: %+v", in, c)
		}
		if !strings.Contains(err.Error(), "cursor") {
			t.Errorf("UnmarshalText(%q): error %q does not name the cursor", in, err)
		}
	}
}

// FuzzCursor: whatever UnmarshalText accepts, MarshalText writes back
// byte for byte.
func FuzzCursor(f *testing.F) {
	f.Add("0")
	f.Add("1234:0x00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff")
	f.Add("7:0x")
	f.Fuzz(func(t *testing.T, s string) {
		var c ledger.Cursor
		if c.UnmarshalText([]byte(s)) != nil {
			return
		}
		if got := c.String(); got != s {
			t.Fatalf("UnmarshalText(%q) then String() = %q", s, got)
		}
	})
}
