// Package mfrc522test simulates an NXP MFRC522 contactless reader on an SPI
// connection, with ISO/IEC 14443 Type A tags in its field.
//
// A [Chip] is an spi.Conn that decodes SPI frames as the MFRC522 does
// (datasheet Rev. 3.9, §8.1.2), keeps its registers (§9) and 64-byte FIFO
// (§8.3), and runs the commands Idle, SoftReset, CalcCRC, Transmit and
// Transceive (§10.3); other commands end at once, as an unknown command does.
// The field is on when TxControlReg enables a transmitter and the chip is
// not powered down. Tags placed with [Chip.Place] follow the Type A state
// machine of ISO/IEC 14443-3 (IDLE, READY, ACTIVE, HALT): they answer REQA
// and WUPA with ATQA, the bit-oriented ANTICOLLISION of each cascade level
// with their UID CLn and BCC, SELECT with SAK and CRC_A, and fall silent
// after HLTA until they leave the field. When several tags answer together
// the chip reports a collision in ErrorReg and CollReg, as the real one does.
// The timer is not run in time: when no tag answers a Transceive and
// TModeReg's TAuto is set, TimerIRq is raised at once.
package mfrc522test

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"syscall"

	"periph.io/x/conn/v3"
	"periph.io/x/conn/v3/spi"
)

// Registers (datasheet §9.2).
const (
	regCommand    = 0x01
	regComIrq     = 0x04
	regDivIrq     = 0x05
	regError      = 0x06
	regFIFOData   = 0x09
	regFIFOLevel  = 0x0A
	regControl    = 0x0C
	regBitFraming = 0x0D
	regColl       = 0x0E
	regMode       = 0x11
	regTxMode     = 0x12
	regRxMode     = 0x13
	regTxControl  = 0x14
	regTxASK      = 0x15
	regCRCMSB     = 0x21
	regCRCLSB     = 0x22
	regTMode      = 0x2A
	regVersion    = 0x37

	fifoSize = 64 // §8.3
)

// Commands (§10.3, Table 149).
const (
	cmdIdle        = 0x0
	cmdCalcCRC     = 0x3
	cmdTransmit    = 0x4
	cmdNoCmdChange = 0x7
	cmdTransceive  = 0xC
	cmdSoftReset   = 0xF
)

// ComIrqReg and ErrorReg bits (§9.3.1.5, §9.3.1.7).
const (
	irqTimer = 1 << 0
	irqErr   = 1 << 1
	irqIdle  = 1 << 4
	irqRx    = 1 << 5
	irqTx    = 1 << 6

	errCRC      = 1 << 2
	errColl     = 1 << 3
	errOverflow = 1 << 4
)

// resetValues are the registers' values after power-on or SoftReset
// (§9.3); registers not listed reset to 00h.
var resetValues = map[byte]byte{
	0x01: 0x20, // CommandReg: RcvOff, Idle
	0x02: 0x80, // ComIEnReg
	0x04: 0x14, // ComIrqReg
	0x07: 0x21, // Status1Reg
	0x0B: 0x08, // WaterLevelReg
	0x0C: 0x10, // ControlReg
	0x0E: 0xA0, // CollReg: ValuesAfterColl, CollPosNotValid
	0x11: 0x3F, // ModeReg
	0x14: 0x80, // TxControlReg: transmitters off
	0x16: 0x10, // TxSelReg
	0x17: 0x84, // RxSelReg
	0x18: 0x84, // RxThresholdReg
	0x19: 0x4D, // DemodReg
	0x1C: 0x62, // MfTxReg
	0x1F: 0xEB, // SerialSpeedReg
	0x21: 0xFF, // CRCResultReg (MSB)
	0x22: 0xFF, // CRCResultReg (LSB)
	0x24: 0x26, // ModWidthReg
	0x26: 0x48, // RFCfgReg
	0x27: 0x88, // GsNReg
	0x28: 0x20, // CWGsPReg
	0x29: 0x20, // ModGsPReg
}

// Chip is a simulated MFRC522. It implements spi.Conn (full duplex: a read
// buffer, when given, has the length of the write buffer).
type Chip struct {
	mu        sync.Mutex
	regs      [64]byte
	fifo      []byte
	version   byte
	powerDown bool
	field     bool
	crc       uint16 // the running CalcCRC value
	tags      []*tag
	failNext  int
	badBCC    bool
	txs       int
}

// New returns a chip with VersionReg 92h (MFRC522 version 2.0), in its
// power-on state: antenna off, no tag in the field.
func New() *Chip {
	c := &Chip{version: 0x92}
	c.resetLocked()
	return c
}

// SetVersion sets what VersionReg reads: 91h and 92h for NXP's chips, 88h
// or 12h for common clones, 00h or FFh to mimic an empty bus.
func (c *Chip) SetVersion(v byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.version = v
}

// FailNext makes the next n transactions fail as a broken SPI transfer does.
func (c *Chip) FailNext(n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.failNext = n
}

// CorruptBCC makes every tag answer ANTICOLLISION with a wrong BCC, as a
// noisy field would, until called with false.
func (c *Chip) CorruptBCC(on bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.badBCC = on
}

// Place puts a tag with the given UID in the field: 4, 7 or 10 bytes
// (single, double, triple size), whose first byte is not the cascade tag
// 88h. Its final SAK is 08h for a 4-byte UID (MIFARE Classic 1K) and 00h
// otherwise (MIFARE Ultralight, NTAG).
func (c *Chip) Place(uid []byte) error {
	switch {
	case len(uid) != 4 && len(uid) != 7 && len(uid) != 10:
		return fmt.Errorf("mfrc522test: a UID has 4, 7 or 10 bytes, not %d", len(uid))
	case uid[0] == 0x88:
		return errors.New("mfrc522test: 88h is the cascade tag, not a UID's first byte")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, t := range c.tags {
		if bytes.Equal(t.uid, uid) {
			return fmt.Errorf("mfrc522test: tag %X is already in the field", uid)
		}
	}
	t := &tag{uid: bytes.Clone(uid), sak: 0x00}
	if len(uid) == 4 {
		t.sak = 0x08
	}
	if c.field {
		t.state = stateIdle
	}
	c.tags = append(c.tags, t)
	return nil
}

// Remove takes the tag with the given UID out of the field; it reports
// whether it was there.
func (c *Chip) Remove(uid []byte) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, t := range c.tags {
		if bytes.Equal(t.uid, uid) {
			c.tags = append(c.tags[:i], c.tags[i+1:]...)
			return true
		}
	}
	return false
}

// Field reports whether the antenna field is on.
func (c *Chip) Field() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.field
}

// PoweredDown reports whether the chip is in soft power-down (CommandReg
// PowerDown, §8.6.2).
func (c *Chip) PoweredDown() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.powerDown
}

// Register returns a register's content without side effects.
func (c *Chip) Register(reg byte) byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.regs[reg&0x3F]
}

// Transactions returns how many SPI transactions the chip has seen.
func (c *Chip) Transactions() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.txs
}

// String implements conn.Conn.
func (c *Chip) String() string { return "mfrc522test" }

// Duplex implements conn.Conn.
func (c *Chip) Duplex() conn.Duplex { return conn.Full }

// Tx implements conn.Conn: one SPI transaction with chip select held low.
// The first byte is an address byte (§8.1.2.3): bit 7 read, bits 6..1 the
// register, bit 0 zero. A read carries one address byte per register and a
// final 00h, and MISO byte i+1 answers MOSI byte i (§8.1.2.1); a write
// carries data bytes for the one register addressed (§8.1.2.2).
func (c *Chip) Tx(w, r []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.txs++
	if c.failNext > 0 {
		c.failNext--
		return fmt.Errorf("mfrc522test: transfer failed: %w", syscall.EIO)
	}
	if len(r) != 0 && len(r) != len(w) {
		return fmt.Errorf("mfrc522test: full duplex: read %d bytes for %d written", len(r), len(w))
	}
	clear(r)
	if len(w) == 0 {
		return nil
	}
	if w[0]&0x80 == 0 { // write
		if w[0]&1 != 0 {
			return fmt.Errorf("mfrc522test: address byte %02X: bit 0 must be 0", w[0])
		}
		reg := w[0] >> 1 & 0x3F
		for _, b := range w[1:] {
			c.writeLocked(reg, b)
		}
		return nil
	}
	for i, a := range w[:len(w)-1] {
		if a&0x81 != 0x80 {
			return fmt.Errorf("mfrc522test: byte %d of a read, %02X, is not a read address byte", i, a)
		}
		v := c.readLocked(a >> 1 & 0x3F)
		if r != nil {
			r[i+1] = v
		}
	}
	return nil
}

// TxPackets implements spi.Conn: packets up to one without KeepCS form one
// transaction.
func (c *Chip) TxPackets(p []spi.Packet) error {
	var w, r []byte
	var parts []spi.Packet
	for i, pk := range p {
		w = append(w, pk.W...)
		if len(pk.R) != 0 && len(pk.R) != len(pk.W) {
			return fmt.Errorf("mfrc522test: packet %d: read %d bytes for %d written", i, len(pk.R), len(pk.W))
		}
		r = append(r, make([]byte, len(pk.W))...)
		parts = append(parts, pk)
		if pk.KeepCS && i < len(p)-1 {
			continue
		}
		if err := c.Tx(w, r); err != nil {
			return err
		}
		off := 0
		for _, q := range parts {
			copy(q.R, r[off:])
			off += len(q.W)
		}
		w, r, parts = nil, nil, nil
	}
	return nil
}

func (c *Chip) resetLocked() {
	c.regs = [64]byte{}
	for reg, v := range resetValues {
		c.regs[reg] = v
	}
	c.fifo = nil
	c.powerDown = false
	c.setFieldLocked()
}

// setFieldLocked derives the field from TxControlReg and power-down; tags
// lose power, and their state, when it goes off (ISO/IEC 14443-3 POWER-OFF).
func (c *Chip) setFieldLocked() {
	on := c.regs[regTxControl]&0x03 != 0 && !c.powerDown
	if on == c.field {
		return
	}
	c.field = on
	for _, t := range c.tags {
		if on {
			t.state = stateIdle
		} else {
			t.state = statePowerOff
		}
		t.level = 0
	}
}

func (c *Chip) readLocked(reg byte) byte {
	switch reg {
	case regFIFOData:
		if len(c.fifo) == 0 {
			return 0
		}
		v := c.fifo[0]
		c.fifo = c.fifo[1:]
		return v
	case regFIFOLevel:
		return byte(len(c.fifo))
	case regVersion:
		return c.version
	case regCommand:
		v := c.regs[regCommand]
		if c.powerDown {
			v |= 0x10
		}
		return v
	}
	return c.regs[reg]
}

func (c *Chip) writeLocked(reg, v byte) {
	switch reg {
	case regCommand:
		c.commandLocked(v)
	case regComIrq, regDivIrq: // bit 7 (Set1, Set2): set or clear the bits written as 1
		if v&0x80 != 0 {
			c.regs[reg] |= v & 0x7F
		} else {
			c.regs[reg] &^= v & 0x7F
		}
	case regFIFOData:
		if c.regs[regCommand]&0x0F == cmdCalcCRC {
			c.crc = crcUpdate(c.crc, []byte{v})
			c.storeCRCLocked()
			return
		}
		c.pushLocked(v)
	case regFIFOLevel:
		if v&0x80 != 0 { // FlushBuffer; also clears BufferOvfl
			c.fifo = nil
			c.regs[regError] &^= errOverflow
		}
	case regBitFraming:
		c.regs[reg] = v
		if v&0x80 != 0 && c.regs[regCommand]&0x0F == cmdTransceive && !c.powerDown {
			c.transmitLocked(true)
		}
	case regControl: // only TStopNow and TStartNow are writable; the timer is not simulated
	case regColl:
		c.regs[reg] = c.regs[reg]&0x7F | v&0x80
	case regError, 0x07, 0x08, regVersion, regCRCMSB, regCRCLSB:
		// read-only (Status2Reg's writable bits are not simulated)
	case regTxControl:
		c.regs[reg] = v
		c.setFieldLocked()
	default:
		c.regs[reg] = v
	}
}

// commandLocked handles a CommandReg write (§9.3.1.2): RcvOff (bit 5),
// PowerDown (bit 4), Command (bits 3..0).
func (c *Chip) commandLocked(v byte) {
	cmd := v & 0x0F
	if c.powerDown && v&0x10 == 0 {
		c.powerDown = false // wake-up; the oscillator is taken as stable at once
	}
	if cmd == cmdSoftReset {
		c.resetLocked()
		return
	}
	if v&0x10 != 0 {
		c.powerDown = true
	}
	c.setFieldLocked()
	if cmd == cmdNoCmdChange {
		c.regs[regCommand] = c.regs[regCommand]&0x0F | v&0x20
		return
	}
	c.regs[regCommand] = v&0x20 | cmd
	switch cmd {
	case cmdIdle, cmdTransceive:
		// Idle from the host sets no IdleIRq; Transceive waits for StartSend.
	case cmdCalcCRC:
		c.crc = crcPreset[c.regs[regMode]&0x03]
		c.crc = crcUpdate(c.crc, c.fifo)
		c.fifo = nil
		c.storeCRCLocked()
	case cmdTransmit:
		c.transmitLocked(false)
		c.regs[regCommand] &^= 0x0F
		c.regs[regComIrq] |= irqIdle
	default: // unknown or not simulated: back to Idle with IdleIRq
		c.regs[regCommand] &^= 0x0F
		c.regs[regComIrq] |= irqIdle
	}
}

// crcPreset is ModeReg CRCPreset[1:0] (§9.3.2.2).
var crcPreset = [4]uint16{0x0000, 0x6363, 0xA671, 0xFFFF}

func (c *Chip) storeCRCLocked() {
	c.regs[regCRCMSB] = byte(c.crc >> 8)
	c.regs[regCRCLSB] = byte(c.crc)
	c.regs[regDivIrq] |= 1 << 2 // CRCIRq
}

func (c *Chip) pushLocked(b ...byte) {
	for _, v := range b {
		if len(c.fifo) == fifoSize {
			c.regs[regError] |= errOverflow
			return
		}
		c.fifo = append(c.fifo, v)
	}
}

// transmitLocked sends the FIFO as one frame and, for Transceive, receives
// what the tags answer into the FIFO.
func (c *Chip) transmitLocked(receive bool) {
	bf := c.regs[regBitFraming]
	last := int(bf & 0x07)
	rxAlign := int(bf >> 4 & 0x07)
	data := c.fifo
	c.fifo = nil
	if c.regs[regTxMode]&0x80 != 0 { // TxCRCEn
		crc := crcUpdate(crcPreset[c.regs[regMode]&0x03], data)
		data = append(data, byte(crc), byte(crc>>8))
	}
	c.regs[regError] &= 0xC0 // errors of the previous frame are cleared
	c.regs[regComIrq] |= irqTx
	frame := toBits(data, last)

	var answers [][]byte
	if c.field && c.regs[regTxASK]&0x40 != 0 { // Type A needs 100 % ASK
		for _, t := range c.tags {
			if a := t.handle(frame, c.badBCC); a != nil {
				answers = append(answers, a)
			}
		}
	}
	if !receive {
		return
	}
	if len(answers) == 0 {
		if c.regs[regTMode]&0x80 != 0 { // TAuto: the timer runs out
			c.regs[regComIrq] |= irqTimer
		}
		return
	}
	rx, coll := merge(answers)
	c.regs[regColl] = c.regs[regColl]&0x80 | 0x20 // CollPosNotValid until a collision
	if coll >= 0 {
		c.regs[regError] |= errColl
		if pos := rxAlign + coll + 1; pos <= 32 {
			c.regs[regColl] = c.regs[regColl]&0x80 | byte(pos&0x1F) // 32 reads as 0
		}
	}
	bits := append(make([]byte, rxAlign), rx...)
	out := fromBits(bits)
	if rxAlign > 0 && len(out) > 0 { // the bits below RxAlign are not received
		out[0] &^= byte(1<<rxAlign - 1)
	}
	if c.regs[regRxMode]&0x80 != 0 && len(bits)%8 == 0 && len(out) >= 2 { // RxCRCEn
		n := len(out) - 2
		crc := crcUpdate(crcPreset[c.regs[regMode]&0x03], out[:n])
		if out[n] != byte(crc) || out[n+1] != byte(crc>>8) {
			c.regs[regError] |= errCRC
		}
		out = out[:n]
	}
	c.pushLocked(out...)
	c.regs[regControl] = c.regs[regControl]&^0x07 | byte(len(bits)%8)
	c.regs[regComIrq] |= irqRx
	if c.regs[regError]&0x1F != 0 {
		c.regs[regComIrq] |= irqErr
	}
}

// merge superposes the tags' answers: bits that differ collide (a
// Manchester-coded 1 and 0 in the same bit period). It returns the
// wired-OR of the answers and the index of the first collision, or -1.
func merge(answers [][]byte) ([]byte, int) {
	n := 0
	for _, a := range answers {
		n = max(n, len(a))
	}
	out := make([]byte, n)
	coll := -1
	for i := range out {
		ones, zeros := 0, 0
		for _, a := range answers {
			switch {
			case i >= len(a):
			case a[i] == 1:
				ones++
			default:
				zeros++
			}
		}
		if ones > 0 {
			out[i] = 1
		}
		if ones > 0 && zeros > 0 && coll < 0 {
			coll = i
		}
	}
	return out, coll
}

// toBits lists a frame's bits in transmission order (least significant bit
// of each byte first); the last byte contributes last bits, 0 meaning 8.
func toBits(data []byte, last int) []byte {
	var bits []byte
	for i, b := range data {
		n := 8
		if i == len(data)-1 && last != 0 {
			n = last
		}
		for j := range n {
			bits = append(bits, b>>j&1)
		}
	}
	return bits
}

// fromBits packs bits into bytes, least significant bit first.
func fromBits(bits []byte) []byte {
	out := make([]byte, (len(bits)+7)/8)
	for i, b := range bits {
		out[i/8] |= b << (i % 8)
	}
	return out
}

// crcUpdate continues a CRC_A computation (ISO/IEC 14443-3 Annex B;
// polynomial 1021h processed least significant bit first).
func crcUpdate(crc uint16, data []byte) uint16 {
	for _, b := range data {
		for i := range 8 {
			bit := uint16(b>>i&1) ^ crc&1
			crc >>= 1
			if bit != 0 {
				crc ^= 0x8408
			}
		}
	}
	return crc
}

var _ spi.Conn = (*Chip)(nil)
