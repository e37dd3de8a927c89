// Package mfrc522 reads the UIDs of ISO/IEC 14443 Type A tags (MIFARE,
// NTAG) through an NXP MFRC522 reader over SPI, and reports each tag once
// per presentation.
//
// References: the MFRC522 product data sheet, Rev. 3.9 (27 April 2016),
// "datasheet §x"; ISO/IEC 14443-3 (Type A initialization and anticollision),
// "ISO/IEC 14443-3".
//
// # Bus access
//
// Every register access is one SPI transaction (datasheet §8.1.2). The
// address byte (§8.1.2.3, Table 8) is 1 for read or 0 for write in bit 7, the
// register in bits 6..1 and 0 in bit 0. A read sends one address byte per
// register and a final 00h; byte i+1 of MISO holds the register addressed by
// byte i of MOSI (§8.1.2.1, Table 6). A write sends the address byte followed
// by data bytes, all for that register (§8.1.2.2, Table 7), which is how the
// FIFO is filled.
//
// # Setup
//
// [New] optionally pulses NRSTPD low (a hard reset), reads VersionReg (37h,
// §9.3.4.8), sends SoftReset (§10.3.1.10) and waits until CommandReg's
// PowerDown bit reads 0 (§9.3.1.2), then configures:
//
//   - TModeReg = 80h, TPrescalerReg = A9h (§9.3.3.10): the timer starts at the
//     end of each transmission (TAuto) and ticks at
//     13.56 MHz / (2 × 169 + 1) = 40 kHz, that is every 25 µs (§8.5);
//   - TReloadReg = 03E8h (§9.3.3.11): 1000 ticks, so a tag that has not
//     answered 25 ms after the reader's frame is taken as absent;
//   - TxASKReg = 40h (§9.3.2.6): Force100ASK, the 100 % ASK modulation Type A
//     requires (ISO/IEC 14443-2);
//   - ModeReg = 3Dh (§9.3.2.2): CRC coprocessor preset 6363h, the CRC_A
//     initial value;
//   - TxControlReg bits Tx1RFEn and Tx2RFEn (§9.3.2.5): the antenna on. The
//     driver then waits 5 ms, the time ISO/IEC 14443-3 gives a tag to be ready
//     once in the field.
//
// # Reading a tag
//
// [Dev.Sense] runs the Type A select sequence of ISO/IEC 14443-3 with the
// Transceive command (§10.3.1.8): it loads the FIFO, sets BitFramingReg's
// TxLastBits and StartSend (§9.3.1.14) and polls ComIrqReg (§9.3.1.5) for
// RxIRq or TimerIRq:
//
//  1. REQA, the 7-bit short frame 26h. No answer before the timer expires
//     means no tag (or only halted ones): no value, no error.
//  2. Per cascade level (SEL = 93h, 95h, 97h): ANTICOLLISION (SEL, NVB = 20h)
//     returns four UID bytes and BCC, their XOR; then SELECT (SEL, NVB = 70h,
//     the same five bytes, CRC_A) returns SAK and CRC_A. A first byte of 88h
//     is the cascade tag, and SAK bit 3 (04h) says the UID continues at the
//     next level: 4-, 7- and 10-byte UIDs take one, two and three levels.
//  3. HLTA (50h 00h, CRC_A), to which a tag does not answer: it stays quiet
//     until it leaves the field, so a tag left on the reader is read once.
//
// CRC_A is computed in Go (see crcA, ISO/IEC 14443-3 Annex B). ErrorReg bits
// (§9.3.1.7) become errors: CollErr [ErrCollision] (two tags answered; the
// driver does not resolve collisions), ProtocolErr [ErrProtocol], ParityErr
// [ErrParity], BufferOvfl [ErrOverflow], CRCErr sensor.ErrCRC. A BCC or
// CRC_A mismatch is sensor.ErrCRC; a chip that raises no interrupt in 50 ms
// is sensor.ErrTimeout, after which the next Sense resets and reconfigures
// the chip.
//
// # Duplicate scans
//
// A UID seen again within Options.Dedupe (default 30 s) of the last time it
// was seen is not reported; each sighting restarts the window.
package mfrc522

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/waybill-eu/waybill/drivers/sensor"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/physic"
	"periph.io/x/conn/v3/spi"
)

// Registers (datasheet §9.2, Table 20; each described in §9.3).
const (
	regCommand    = 0x01 // §9.3.1.2
	regComIrq     = 0x04 // §9.3.1.5
	regError      = 0x06 // §9.3.1.7
	regFIFOData   = 0x09 // §9.3.1.10
	regFIFOLevel  = 0x0A // §9.3.1.11
	regControl    = 0x0C // §9.3.1.13
	regBitFraming = 0x0D // §9.3.1.14
	regColl       = 0x0E // §9.3.1.15
	regMode       = 0x11 // §9.3.2.2
	regTxControl  = 0x14 // §9.3.2.5
	regTxASK      = 0x15 // §9.3.2.6
	regTMode      = 0x2A // §9.3.3.10
	regTPrescaler = 0x2B // §9.3.3.10
	regTReloadHi  = 0x2C // §9.3.3.11
	regTReloadLo  = 0x2D // §9.3.3.11
	regVersion    = 0x37 // §9.3.4.8
)

// Commands, CommandReg bits 3..0 (datasheet §10.3, Table 149), and bits.
const (
	cmdIdle       = 0x0
	cmdTransceive = 0xC
	cmdSoftReset  = 0xF

	commandPowerDown = 1 << 4 // CommandReg: soft power-down; reads 1 until awake

	irqTimer = 1 << 0 // ComIrqReg TimerIRq
	irqErr   = 1 << 1 // ComIrqReg ErrIRq
	irqIdle  = 1 << 4 // ComIrqReg IdleIRq
	irqRx    = 1 << 5 // ComIrqReg RxIRq
	irqClear = 0x7F   // ComIrqReg: Set1 = 0 clears the bits written as 1

	errProtocol = 1 << 0 // ErrorReg ProtocolErr
	errParity   = 1 << 1 // ErrorReg ParityErr
	errCRC      = 1 << 2 // ErrorReg CRCErr
	errColl     = 1 << 3 // ErrorReg CollErr
	errOverflow = 1 << 4 // ErrorReg BufferOvfl
	errTemp     = 1 << 6 // ErrorReg TempErr

	fifoFlush      = 1 << 7 // FIFOLevelReg FlushBuffer
	startSend      = 1 << 7 // BitFramingReg StartSend
	collPosInvalid = 1 << 5 // CollReg CollPosNotValid
	antennaOn      = 0x03   // TxControlReg Tx2RFEn | Tx1RFEn
)

// ISO/IEC 14443-3 Type A commands and values.
const (
	piccREQA    = 0x26 // REQA, a 7-bit short frame
	piccHLTA    = 0x50 // HLTA, followed by 00h and CRC_A
	nvbAnticoll = 0x20 // NVB: SEL and NVB only, no UID bits
	nvbSelect   = 0x70 // NVB: SEL, NVB and all 40 UID CLn and BCC bits
	cascadeTag  = 0x88 // CT, first byte of a UID CLn that continues
	sakCascade  = 0x04 // SAK bit 3: UID not complete
)

// selectCodes are SEL for cascade levels 1, 2 and 3.
var selectCodes = [3]byte{0x93, 0x95, 0x97}

// Timing.
const (
	// irqBudget is how long the driver polls ComIrqReg for a command to end;
	// the chip's own timer gives up after 25 ms.
	irqBudget = 50 * time.Millisecond
	pollEvery = time.Millisecond
	// resetBudget is how long the driver waits for PowerDown to read 0
	// after SoftReset or a wake-up.
	resetBudget = 50 * time.Millisecond
	// resetPulse is how long NRSTPD is held low; a reset needs more than
	// 100 ns.
	resetPulse = time.Millisecond
	// startUp is the wait after NRSTPD goes high, for the crystal
	// oscillator to start.
	startUp = 50 * time.Millisecond
	// fieldGuard is the time a tag needs once in the unmodulated field
	// before it can be addressed (ISO/IEC 14443-3, 5 ms).
	fieldGuard = 5 * time.Millisecond
)

// Errors from ErrorReg (datasheet §9.3.1.7), wrapped in a *sensor.Error.
// Each also wraps the sensor sentinel named in its doc, for errors.Is.
var (
	// ErrCollision is returned when two or more tags answered at once
	// (CollErr); the driver does not run the bit-wise anticollision that
	// would tell them apart. It wraps sensor.ErrBus.
	ErrCollision = fmt.Errorf("%w: more than one tag answered at once", sensor.ErrBus)
	// ErrProtocol is returned for a frame that broke ISO/IEC 14443-3 framing
	// (ProtocolErr). It wraps sensor.ErrBus.
	ErrProtocol = fmt.Errorf("%w: protocol error in the received frame", sensor.ErrBus)
	// ErrParity is returned when a received byte failed its parity check
	// (ParityErr). It wraps sensor.ErrCRC.
	ErrParity = fmt.Errorf("%w: parity error in the received frame", sensor.ErrCRC)
	// ErrOverflow is returned when the chip's 64-byte FIFO overflowed
	// (BufferOvfl). It wraps sensor.ErrBus.
	ErrOverflow = fmt.Errorf("%w: FIFO buffer overflow", sensor.ErrBus)
)

// errNoAnswer means the chip's timer expired before any frame arrived.
var errNoAnswer = errors.New("no answer")

// The SPI connection the chip takes (§8.1.2): data stable on the rising
// clock edge with the clock idle low (mode 0), 8-bit words, most
// significant bit first, at most 10 Mbit/s. The conn New is given should
// be opened so.
const (
	SPIMode  = spi.Mode0
	SPIBits  = 8
	SPIMaxHz = 10 * physic.MegaHertz
)

// DefaultDedupe is Options.Dedupe when it is 0: a parcel scanned twice at
// one drop is one delivery.
const DefaultDedupe = 30 * time.Second

// Options configures a [Dev]. The zero value is valid.
type Options struct {
	// Clock is the time source for waits and duplicate suppression; nil
	// means sensor.SystemClock.
	Clock sensor.Clock
	// Dedupe is how long after the last sighting the same UID is not a new
	// scan. 0 means DefaultDedupe; negative is invalid.
	Dedupe time.Duration
	// Reset is the pin wired to NRSTPD, or nil. When set, New holds it low
	// for 1 ms and leaves it high (datasheet §8.6.1: NRSTPD low is hard
	// power-down; §7.1, Table 3: a positive edge on it resets the chip;
	// §8.8: reset timing and oscillator start-up).
	Reset gpio.PinOut
	// Name names the device in String and errors; "" means "mfrc522".
	Name string
	// BusName names the bus in String and errors (e.g. "SPI0.0"); "" means
	// the connection's own String.
	BusName string
}

// Dev is a configured MFRC522 with its antenna on. It implements
// sensor.Sensor.
type Dev struct {
	// Constant after New.
	conn    spi.Conn
	clock   sensor.Clock
	dedupe  time.Duration
	name    string
	where   string
	version byte

	mu        sync.Mutex // guards the following and serializes bus access
	seen      map[string]time.Time
	halted    bool // Halt put the chip in soft power-down
	needSetup bool // a timeout left the chip in an unknown state
}

// New resets and identifies the MFRC522 on conn and switches its antenna
// on, as the package documentation describes. Failures are *sensor.Error:
// sensor.ErrConfig for bad options, sensor.ErrNoDevice when VersionReg reads
// 00h or FFh (nothing drives MISO), sensor.ErrWrongChip for another value
// that is not a known MFRC522 version, sensor.ErrTimeout when the chip does
// not come out of reset, sensor.ErrBus when a transfer fails.
func New(ctx context.Context, conn spi.Conn, opts *Options) (*Dev, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	d := &Dev{conn: conn, clock: sensor.ClockOr(o.Clock), dedupe: o.Dedupe, name: o.Name, seen: map[string]time.Time{}}
	if d.name == "" {
		d.name = "mfrc522"
	}
	d.where = o.BusName
	if d.where == "" && conn != nil {
		d.where = conn.String()
	}
	if d.dedupe == 0 {
		d.dedupe = DefaultDedupe
	}
	switch {
	case conn == nil:
		return nil, d.fail("check options", fmt.Errorf("%w: no SPI connection", sensor.ErrConfig))
	case d.dedupe < 0:
		return nil, d.fail("check options", fmt.Errorf("%w: negative dedupe %v", sensor.ErrConfig, d.dedupe))
	}

	if o.Reset != nil {
		if err := d.hardReset(ctx, o.Reset); err != nil {
			return nil, err
		}
	}
	v, err := d.readReg("read VersionReg", regVersion)
	if err != nil {
		return nil, err
	}
	if err := checkVersion(v); err != nil {
		return nil, d.fail("read VersionReg", err)
	}
	d.version = v
	if err := d.setup(ctx); err != nil {
		return nil, err
	}
	return d, nil
}

// checkVersion accepts VersionReg values of the MFRC522 (§9.3.4.8: 91h
// version 1.0, 92h version 2.0) and of common clones (88h, 12h).
func checkVersion(v byte) error {
	switch v {
	case 0x91, 0x92, 0x88, 0x12:
		return nil
	case 0x00, 0xFF:
		return fmt.Errorf("%w: VersionReg reads 0x%02x (MISO not driven: check wiring and chip select)", sensor.ErrNoDevice, v)
	}
	return fmt.Errorf("%w: VersionReg is 0x%02x, want 0x91 or 0x92", sensor.ErrWrongChip, v)
}

// Version returns VersionReg as read by New.
func (d *Dev) Version() byte { return d.version }

// Clone reports whether VersionReg held a value that MFRC522 clones report
// (88h, 12h) rather than NXP's 91h or 92h. Clones mostly work; the daemon
// may log it as a warning when a reader misbehaves.
func (d *Dev) Clone() bool { return d.version != 0x91 && d.version != 0x92 }

// String implements sensor.Sensor, e.g. "mfrc522 on SPI0.0".
func (d *Dev) String() string { return d.name + " on " + d.where }

func (d *Dev) hardReset(ctx context.Context, pin gpio.PinOut) error {
	if err := pin.Out(gpio.Low); err != nil {
		return d.fail("reset (NRSTPD low)", fmt.Errorf("%w: %w", sensor.ErrBus, err))
	}
	if err := d.clock.Sleep(ctx, resetPulse); err != nil {
		return d.fail("reset (NRSTPD low)", err)
	}
	if err := pin.Out(gpio.High); err != nil {
		return d.fail("reset (NRSTPD high)", fmt.Errorf("%w: %w", sensor.ErrBus, err))
	}
	if err := d.clock.Sleep(ctx, startUp); err != nil {
		return d.fail("reset (NRSTPD high)", err)
	}
	return nil
}

// setup soft-resets and configures the chip, and switches the antenna on.
func (d *Dev) setup(ctx context.Context) error {
	if err := d.writeReg("soft reset", regCommand, cmdSoftReset); err != nil {
		return err
	}
	if err := d.waitAwake(ctx, "soft reset"); err != nil {
		return err
	}
	for _, w := range [...]struct{ reg, val byte }{
		{regTMode, 0x80},      // TAuto; TPrescaler bits 11..8 = 0
		{regTPrescaler, 0xA9}, // TPrescaler = 169: 40 kHz
		{regTReloadHi, 0x03},  // TReload = 1000: 25 ms
		{regTReloadLo, 0xE8},
		{regTxASK, 0x40}, // Force100ASK
		{regMode, 0x3D},  // TxWaitRF, PolMFin, CRCPreset 01b (6363h)
	} {
		if err := d.writeReg("configure", w.reg, w.val); err != nil {
			return err
		}
	}
	tx, err := d.readReg("antenna on", regTxControl)
	if err != nil {
		return err
	}
	if err := d.writeReg("antenna on", regTxControl, tx|antennaOn); err != nil {
		return err
	}
	if err := d.clock.Sleep(ctx, fieldGuard); err != nil {
		return d.fail("antenna on", err)
	}
	return nil
}

// waitAwake polls CommandReg until PowerDown reads 0 (§9.3.1.2).
func (d *Dev) waitAwake(ctx context.Context, step string) error {
	deadline := d.clock.Now().Add(resetBudget)
	for {
		v, err := d.readReg(step, regCommand)
		if err != nil {
			return err
		}
		if v&commandPowerDown == 0 {
			return nil
		}
		if !d.clock.Now().Before(deadline) {
			return d.fail(step, fmt.Errorf("%w: CommandReg PowerDown still set after %v", sensor.ErrTimeout, resetBudget))
		}
		if err := d.clock.Sleep(ctx, pollEvery); err != nil {
			return d.fail(step, err)
		}
	}
}

// Sense implements sensor.Sensor. It reads at most one tag and returns a
// sensor.Tag when its UID was not seen within the dedupe window; no tag,
// a halted tag or a repeated UID give no value and no error.
func (d *Dev) Sense(ctx context.Context) ([]sensor.Value, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return nil, d.fail("REQA", err)
	}
	if d.halted {
		if err := d.writeReg("wake up", regCommand, cmdIdle); err != nil {
			return nil, err
		}
		if err := d.waitAwake(ctx, "wake up"); err != nil {
			return nil, err
		}
		d.halted, d.needSetup = false, true
	}
	if d.needSetup {
		if err := d.setup(ctx); err != nil {
			return nil, err
		}
		d.needSetup = false
	}
	uid, err := d.scan(ctx)
	if err != nil {
		return nil, err
	}
	now := d.clock.Now()
	for k, t := range d.seen {
		if now.Sub(t) >= d.dedupe {
			delete(d.seen, k)
		}
	}
	if uid == nil {
		return nil, nil
	}
	k := string(uid)
	_, dup := d.seen[k]
	d.seen[k] = now
	if dup {
		return nil, nil
	}
	return []sensor.Value{sensor.Tag{UID: uid}}, nil
}

// scan runs REQA, the select sequence and HLTA; it returns nil and no error
// when no tag answers REQA.
func (d *Dev) scan(ctx context.Context) ([]byte, error) {
	atqa, last, err := d.transceive(ctx, "REQA", []byte{piccREQA}, 7)
	if errors.Is(err, errNoAnswer) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if len(atqa) != 2 || last != 0 {
		return nil, d.fail("REQA", fmt.Errorf("%w: ATQA of %d bytes (%d bits in the last), want 2", ErrProtocol, len(atqa), last))
	}
	var uid []byte
	for level, sel := range selectCodes {
		step := fmt.Sprintf("anticollision CL%d", level+1)
		resp, last, err := d.transceive(ctx, step, []byte{sel, nvbAnticoll}, 0)
		if err != nil {
			return nil, d.noAnswer(step, err)
		}
		if last != 0 {
			return nil, d.fail(step, fmt.Errorf("%w: %d bits in the last byte", ErrProtocol, last))
		}
		cl, err := parseUIDCL(resp)
		if err != nil {
			return nil, d.fail(step, err)
		}

		step = fmt.Sprintf("select CL%d", level+1)
		frame := append([]byte{sel, nvbSelect}, resp...)
		crc := crcA(frame)
		frame = append(frame, crc[0], crc[1])
		resp, last, err = d.transceive(ctx, step, frame, 0)
		if err != nil {
			return nil, d.noAnswer(step, err)
		}
		if len(resp) != 3 || last != 0 {
			return nil, d.fail(step, fmt.Errorf("%w: SAK frame of %d bytes, want 3", ErrProtocol, len(resp)))
		}
		if !checkCRCA(resp) {
			return nil, d.fail(step, fmt.Errorf("%w: CRC_A of SAK % X", sensor.ErrCRC, resp))
		}
		part, more, err := uidPart(cl, resp[0], level)
		if err != nil {
			return nil, d.fail(step, err)
		}
		uid = append(uid, part...)
		if !more {
			break
		}
	}
	hlta := []byte{piccHLTA, 0x00}
	crc := crcA(hlta)
	// A tag does not answer HLTA (ISO/IEC 14443-3). Whatever happens, the UID
	// is read: a failed HLTA only means the tag may be read again, and then
	// deduplicated.
	_, _, _ = d.transceive(ctx, "HLTA", append(hlta, crc[0], crc[1]), 0)
	return uid, nil
}

// noAnswer turns a missing answer in the middle of the select sequence,
// typically a tag pulled away, into a timeout.
func (d *Dev) noAnswer(step string, err error) error {
	if errors.Is(err, errNoAnswer) {
		return d.fail(step, fmt.Errorf("%w: the tag stopped answering", sensor.ErrTimeout))
	}
	return err
}

// parseUIDCL checks an ANTICOLLISION answer: four bytes of UID CLn and BCC,
// their exclusive or (ISO/IEC 14443-3).
func parseUIDCL(b []byte) ([4]byte, error) {
	var cl [4]byte
	if len(b) != 5 {
		return cl, fmt.Errorf("%w: UID CLn of %d bytes, want 5 with BCC", ErrProtocol, len(b))
	}
	copy(cl[:], b)
	if bcc := b[0] ^ b[1] ^ b[2] ^ b[3]; bcc != b[4] {
		return cl, fmt.Errorf("%w: BCC of % X is %02X, want %02X", sensor.ErrCRC, b[:4], b[4], bcc)
	}
	return cl, nil
}

// uidPart returns the UID bytes a cascade level contributes and whether
// another level follows, from UID CLn and SAK (ISO/IEC 14443-3): a cascade
// tag 88h and SAK bit 3 must agree, and no UID has more than three levels.
func uidPart(cl [4]byte, sak byte, level int) ([]byte, bool, error) {
	ct := cl[0] == cascadeTag
	more := sak&sakCascade != 0
	switch {
	case ct != more:
		return nil, false, fmt.Errorf("%w: UID CL%d % X with SAK %02X: cascade tag and SAK disagree", ErrProtocol, level+1, cl, sak)
	case more && level >= len(selectCodes)-1:
		return nil, false, fmt.Errorf("%w: SAK %02X asks for a fourth cascade level", ErrProtocol, sak)
	case more:
		return bytes.Clone(cl[1:]), true, nil
	}
	return bytes.Clone(cl[:]), false, nil
}

// transceive sends data (txLastBits valid bits in its last byte, 0 for all
// eight) and returns the frame received and its RxLastBits. It returns
// errNoAnswer when the chip's timer expired first.
func (d *Dev) transceive(ctx context.Context, step string, data []byte, txLastBits byte) ([]byte, byte, error) {
	for _, w := range [...]struct {
		reg  byte
		vals []byte
	}{
		{regCommand, []byte{cmdIdle}},       // stop whatever runs
		{regComIrq, []byte{irqClear}},       // clear every interrupt request
		{regFIFOLevel, []byte{fifoFlush}},   // empty the FIFO
		{regFIFOData, data},                 // the frame
		{regBitFraming, []byte{txLastBits}}, // RxAlign 0, TxLastBits
		{regCommand, []byte{cmdTransceive}}, // Transceive waits for StartSend
		{regBitFraming, []byte{startSend | txLastBits}},
	} {
		if err := d.writeReg(step, w.reg, w.vals...); err != nil {
			return nil, 0, err
		}
	}
	irq, err := d.waitIRQ(ctx, step)
	if err != nil {
		return nil, 0, err
	}
	if irq&(irqRx|irqErr) == 0 { // TimerIRq alone
		return nil, 0, errNoAnswer
	}
	st, err := d.readRegs(step, regError, regFIFOLevel, regControl)
	if err != nil {
		return nil, 0, err
	}
	if err := d.chipError(step, st[0]); err != nil {
		return nil, 0, err
	}
	n := int(st[1] & 0x7F)
	last := st[2] & 0x07 // ControlReg RxLastBits
	if n == 0 {
		return nil, 0, d.fail(step, fmt.Errorf("%w: RxIRq with an empty FIFO", ErrProtocol))
	}
	regs := make([]byte, n)
	for i := range regs {
		regs[i] = regFIFOData
	}
	resp, err := d.readRegs(step, regs...)
	if err != nil {
		return nil, 0, err
	}
	return resp, last, nil
}

// waitIRQ polls ComIrqReg until reception ended, an error or the timer.
func (d *Dev) waitIRQ(ctx context.Context, step string) (byte, error) {
	deadline := d.clock.Now().Add(irqBudget)
	for {
		irq, err := d.readReg(step, regComIrq)
		if err != nil {
			return 0, err
		}
		if irq&(irqRx|irqErr|irqTimer) != 0 {
			return irq, nil
		}
		if !d.clock.Now().Before(deadline) {
			d.needSetup = true // its timer should have fired: the chip was reset or hangs
			return 0, d.fail(step, fmt.Errorf("%w: no interrupt request in %v (ComIrqReg %02X)", sensor.ErrTimeout, irqBudget, irq))
		}
		if err := d.clock.Sleep(ctx, pollEvery); err != nil {
			return 0, d.fail(step, err)
		}
	}
}

// chipError maps ErrorReg (§9.3.1.7) to an error, nil when no bit is set
// that matters. A collision also reads CollReg for its position.
func (d *Dev) chipError(step string, e byte) error {
	switch {
	case e&errColl != 0:
		c, err := d.readReg(step, regColl)
		if err != nil {
			return err
		}
		if c&collPosInvalid != 0 {
			return d.fail(step, ErrCollision)
		}
		pos := int(c & 0x1F)
		if pos == 0 {
			pos = 32 // CollPos 0 is the 32nd bit
		}
		return d.fail(step, fmt.Errorf("%w (collision at bit %d)", ErrCollision, pos))
	case e&errOverflow != 0:
		return d.fail(step, ErrOverflow)
	case e&errProtocol != 0:
		return d.fail(step, ErrProtocol)
	case e&errParity != 0:
		return d.fail(step, ErrParity)
	case e&errCRC != 0:
		return d.fail(step, fmt.Errorf("%w: ErrorReg CRCErr", sensor.ErrCRC))
	case e&errTemp != 0:
		return d.fail(step, fmt.Errorf("%w: chip overheated, antenna drivers off (ErrorReg TempErr)", sensor.ErrBus))
	}
	return nil
}

// Halt implements sensor.Sensor: antenna off, then soft power-down
// (CommandReg PowerDown, §9.3.1.2). The next Sense wakes the chip up.
func (d *Dev) Halt() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	tx, err := d.readReg("antenna off", regTxControl)
	if err != nil {
		return err
	}
	if err := d.writeReg("antenna off", regTxControl, tx&^antennaOn); err != nil {
		return err
	}
	if err := d.writeReg("power down", regCommand, commandPowerDown|cmdIdle); err != nil {
		return err
	}
	d.halted = true
	return nil
}

// readReg reads one register.
func (d *Dev) readReg(step string, reg byte) (byte, error) {
	v, err := d.readRegs(step, reg)
	if err != nil {
		return 0, err
	}
	return v[0], nil
}

// readRegs reads registers in one transaction (§8.1.2.1, Table 6): MOSI is
// one address byte per register then 00h; MISO byte i+1 answers byte i.
func (d *Dev) readRegs(step string, regs ...byte) ([]byte, error) {
	w := make([]byte, len(regs)+1)
	for i, reg := range regs {
		w[i] = 0x80 | reg<<1
	}
	r := make([]byte, len(w))
	if err := d.tx(step, w, r); err != nil {
		return nil, err
	}
	return r[1:], nil
}

// writeReg writes vals to one register in one transaction (§8.1.2.2,
// Table 7).
func (d *Dev) writeReg(step string, reg byte, vals ...byte) error {
	w := append([]byte{reg << 1}, vals...)
	return d.tx(step, w, make([]byte, len(w)))
}

func (d *Dev) tx(step string, w, r []byte) error {
	if err := d.conn.Tx(w, r); err != nil {
		if !errors.Is(err, sensor.ErrBus) {
			err = fmt.Errorf("%w: %w", sensor.ErrBus, err)
		}
		return d.fail(step, err)
	}
	return nil
}

func (d *Dev) fail(step string, err error) error {
	return &sensor.Error{Device: d.name, Bus: d.where, Step: step, Err: err}
}

var _ sensor.Sensor = (*Dev)(nil)
