package replay

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"
	"periph.io/x/conn/v3/i2c/i2ctest"
	"periph.io/x/conn/v3/onewire"

	"github.com/waybill-eu/waybill/drivers/sensor"
)

var t0 = time.Date(2026, 11, 27, 6, 30, 0, 0, time.UTC)

// record runs a fixed sequence of calls against real-behaving periph
// fakes through a Recorder and returns the recording.
func record(t *testing.T) []byte {
	t.Helper()
	clk := NewSimClock(t0, 0)
	var buf bytes.Buffer
	rec, err := NewRecorder(&buf, Header{Start: t0, Note: "test"}, clk)
	if err != nil {
		t.Fatal(err)
	}
	i2c := rec.I2C("I2C1", &i2ctest.Playback{Ops: []i2ctest.IO{
		{Addr: 0x76, W: []byte{0xd0}, R: []byte{0x60}},
		{Addr: 0x76, W: []byte{0xe0, 0xb6}},
	}})
	ow := rec.OneWire("w1", owBus{0xc2031671_6b4aff28})
	pin := rec.Pin("GPIO17", &gpiotest.Pin{N: "GPIO17", L: gpio.High, EdgesChan: make(chan gpio.Level, 1)})
	stream := rec.Stream("/dev/serial0", &chunks{[]string{"$GPGGA,1", "23*00\r\n"}})

	r := make([]byte, 1)
	if err := i2c.Tx(0x76, []byte{0xd0}, r); err != nil || r[0] != 0x60 {
		t.Fatalf("Tx = %v %x", err, r)
	}
	clk.Sleep(t.Context(), 10*time.Millisecond)
	if err := i2c.Tx(0x76, []byte{0xe0, 0xb6}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := ow.Search(false); err != nil {
		t.Fatal(err)
	}
	if err := ow.Tx([]byte{0xcc, 0x44}, nil, onewire.StrongPullup); err != nil {
		t.Fatal(err)
	}
	pin.In(gpio.PullUp, gpio.BothEdges)
	pin.WaitForEdge(0)
	pin.Read()
	p := make([]byte, 64)
	for {
		_, err := stream.Read(p)
		if err != nil {
			break
		}
	}
	if err := rec.Flush(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// owBus is a 1-Wire bus with fixed devices that accepts every write.
type owBus []onewire.Address

func (b owBus) String() string                                   { return "w1" }
func (b owBus) Tx(w, r []byte, _ onewire.Pullup) error           { return nil }
func (b owBus) Search(alarmOnly bool) ([]onewire.Address, error) { return b, nil }

type chunks struct{ c []string }

func (c *chunks) Read(p []byte) (int, error) {
	if len(c.c) == 0 {
		return 0, sensor.ErrNoData
	}
	n := copy(p, c.c[0])
	c.c = c.c[1:]
	return n, nil
}

func TestRecording_RoundTrip(t *testing.T) {
	data := record(t)
	if got := strings.Count(string(data), "\n"); got != 11 {
		t.Errorf("recording has %d lines, want 11:\n%s", got, data)
	}
	for _, gz := range []bool{false, true} {
		in := data
		if gz {
			var b bytes.Buffer
			w := gzip.NewWriter(&b)
			w.Write(data)
			w.Close()
			in = b.Bytes()
		}
		rec, err := Load(bytes.NewReader(in))
		if err != nil {
			t.Fatalf("gzip %v: Load: %v", gz, err)
		}
		if !rec.Header.Start.Equal(t0) {
			t.Errorf("header %+v", rec.Header)
		}
		i2c := rec.I2C("I2C1")
		r := make([]byte, 1)
		if err := i2c.Tx(0x76, []byte{0xd0}, r); err != nil || r[0] != 0x60 {
			t.Fatalf("played Tx = %v %x", err, r)
		}
		if err := i2c.Tx(0x76, []byte{0xe0, 0xb6}, nil); err != nil {
			t.Fatal(err)
		}
		addrs, err := rec.OneWire("w1").Search(false)
		if err != nil || len(addrs) != 1 || addrs[0] != 0xc2031671_6b4aff28 {
			t.Fatalf("Search = %x, %v", addrs, err)
		}
		if err := rec.OneWire("w1").Tx([]byte{0xcc, 0x44}, nil, onewire.StrongPullup); err != nil {
			t.Fatal(err)
		}
		pin := rec.Pin("GPIO17")
		if err := pin.In(gpio.PullUp, gpio.BothEdges); err != nil {
			t.Fatal(err)
		}
		if pin.WaitForEdge(0) || pin.Read() != gpio.High {
			t.Error("pin playback differs")
		}
		s := rec.Stream("/dev/serial0")
		var got []byte
		p := make([]byte, 4)
		for {
			n, err := s.Read(p)
			got = append(got, p[:n]...)
			if errors.Is(err, sensor.ErrNoData) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		if string(got) != "$GPGGA,123*00\r\n" {
			t.Errorf("stream = %q", got)
		}
		if err := rec.Err(); err != nil {
			t.Error(err)
		}
		if left := rec.Remaining(); len(left) != 0 {
			t.Errorf("remaining = %v", left)
		}
	}
}

func TestRecording_Mismatch(t *testing.T) {
	rec, err := Load(bytes.NewReader(record(t)))
	if err != nil {
		t.Fatal(err)
	}
	err = rec.I2C("I2C1").Tx(0x77, []byte{0xd0}, make([]byte, 1))
	var me *MismatchError
	if !errors.As(err, &me) || me.Line != 2 || me.Bus != "I2C1" || !errors.Is(rec.Err(), ErrMismatch) {
		t.Fatalf("err = %v", err)
	}
	if !strings.Contains(err.Error(), "line 2") || !strings.Contains(err.Error(), "tx addr 0x77") {
		t.Errorf("message %q does not name the line and the call", err)
	}
	// Once diverged, every later call fails with the first mismatch.
	if err2 := rec.I2C("I2C1").Tx(0x76, []byte{0xd0}, make([]byte, 1)); err2 != err {
		t.Errorf("after a mismatch: %v, want the first mismatch", err2)
	}
	rec, _ = Load(bytes.NewReader(record(t)))
	err = rec.I2C("I2C9").Tx(1, nil, nil)
	if !errors.As(err, &me) || me.Line != 0 {
		t.Errorf("unknown bus: %v", err)
	}
}

func TestLoad_Errors(t *testing.T) {
	h := `{"waybill_recording":1,"start":"2026-11-27T06:30:00Z"}` + "\n"
	for _, tc := range []struct{ in, want string }{
		{"", "empty"},
		{"  \n\n", "empty"},
		{`{"waybill_recording":2,"start":"2026-11-27T06:30:00Z"}`, "format 2"},
		{`{"waybill_recording":1,"start":"yesterday"}`, "line 1"},
		{h + `{"t":0,"bus":"I2C1","op":"tx","w":"zz"}`, "line 2"},
		{h + `{"t":0,"bus":"I2C1","op":"tx","w":"AB"}`, "not lowercase"},
		{h + `{"t":0,"bus":"I2C1","op":"jump"}`, `unknown op "jump"`},
		{h + `{"t":0,"op":"tx"}`, `"bus" is missing`},
		{h + "\n" + `{"t":-1,"bus":"b","op":"tx"}`, "line 3: t -1"},
		{h + `{"t":0,"bus":"b","op":"tx","extra":1}`, "unknown field"},
		{h + `{"t":0,"bus":"b","op":"read"}`, "needs"},
		{h + `{"t":0,"bus":"b","op":"read","level":"mid"}`, `level "mid"`},
		{h + `{"t":0,"bus":"b","op":"tx"} {"t":1}`, "trailing"},
		{h + `{"t":0,"bus":"b","op":"wait"}`, `needs "edge"`},
		{h + `{"t":0,"bus":"b","op":"read","data":{"hex":"0g"}}`, "hex"},
		{"\x1f\x8b\x08garbage", "gzip"},
	} {
		err := Check(strings.NewReader(tc.in))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Load(%.40q) = %v, want an error containing %q", tc.in, err, tc.want)
		}
	}
}

func TestLoad_RawNMEA(t *testing.T) {
	raw := "# a gpsd log comment\n" +
		"$GPGGA,100000.00,5050.8,N,00421.2,E,1,08,0.9,60,M,,M,,*4F\r\n" +
		"$GPRMC,100000.00,A,5050.8,N,00421.2,E,0.0,,271126,,,A*40\r\n" +
		"$GPGGA,100001.00,5050.8,N,00421.2,E,1,08,0.9,60,M,,M,,*4E\r\n" +
		"$GPGSV,1,1,00*79\r\n"
	rec, err := Load(strings.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if !rec.Raw || !rec.Until().Equal(rec.Header.Start.Add(time.Second)) {
		t.Fatalf("raw %v until %v", rec.Raw, rec.Until())
	}
	s := rec.Stream(RawStream)
	var reads []string
	p := make([]byte, 4096)
	for {
		n, err := s.Read(p)
		if n > 0 {
			reads = append(reads, string(p[:n]))
		}
		if err == io.EOF {
			break
		}
	}
	if len(reads) != 2 || !strings.HasPrefix(reads[0], "# a gpsd") || !strings.HasPrefix(reads[1], "$GPGGA,100001") {
		t.Errorf("epochs = %q", reads)
	}
}

func FuzzLoad(f *testing.F) {
	f.Add([]byte(`{"waybill_recording":1,"start":"2026-11-27T06:30:00Z"}` + "\n" + `{"t":0,"bus":"I2C1","op":"tx","addr":118,"w":"d0","r":"60"}`))
	f.Add([]byte("$GPGGA,100000.00,5050.8,N,00421.2,E,1,08,0.9,60,M,,M,,*4F\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		rec, err := Load(bytes.NewReader(b))
		if err != nil {
			return
		}
		for _, name := range rec.Buses() {
			rec.I2C(name).Tx(0x76, []byte{0xd0}, make([]byte, 1))
			rec.Pin(name).Read()
			rec.Stream(name).Read(make([]byte, 16))
			rec.OneWire(name).Search(false)
		}
	})
}
