package mfrc522

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/waybill-eu/waybill/drivers/sensor"
	"github.com/waybill-eu/waybill/drivers/sensor/sensortest"
	"periph.io/x/conn/v3"
	"periph.io/x/conn/v3/spi"
)

// anticollisionSeeds are answers to ANTICOLLISION (UID CLn and BCC) with a
// SAK, from the tests' tables: valid levels of 4-, 7- and 10-byte UIDs, a bad
// BCC, a cascade tag with a final SAK, short and long answers.
var anticollisionSeeds = []struct {
	resp  []byte
	sak   byte
	level uint8
}{
	{[]byte{0xDE, 0xAD, 0xBE, 0xEF, 0x22}, 0x08, 0},
	{[]byte{0x88, 0x04, 0x6B, 0x2A, 0xCD}, 0x04, 0},
	{[]byte{0x9A, 0x71, 0x5C, 0x80, 0x37}, 0x00, 1},
	{[]byte{0x07, 0x08, 0x09, 0x0A, 0x0C}, 0x20, 2},
	{[]byte{0xDE, 0xAD, 0xBE, 0xEF, 0x00}, 0x08, 0},
	{[]byte{0x88, 0x01, 0x02, 0x03, 0x88}, 0x08, 0},
	{[]byte{0x88, 0x01, 0x02, 0x03, 0x88}, 0x04, 2},
	{[]byte{0x01, 0x02}, 0x08, 0},
	{[]byte{0x01, 0x02, 0x03, 0x04, 0x04, 0x00}, 0x08, 0},
}

// FuzzAnticollision checks the decoding of an ANTICOLLISION answer and SAK:
// it never panics, and what it accepts has a correct BCC and yields 4 UID
// bytes at the last level or 3 after a cascade tag.
func FuzzAnticollision(f *testing.F) {
	for _, s := range anticollisionSeeds {
		f.Add(s.resp, s.sak, s.level)
	}
	f.Fuzz(func(t *testing.T, resp []byte, sak byte, level uint8) {
		cl, err := parseUIDCL(resp)
		if err != nil {
			if !errors.Is(err, sensor.ErrCRC) && !errors.Is(err, ErrProtocol) {
				t.Fatalf("parseUIDCL(% X) = %v: not ErrCRC or ErrProtocol", resp, err)
			}
			return
		}
		if len(resp) != 5 || resp[0]^resp[1]^resp[2]^resp[3] != resp[4] {
			t.Fatalf("parseUIDCL accepted % X", resp)
		}
		part, more, err := uidPart(cl, sak, int(level%3))
		if err != nil {
			return
		}
		switch {
		case more && (len(part) != 3 || cl[0] != cascadeTag || sak&sakCascade == 0 || level%3 == 2):
			t.Fatalf("uidPart(% X, %02X, %d) = % X, more", cl, sak, level%3, part)
		case !more && (len(part) != 4 || cl[0] == cascadeTag || sak&sakCascade != 0):
			t.Fatalf("uidPart(% X, %02X, %d) = % X, complete", cl, sak, level%3, part)
		}
	})
}

// byteConn is an spi.Conn whose every register read returns the next byte
// of a fuzzer's input; writes are accepted. It runs out with an error.
type byteConn struct {
	data []byte
}

func (b *byteConn) String() string                 { return "fuzz" }
func (b *byteConn) Duplex() conn.Duplex            { return conn.Full }
func (b *byteConn) TxPackets(p []spi.Packet) error { return errors.New("not supported") }

func (b *byteConn) Tx(w, r []byte) error {
	if len(w) == 0 || w[0]&0x80 == 0 {
		return nil
	}
	for i := 1; i < len(r); i++ {
		if len(b.data) == 0 {
			return errors.New("out of data")
		}
		r[i], b.data = b.data[0], b.data[1:]
	}
	return nil
}

// FuzzSense feeds arbitrary register contents to a whole Sense: whatever the
// chip says, Sense does not panic, and returns a *sensor.Error or at most one
// tag with a 4-, 7- or 10-byte UID.
func FuzzSense(f *testing.F) {
	// REQA answered (ComIrqReg 60h; ErrorReg, FIFOLevelReg, ControlReg;
	// ATQA), then an ANTICOLLISION answer, a SELECT answer, HLTA silent.
	f.Add([]byte{0x60, 0x00, 0x02, 0x00, 0x04, 0x00,
		0x60, 0x00, 0x05, 0x00, 0xDE, 0xAD, 0xBE, 0xEF, 0x22,
		0x60, 0x00, 0x03, 0x00, 0x08, 0xB6, 0xDD,
		0x41})
	f.Add([]byte{0x41})
	f.Add([]byte{0x62, 0x08, 0x05, 0x00, 0x05})
	f.Add([]byte{0x60, 0x00, 0x7F, 0x00})
	f.Fuzz(func(t *testing.T, data []byte) {
		clk := sensortest.NewClock(time.Unix(0, 0))
		d := &Dev{conn: &byteConn{data: data}, clock: clk, dedupe: time.Second, name: "mfrc522", where: "fuzz", seen: map[string]time.Time{}}
		for range 3 {
			vals, err := d.Sense(context.Background())
			if err != nil {
				var se *sensor.Error
				if !errors.As(err, &se) {
					t.Fatalf("Sense() = %v, not a *sensor.Error", err)
				}
				continue
			}
			if len(vals) > 1 {
				t.Fatalf("Sense() = %v", vals)
			}
			for _, v := range vals {
				if n := len(v.(sensor.Tag).UID); n != 4 && n != 7 && n != 10 {
					t.Fatalf("UID of %d bytes", n)
				}
			}
		}
	})
}
