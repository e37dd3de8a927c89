package nmeatest

// Misread returns the bytes a UART receiving at readBaud reads from a line
// on which data was sent back to back at sentBaud, both framed 8N1.
//
// The line idles high. Each byte is a start bit (low), eight data bits
// least significant first, and a stop bit (high). The receiver waits for a
// falling edge, samples the middle of each of its own bit times (1.5, 2.5,
// ... 8.5 bit times after the edge), then the stop bit at 9.5; a low stop
// bit is a framing error, which Linux delivers as a 0x00 byte (termios(3):
// neither IGNPAR nor PARMRK set). It then looks for the next falling edge.
// With equal rates, Misread returns data unchanged.
func Misread(data []byte, sentBaud, readBaud int) []byte {
	// The line as sent: one level per sent bit.
	bits := make([]bool, 0, len(data)*10)
	for _, c := range data {
		bits = append(bits, false)
		for i := 0; i < 8; i++ {
			bits = append(bits, c>>i&1 == 1)
		}
		bits = append(bits, true)
	}
	level := func(t float64) bool { // t in sent bit times
		if t < 0 {
			return true
		}
		if i := int(t); i < len(bits) {
			return bits[i]
		}
		return true
	}
	ratio := float64(sentBaud) / float64(readBaud) // one read bit in sent bit times
	var out []byte
	t := 0.0
	for {
		// Next falling edge at or after t: only at sent bit boundaries.
		k := int(t)
		if float64(k) < t {
			k++
		}
		for k < len(bits) && !(level(float64(k)-1) && !bits[k]) {
			k++
		}
		if k >= len(bits) {
			return out
		}
		edge := float64(k)
		var c byte
		for i := 0; i < 8; i++ {
			if level(edge + (1.5+float64(i))*ratio) {
				c |= 1 << i
			}
		}
		stop := edge + 9.5*ratio
		if !level(stop) {
			c = 0 // framing error
		}
		out = append(out, c)
		t = stop
	}
}
