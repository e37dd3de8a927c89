package mfrc522

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/waybill-eu/waybill/drivers/sensor"
	"github.com/waybill-eu/waybill/drivers/sensor/sensortest"
	"periph.io/x/conn/v3/conntest"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"
	"periph.io/x/conn/v3/spi"
	"periph.io/x/conn/v3/spi/spitest"
)

// Transactions are written from the register map (datasheet §9.2) and the
// SPI byte order (§8.1.2): a write is the address byte reg<<1 and data; a
// read is the address byte 80h|reg<<1 and 00h, answered in the second byte.

func wr(reg byte, vals ...byte) conntest.IO {
	w := append([]byte{reg << 1}, vals...)
	return conntest.IO{W: w, R: make([]byte, len(w))}
}

func rd(reg, val byte) conntest.IO {
	return conntest.IO{W: []byte{0x80 | reg<<1, 0x00}, R: []byte{0x00, val}}
}

// rdN reads several registers in one transaction (§8.1.2.1, Table 6).
func rdN(regs, vals []byte) conntest.IO {
	io := conntest.IO{W: make([]byte, len(regs)+1), R: make([]byte, len(regs)+1)}
	for i, reg := range regs {
		io.W[i] = 0x80 | reg<<1
		io.R[i+1] = vals[i]
	}
	return io
}

// setupOps is SoftReset (CommandReg 01h = 0Fh), CommandReg reading 20h
// (PowerDown clear), the timer (TModeReg 2Ah = 80h, TPrescalerReg 2Bh =
// A9h, TReloadReg 2Ch/2Dh = 03E8h), TxASKReg 15h = 40h, ModeReg 11h = 3Dh
// and the antenna (TxControlReg 14h: 80h → 83h).
func setupOps() []conntest.IO {
	return []conntest.IO{
		wr(0x01, 0x0F),
		rd(0x01, 0x20),
		wr(0x2A, 0x80), wr(0x2B, 0xA9), wr(0x2C, 0x03), wr(0x2D, 0xE8),
		wr(0x15, 0x40),
		wr(0x11, 0x3D),
		rd(0x14, 0x80), wr(0x14, 0x83),
	}
}

// newOps reads VersionReg (37h) and sets the chip up.
func newOps(version byte) []conntest.IO {
	return append([]conntest.IO{rd(0x37, version)}, setupOps()...)
}

// sendOps starts a Transceive of data: Idle, clear ComIrqReg (04h = 7Fh),
// flush the FIFO (0Ah = 80h), fill it (09h), BitFramingReg (0Dh) with
// TxLastBits, Transceive (01h = 0Ch), StartSend.
func sendOps(data []byte, txLast byte) []conntest.IO {
	return []conntest.IO{
		wr(0x01, 0x00), wr(0x04, 0x7F), wr(0x0A, 0x80), wr(0x09, data...),
		wr(0x0D, txLast), wr(0x01, 0x0C), wr(0x0D, 0x80|txLast),
	}
}

// answerOps is a Transceive whose ComIrqReg shows TxIRq|RxIRq (60h), with
// ErrorReg 00h, FIFOLevelReg len(resp), ControlReg RxLastBits = rxLast, and
// the FIFO read out.
func answerOps(data []byte, txLast byte, resp []byte, rxLast byte) []conntest.IO {
	ops := append(sendOps(data, txLast), rd(0x04, 0x60),
		rdN([]byte{0x06, 0x0A, 0x0C}, []byte{0x00, byte(len(resp)), 0x10 | rxLast}))
	fifo := make([]byte, len(resp))
	for i := range fifo {
		fifo[i] = 0x09
	}
	return append(ops, rdN(fifo, resp))
}

// silentOps is a Transceive that no tag answers: TimerIRq (ComIrqReg 41h).
func silentOps(data []byte, txLast byte) []conntest.IO {
	return append(sendOps(data, txLast), rd(0x04, 0x41))
}

func withCRC(b ...byte) []byte {
	c := crcA(b)
	return append(b, c[0], c[1])
}

func bcc(b ...byte) byte { return b[0] ^ b[1] ^ b[2] ^ b[3] }

// selectOps is one cascade level: ANTICOLLISION (SEL, 20h) answered by UID
// CLn and BCC, SELECT (SEL, 70h, UID CLn, BCC, CRC_A) answered by SAK and
// CRC_A.
func selectOps(sel byte, cl [4]byte, sak byte) []conntest.IO {
	resp := append(cl[:], bcc(cl[:]...))
	ops := answerOps([]byte{sel, 0x20}, 0, resp, 0)
	return append(ops, answerOps(withCRC(append([]byte{sel, 0x70}, resp...)...), 0, withCRC(sak), 0)...)
}

// REQA is the 7-bit short frame 26h; ATQA 04h 00h is a single-size UID,
// 44h 00h a double-size one (ISO/IEC 14443-3). HLTA is 50h 00h 57h CDh.
var (
	reqa   = []byte{0x26}
	atqa4  = []byte{0x04, 0x00}
	atqa7  = []byte{0x44, 0x00}
	hltaOp = []byte{0x50, 0x00, 0x57, 0xCD}
)

func readOps4(uid [4]byte) []conntest.IO {
	ops := answerOps(reqa, 7, atqa4, 0)
	ops = append(ops, selectOps(0x93, uid, 0x08)...)
	return append(ops, silentOps(hltaOp, 0)...)
}

func readOps7(uid [7]byte) []conntest.IO {
	ops := answerOps(reqa, 7, atqa7, 0)
	ops = append(ops, selectOps(0x93, [4]byte{0x88, uid[0], uid[1], uid[2]}, 0x04)...)
	ops = append(ops, selectOps(0x95, [4]byte{uid[3], uid[4], uid[5], uid[6]}, 0x00)...)
	return append(ops, silentOps(hltaOp, 0)...)
}

// newClock returns a simulated clock: Sleep advances it at once.
func newClock() *sensortest.Clock {
	return sensortest.NewClock(time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC))
}

type playback struct {
	p *spitest.Playback
	c spi.Conn
}

func newPlayback(t *testing.T, ops []conntest.IO) playback {
	t.Helper()
	p := &spitest.Playback{Playback: conntest.Playback{Ops: ops}}
	c, err := p.Connect(0, spi.Mode0, 8)
	if err != nil {
		t.Fatal(err)
	}
	return playback{p, c}
}

func (pb playback) close(t *testing.T) {
	t.Helper()
	if err := pb.p.Close(); err != nil {
		t.Fatal(err)
	}
}

func newDev(t *testing.T, ops []conntest.IO, opts *Options) (*Dev, playback) {
	t.Helper()
	pb := newPlayback(t, append(newOps(0x92), ops...))
	if opts == nil {
		opts = &Options{}
	}
	if opts.Clock == nil {
		opts.Clock = newClock()
	}
	d, err := New(context.Background(), pb.c, opts)
	if err != nil {
		t.Fatal(err)
	}
	return d, pb
}

func TestDev_New(t *testing.T) {
	for _, tc := range []struct {
		version byte
		clone   bool
	}{{0x91, false}, {0x92, false}, {0x88, true}, {0x12, true}} {
		pb := newPlayback(t, newOps(tc.version))
		clk := newClock()
		start := clk.Now()
		d, err := New(context.Background(), pb.c, &Options{Clock: clk, BusName: "SPI0.0"})
		if err != nil {
			t.Fatalf("VersionReg %#02x: %v", tc.version, err)
		}
		pb.close(t)
		if d.Version() != tc.version || d.Clone() != tc.clone {
			t.Errorf("VersionReg %#02x: Version() = %#02x, Clone() = %v", tc.version, d.Version(), d.Clone())
		}
		if got := d.String(); got != "mfrc522 on SPI0.0" {
			t.Errorf("String() = %q", got)
		}
		if got := clk.Now().Sub(start); got != fieldGuard {
			t.Errorf("New waited %v, want the %v field guard time", got, fieldGuard)
		}
	}
}

func TestDev_NewReset(t *testing.T) {
	pin := &gpiotest.Pin{N: "GPIO25", L: gpio.High}
	pb := newPlayback(t, newOps(0x92))
	clk := newClock()
	start := clk.Now()
	if _, err := New(context.Background(), pb.c, &Options{Clock: clk, Reset: pin}); err != nil {
		t.Fatal(err)
	}
	pb.close(t)
	if pin.L != gpio.High {
		t.Errorf("NRSTPD left %v, want High", pin.L)
	}
	if got, want := clk.Now().Sub(start), resetPulse+startUp+fieldGuard; got != want {
		t.Errorf("New waited %v, want %v", got, want)
	}
}

func TestDev_NewWrongVersion(t *testing.T) {
	for _, tc := range []struct {
		version byte
		want    error
	}{
		{0x00, sensor.ErrNoDevice}, // MISO pulled low: nothing there
		{0xFF, sensor.ErrNoDevice}, // MISO floating high
		{0x90, sensor.ErrWrongChip},
		{0xB2, sensor.ErrWrongChip},
	} {
		pb := newPlayback(t, []conntest.IO{rd(0x37, tc.version)})
		_, err := New(context.Background(), pb.c, &Options{Clock: newClock(), BusName: "SPI0.0"})
		var se *sensor.Error
		if !errors.Is(err, tc.want) || !errors.As(err, &se) || se.Step != "read VersionReg" || se.Bus != "SPI0.0" {
			t.Errorf("VersionReg %#02x: New() = %v, want %v", tc.version, err, tc.want)
		}
		if !strings.Contains(err.Error(), fmt.Sprintf("0x%02x", tc.version)) {
			t.Errorf("error %q does not name the value", err)
		}
		pb.close(t)
	}
}

func TestDev_NewBadOptions(t *testing.T) {
	pb := newPlayback(t, nil)
	if _, err := New(context.Background(), pb.c, &Options{Dedupe: -time.Second}); !errors.Is(err, sensor.ErrConfig) {
		t.Errorf("New(negative dedupe) = %v, want ErrConfig", err)
	}
	if _, err := New(context.Background(), nil, nil); !errors.Is(err, sensor.ErrConfig) {
		t.Errorf("New(nil conn) = %v, want ErrConfig", err)
	}
	pb.close(t)
}

func TestDev_NewResetTimeout(t *testing.T) {
	// CommandReg keeps reading 30h (PowerDown set) for 50 ms of polling.
	ops := []conntest.IO{rd(0x37, 0x92), wr(0x01, 0x0F)}
	for range int(resetBudget/pollEvery) + 1 {
		ops = append(ops, rd(0x01, 0x30))
	}
	pb := newPlayback(t, ops)
	_, err := New(context.Background(), pb.c, &Options{Clock: newClock()})
	if !errors.Is(err, sensor.ErrTimeout) {
		t.Errorf("New() = %v, want ErrTimeout", err)
	}
	pb.close(t)
}

func TestDev_Sense4ByteUID(t *testing.T) {
	uid := [4]byte{0xDE, 0xAD, 0xBE, 0xEF}
	d, pb := newDev(t, readOps4(uid), nil)
	vals, err := d.Sense(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(vals) != 1 || vals[0].(sensor.Tag).UIDHex() != "DEADBEEF" {
		t.Errorf("Sense() = %v, want tag DEADBEEF", vals)
	}
	pb.close(t)
}

func TestDev_Sense7ByteUID(t *testing.T) {
	uid := [7]byte{0x04, 0x6B, 0x2A, 0x9A, 0x71, 0x5C, 0x80}
	d, pb := newDev(t, readOps7(uid), nil)
	vals, err := d.Sense(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(vals) != 1 || vals[0].(sensor.Tag).UIDHex() != "046B2A9A715C80" {
		t.Errorf("Sense() = %v, want tag 046B2A9A715C80", vals)
	}
	pb.close(t)
}

func TestDev_Sense10ByteUID(t *testing.T) {
	ops := answerOps(reqa, 7, []byte{0x84, 0x00}, 0)
	ops = append(ops, selectOps(0x93, [4]byte{0x88, 0x01, 0x02, 0x03}, 0x04)...)
	ops = append(ops, selectOps(0x95, [4]byte{0x88, 0x04, 0x05, 0x06}, 0x04)...)
	ops = append(ops, selectOps(0x97, [4]byte{0x07, 0x08, 0x09, 0x0A}, 0x20)...)
	ops = append(ops, silentOps(hltaOp, 0)...)
	d, pb := newDev(t, ops, nil)
	vals, err := d.Sense(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(vals) != 1 || vals[0].(sensor.Tag).UIDHex() != "0102030405060708090A" {
		t.Errorf("Sense() = %v", vals)
	}
	pb.close(t)
}

func TestDev_SenseNoTag(t *testing.T) {
	d, pb := newDev(t, silentOps(reqa, 7), nil)
	if vals, err := d.Sense(context.Background()); vals != nil || err != nil {
		t.Errorf("Sense() = %v, %v; want nothing", vals, err)
	}
	pb.close(t)
}

func TestDev_SenseBadBCC(t *testing.T) {
	ops := answerOps(reqa, 7, atqa4, 0)
	ops = append(ops, answerOps([]byte{0x93, 0x20}, 0, []byte{0xDE, 0xAD, 0xBE, 0xEF, 0x00}, 0)...)
	d, pb := newDev(t, ops, nil)
	_, err := d.Sense(context.Background())
	var se *sensor.Error
	if !errors.Is(err, sensor.ErrCRC) || !errors.As(err, &se) || se.Step != "anticollision CL1" || !strings.Contains(err.Error(), "BCC") {
		t.Errorf("Sense() = %v, want a BCC ErrCRC", err)
	}
	pb.close(t)
}

func TestDev_SenseBadSAKCRC(t *testing.T) {
	uid := []byte{0xDE, 0xAD, 0xBE, 0xEF}
	resp := append(uid, bcc(uid...))
	ops := answerOps(reqa, 7, atqa4, 0)
	ops = append(ops, answerOps([]byte{0x93, 0x20}, 0, resp, 0)...)
	ops = append(ops, answerOps(withCRC(append([]byte{0x93, 0x70}, resp...)...), 0, []byte{0x08, 0xB6, 0xDE}, 0)...)
	d, pb := newDev(t, ops, nil)
	if _, err := d.Sense(context.Background()); !errors.Is(err, sensor.ErrCRC) {
		t.Errorf("Sense() = %v, want ErrCRC", err)
	}
	pb.close(t)
}

func TestDev_SenseChipErrors(t *testing.T) {
	for _, tc := range []struct {
		name    string
		errReg  byte
		extra   []conntest.IO
		want    error
		message string
	}{
		{"collision", 0x08, []conntest.IO{rd(0x0E, 0x05)}, ErrCollision, "at bit 5"},
		{"collision at bit 32", 0x08, []conntest.IO{rd(0x0E, 0x00)}, ErrCollision, "at bit 32"},
		{"collision, position unknown", 0x08, []conntest.IO{rd(0x0E, 0x20)}, ErrCollision, "at once"},
		{"protocol", 0x01, nil, ErrProtocol, "protocol"},
		{"parity", 0x02, nil, ErrParity, "parity"},
		{"CRC", 0x04, nil, sensor.ErrCRC, "CRCErr"},
		{"overflow", 0x10, nil, ErrOverflow, "overflow"},
		{"temperature", 0x40, nil, sensor.ErrBus, "TempErr"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ops := answerOps(reqa, 7, atqa4, 0)
			ops = append(ops, sendOps([]byte{0x93, 0x20}, 0)...)
			ops = append(ops, rd(0x04, 0x62), rdN([]byte{0x06, 0x0A, 0x0C}, []byte{tc.errReg, 5, 0}))
			ops = append(ops, tc.extra...)
			d, pb := newDev(t, ops, nil)
			_, err := d.Sense(context.Background())
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.message) {
				t.Errorf("ErrorReg %#02x: Sense() = %v, want %v (%q)", tc.errReg, err, tc.want, tc.message)
			}
			if !sensor.Retryable(err) {
				t.Errorf("%v is not retryable", err)
			}
			pb.close(t)
		})
	}
}

func TestDev_SenseProtocolViolations(t *testing.T) {
	uid := []byte{0x88, 0x01, 0x02, 0x03} // cascade tag, but SAK 08h says complete
	resp := append(uid, bcc(uid...))
	ops := answerOps(reqa, 7, atqa4, 0)
	ops = append(ops, answerOps([]byte{0x93, 0x20}, 0, resp, 0)...)
	ops = append(ops, answerOps(withCRC(append([]byte{0x93, 0x70}, resp...)...), 0, withCRC(0x08), 0)...)
	d, pb := newDev(t, ops, nil)
	if _, err := d.Sense(context.Background()); !errors.Is(err, ErrProtocol) {
		t.Errorf("Sense() = %v, want ErrProtocol", err)
	}
	pb.close(t)

	// An ATQA of one byte.
	d, pb = newDev(t, answerOps(reqa, 7, []byte{0x04}, 0), nil)
	if _, err := d.Sense(context.Background()); !errors.Is(err, ErrProtocol) {
		t.Errorf("Sense() = %v, want ErrProtocol", err)
	}
	pb.close(t)
}

func TestDev_SenseTagLeaves(t *testing.T) {
	// The tag answers REQA, then nothing: the timer expires on ANTICOLLISION.
	ops := answerOps(reqa, 7, atqa4, 0)
	ops = append(ops, silentOps([]byte{0x93, 0x20}, 0)...)
	d, pb := newDev(t, ops, nil)
	if _, err := d.Sense(context.Background()); !errors.Is(err, sensor.ErrTimeout) {
		t.Errorf("Sense() = %v, want ErrTimeout", err)
	}
	pb.close(t)
}

func TestDev_SenseTimeout(t *testing.T) {
	// ComIrqReg never shows RxIRq, ErrIRq or TimerIRq: after 50 ms of
	// polling the driver gives up, and the next Sense sets the chip up anew.
	ops := sendOps(reqa, 7)
	for range int(irqBudget/pollEvery) + 1 {
		ops = append(ops, rd(0x04, 0x40)) // TxIRq only
	}
	ops = append(ops, setupOps()...)
	ops = append(ops, silentOps(reqa, 7)...)
	d, pb := newDev(t, ops, nil)
	_, err := d.Sense(context.Background())
	var se *sensor.Error
	if !errors.Is(err, sensor.ErrTimeout) || !errors.As(err, &se) || se.Step != "REQA" {
		t.Fatalf("Sense() = %v, want ErrTimeout at REQA", err)
	}
	if vals, err := d.Sense(context.Background()); vals != nil || err != nil {
		t.Errorf("Sense() after a timeout = %v, %v", vals, err)
	}
	pb.close(t)
}

func TestDev_SenseBusError(t *testing.T) {
	// The fourth transfer of REQA (filling the FIFO) fails.
	ops := newOps(0x92)
	at := len(ops) + 3
	pb := newPlayback(t, append(ops, answerOps(reqa, 7, atqa4, 0)[:3]...))
	d, err := New(context.Background(), &failing{Conn: pb.c, at: at}, &Options{Clock: newClock(), BusName: "SPI0.0"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = d.Sense(context.Background())
	var se *sensor.Error
	if !errors.Is(err, sensor.ErrBus) || !errors.Is(err, syscall.EIO) || !errors.As(err, &se) || se.Step != "REQA" || !se.Retryable() {
		t.Errorf("Sense() = %v, want a retryable ErrBus at REQA", err)
	}
	pb.close(t)
}

// failing fails transfer number at (0-based) with EIO.
type failing struct {
	spi.Conn
	at, n int
}

func (f *failing) Tx(w, r []byte) error {
	defer func() { f.n++ }()
	if f.n == f.at {
		return syscall.EIO
	}
	return f.Conn.Tx(w, r)
}

func TestDev_Dedupe(t *testing.T) {
	uid := [4]byte{0x12, 0x34, 0x56, 0x78}
	clk := newClock()
	// Seen at 0 s (new), 20 s (within 30 s: not new, window restarts), 45 s
	// (25 s after the last sighting: not new), 80 s (35 s later: new).
	var ops []conntest.IO
	for range 4 {
		ops = append(ops, readOps4(uid)...)
	}
	start := clk.Now()
	d, pb := newDev(t, ops, &Options{Clock: clk})
	for _, tc := range []struct {
		at  time.Duration
		new bool
	}{{0, true}, {20 * time.Second, false}, {45 * time.Second, false}, {80 * time.Second, true}} {
		clk.Set(start.Add(tc.at))
		vals, err := d.Sense(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if got := len(vals) == 1; got != tc.new {
			t.Errorf("at %v: Sense() = %v, new = %v, want %v", tc.at, vals, got, tc.new)
		}
	}
	pb.close(t)
}

func TestDev_DedupeOption(t *testing.T) {
	uid := [4]byte{0x12, 0x34, 0x56, 0x78}
	clk := newClock()
	d, pb := newDev(t, append(readOps4(uid), readOps4(uid)...), &Options{Clock: clk, Dedupe: time.Second})
	for i := range 2 {
		vals, err := d.Sense(context.Background())
		if err != nil || len(vals) != 1 {
			t.Errorf("read %d: Sense() = %v, %v; want a tag", i, vals, err)
		}
		clk.Advance(time.Second)
	}
	pb.close(t)
}

func TestDev_HaltWake(t *testing.T) {
	ops := []conntest.IO{
		rd(0x14, 0x83), wr(0x14, 0x80), // antenna off
		wr(0x01, 0x10), // PowerDown
		wr(0x01, 0x00), // wake up
		rd(0x01, 0x30), // still waking
		rd(0x01, 0x20), // awake
	}
	ops = append(ops, setupOps()...)
	ops = append(ops, silentOps(reqa, 7)...)
	d, pb := newDev(t, ops, nil)
	if err := d.Halt(); err != nil {
		t.Fatal(err)
	}
	if vals, err := d.Sense(context.Background()); vals != nil || err != nil {
		t.Errorf("Sense() after Halt = %v, %v", vals, err)
	}
	pb.close(t)
}

func TestCRCA(t *testing.T) {
	for _, tc := range []struct {
		in   []byte
		want [2]byte
	}{
		{[]byte{0x00, 0x00}, [2]byte{0xA0, 0x1E}}, // ISO/IEC 14443-3 Annex B
		{[]byte{0x12, 0x34}, [2]byte{0x26, 0xCF}}, // ISO/IEC 14443-3 Annex B
		{[]byte{0x50, 0x00}, [2]byte{0x57, 0xCD}}, // HLTA
		{[]byte{0x08}, [2]byte{0xB6, 0xDD}},       // SAK of a MIFARE Classic 1K
		{nil, [2]byte{0x63, 0x63}},                // the preset
	} {
		if got := crcA(tc.in); got != tc.want {
			t.Errorf("crcA(% X) = % X, want % X", tc.in, got, tc.want)
		}
		if !checkCRCA(append(tc.in, tc.want[0], tc.want[1])) {
			t.Errorf("checkCRCA rejects % X + % X", tc.in, tc.want)
		}
	}
	if checkCRCA([]byte{0x08}) || checkCRCA([]byte{0x08, 0xB6, 0xDC}) {
		t.Error("checkCRCA accepts a short or wrong frame")
	}
}

func TestUIDPart(t *testing.T) {
	for _, tc := range []struct {
		cl    [4]byte
		sak   byte
		level int
		part  string
		more  bool
		err   bool
	}{
		{[4]byte{1, 2, 3, 4}, 0x08, 0, "01020304", false, false},
		{[4]byte{0x88, 2, 3, 4}, 0x04, 0, "020304", true, false},
		{[4]byte{0x88, 2, 3, 4}, 0x24, 1, "020304", true, false},
		{[4]byte{5, 6, 7, 8}, 0x00, 2, "05060708", false, false},
		{[4]byte{0x88, 2, 3, 4}, 0x08, 0, "", false, true}, // CT but complete
		{[4]byte{1, 2, 3, 4}, 0x04, 0, "", false, true},    // no CT but incomplete
		{[4]byte{0x88, 2, 3, 4}, 0x04, 2, "", false, true}, // a fourth level
	} {
		part, more, err := uidPart(tc.cl, tc.sak, tc.level)
		if (err != nil) != tc.err || more != tc.more || fmt.Sprintf("%X", part) != tc.part {
			t.Errorf("uidPart(% X, %02X, %d) = %X, %v, %v", tc.cl, tc.sak, tc.level, part, more, err)
		}
	}
}
