package mfrc522test

import "bytes"

// Tag states of ISO/IEC 14443-3 Type A.
type state int

const (
	statePowerOff state = iota
	stateIdle
	stateReady
	stateActive
	stateHalt
)

// ISO/IEC 14443-3 Type A command codes.
const (
	reqa       = 0x26
	wupa       = 0x52
	hlta       = 0x50
	cascadeTag = 0x88
)

var selectCodes = [3]byte{0x93, 0x95, 0x97}

// tag is one PICC in the field.
type tag struct {
	uid    []byte
	sak    byte // the final SAK
	state  state
	level  int  // cascade level being selected, in READY
	halted bool // READY or ACTIVE was entered from HALT (WUPA)
}

// levels returns the number of cascade levels of the UID.
func (t *tag) levels() int { return len(t.uid) / 3 }

// cl returns UID CLn and BCC for a cascade level (ISO/IEC 14443-3): a UID
// longer than the level can carry starts with the cascade tag 88h.
func (t *tag) cl(level int, badBCC bool) []byte {
	var b []byte
	if level < t.levels()-1 {
		b = append([]byte{cascadeTag}, t.uid[3*level:3*level+3]...)
	} else {
		b = bytes.Clone(t.uid[3*level:])
	}
	bcc := b[0] ^ b[1] ^ b[2] ^ b[3]
	if badBCC {
		bcc ^= 0xFF
	}
	return append(b, bcc)
}

// atqa is the answer to REQA and WUPA: bit frame anticollision (b3) and the
// UID size in b8..b7 (00 single, 01 double, 10 triple).
func (t *tag) atqa() []byte {
	return []byte{byte(t.levels()-1)<<6 | 0x04, 0x00}
}

// rest returns the tag to IDLE, or to HALT if it came from there: what a
// tag does with a frame it does not expect.
func (t *tag) rest() {
	if t.halted {
		t.state = stateHalt
	} else {
		t.state = stateIdle
	}
	t.level = 0
}

// handle processes one frame (bits in transmission order) and returns the
// answer's bits, or nil for silence.
func (t *tag) handle(frame []byte, badBCC bool) []byte {
	if t.state == statePowerOff {
		return nil
	}
	if len(frame) == 7 { // short frame
		cmd := fromBits(frame)[0]
		switch {
		case cmd == reqa && t.state == stateIdle,
			cmd == wupa && (t.state == stateIdle || t.state == stateHalt):
			t.halted = t.state == stateHalt
			t.state, t.level = stateReady, 0
			return toBits(t.atqa(), 0)
		case t.state == stateReady || t.state == stateActive:
			t.rest()
		}
		return nil
	}
	if len(frame) < 16 {
		if t.state == stateReady || t.state == stateActive {
			t.rest()
		}
		return nil
	}
	head := fromBits(frame[:16])
	switch t.state {
	case stateReady:
		if head[0] != selectCodes[t.level] {
			t.rest()
			return nil
		}
		return t.anticollisionOrSelect(head[1], frame[16:], badBCC)
	case stateActive:
		f := fromBits(frame)
		if len(frame) == 32 && f[0] == hlta && f[1] == 0x00 && crcUpdate(0x6363, f) == 0 {
			t.state, t.halted = stateHalt, true
			return nil
		}
		t.rest()
	}
	return nil
}

// anticollisionOrSelect answers a frame of the current cascade level after
// SEL: NVB gives the number of valid bits sent, in bytes (high nibble,
// counting SEL and NVB) and bits (low nibble). NVB = 70h is SELECT.
func (t *tag) anticollisionOrSelect(nvb byte, rest []byte, badBCC bool) []byte {
	cl := t.cl(t.level, badBCC)
	clBits := toBits(cl, 0)
	if nvb == 0x70 {
		f := fromBits(rest)
		// UID CLn, BCC and CRC_A over SEL, NVB, UID CLn and BCC.
		frame := append([]byte{selectCodes[t.level], nvb}, f...)
		if len(rest) != 7*8 || crcUpdate(0x6363, frame) != 0 || !bytes.Equal(f[:5], t.cl(t.level, false)) {
			t.rest()
			return nil
		}
		sak := t.sak
		if t.level < t.levels()-1 {
			sak = 0x04 // cascade bit: UID not complete
			t.level++
		} else {
			t.state = stateActive
		}
		crc := crcUpdate(0x6363, []byte{sak})
		return toBits([]byte{sak, byte(crc), byte(crc >> 8)}, 0)
	}
	nBytes, nBits := int(nvb>>4), int(nvb&0x0F)
	known := (nBytes-2)*8 + nBits
	if nBytes < 2 || nBits > 7 || known >= 40 || len(rest) != known {
		t.rest()
		return nil
	}
	if !bytes.Equal(rest, clBits[:known]) {
		return nil // another tag's UID: stay READY and silent
	}
	return clBits[known:]
}
