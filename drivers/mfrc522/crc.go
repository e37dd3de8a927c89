package mfrc522

// crcA returns CRC_A over data as ISO/IEC 14443-3 Annex B defines it: the
// CRC-16 of ITU-T V.41 (polynomial x^16 + x^12 + x^5 + 1) with initial value
// 6363h, bits processed least significant first, no final inversion. The two
// CRC bytes follow the data least significant byte first, as crcA returns
// them. Annex B's examples: 00h 00h gives A0h 1Eh; 12h 34h gives 26h CFh.
//
// The MFRC522's coprocessor computes the same value (CalcCRC, datasheet
// §10.3.1.4, with ModeReg CRCPreset = 01b, 6363h); doing it here saves a
// command and a wait per frame.
func crcA(data []byte) [2]byte {
	crc := uint16(0x6363)
	for _, b := range data {
		crc ^= uint16(b)
		for range 8 {
			if crc&1 != 0 {
				crc = crc>>1 ^ 0x8408 // x^16 + x^12 + x^5 + 1, bit-reversed
			} else {
				crc >>= 1
			}
		}
	}
	return [2]byte{byte(crc), byte(crc >> 8)}
}

// checkCRCA reports whether frame ends with the CRC_A of the bytes before it.
func checkCRCA(frame []byte) bool {
	if len(frame) < 2 {
		return false
	}
	n := len(frame) - 2
	c := crcA(frame[:n])
	return frame[n] == c[0] && frame[n+1] == c[1]
}
