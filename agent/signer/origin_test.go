package signer

import (
	"testing"

	"github.com/waybill-eu/waybill/agent/event"
)

func TestParseOrigin(t *testing.T) {
	dev, err := event.ParseAddress("0x2c7536e3605d9c16a7a3d7b1898e529396a65c23")
	if err != nil {
		t.Fatal(err)
	}
	for _, epoch := range []uint32{0, 7, 1<<32 - 1} {
		o := Origin("brussels-north", dev, epoch)
		f, d, e, err := ParseOrigin(o)
		if err != nil || f != "brussels-north" || d != dev || e != epoch {
			t.Errorf("ParseOrigin(%q) = %q, %s, %d, %v", o, f, d, e, err)
		}
	}
	for _, tt := range []struct{ in, want string }{
		{"waybill/demo/0x2c7536e3605d9c16a7a3d7b1898e529396a65c23", "not waybill/<fleet>/<device>/<epoch>"},
		{"waybill/demo/0x2c7536e3605d9c16a7a3d7b1898e529396a65c23/0/1", "not waybill/<fleet>/<device>/<epoch>"},
		{"Waybill/demo/0x2c7536e3605d9c16a7a3d7b1898e529396a65c23/0", "not waybill/<fleet>/<device>/<epoch>"},
		{"waybill/Demo/0x2c7536e3605d9c16a7a3d7b1898e529396a65c23/0", `fleet "Demo" is not a valid fleet identifier`},
		{"waybill/demo/0x2c7536e3605d9c16a7a3d7b1898e529396a65C23/0", `device address: "0x2c7536e3605d9c16a7a3d7b1898e529396a65C23" is not lowercase hex`},
		{"waybill/demo/0x2c7536e3605d9c16a7a3d7b1898e529396a65c23/00", `epoch "00" is not a decimal number from 0 to 4294967295 without leading zeros`},
		{"waybill/demo/0x2c7536e3605d9c16a7a3d7b1898e529396a65c23/4294967296", `epoch "4294967296" is not a decimal number`},
		{"waybill/demo/0x2c7536e3605d9c16a7a3d7b1898e529396a65c23/+1", `epoch "+1" is not a decimal number`},
		{"waybill/demo/0x2c7536e3605d9c16a7a3d7b1898e529396a65c23/", `epoch "" is not a decimal number`},
	} {
		_, _, _, err := ParseOrigin(tt.in)
		if err == nil || len(err.Error()) < len(tt.want) || err.Error()[:len(tt.want)] != tt.want {
			t.Errorf("ParseOrigin(%q) = %v, want %q", tt.in, err, tt.want)
		}
	}
}
