// Package uart opens a serial port (a UART) as a [sensor.Stream]: raw
// 8N1 bytes at a fixed baud rate, read without blocking.
//
// [Open] configures the line through the Linux termios interface
// (termios(3), the TCGETS/TCSETS ioctls of tty_ioctl(4)) in raw mode: no
// line editing, echo, signal characters, CR/LF translation or parity
// stripping; 8 data bits, no parity, one stop bit; no hardware (RTS/CTS)
// or software (XON/XOFF) flow control; CLOCAL (ignore modem control
// lines) and CREAD (enable the receiver). A goroutine reads the port into
// a ring buffer of [BufferSize] bytes, so that a driver polling once a
// second loses nothing; when the buffer is full the oldest bytes are
// dropped and counted ([Port.Stats]). [Port.Read] returns what is
// buffered, or sensor.ErrNoData when nothing is.
//
// # Raspberry Pi
//
// The GPIO header's UART (TXD on pin 8, GPIO14; RXD on pin 10, GPIO15;
// 3.3 V logic) is /dev/serial0, a link to whichever of the PL011 (ttyAMA0)
// or mini-UART (ttyS0) drives the header pins. Wire the receiver's TX to
// RXD and its RX to TXD. Enable the UART with enable_uart=1 in config.txt
// (which also fixes the core clock the mini-UART's baud rate is derived
// from) and disable the serial login console
// (raspi-config, Interface Options, Serial Port: no login shell, hardware
// enabled), or a getty will read the receiver's sentences. The agent's
// user needs to be in the dialout group. Configure a GNSS receiver as
//
//	sensors:
//	  - name: gnss
//	    driver: nmea
//	    port: /dev/serial0
//	    baud: 9600
//	    interval: 1s
//
// Only Linux is supported; elsewhere Open returns an error.
package uart

import "github.com/waybill-eu/waybill/drivers/sensor"

// BufferSize is the ring buffer of a [Port]: 64 KiB, over 5 s of data at
// 115200 baud and over a minute at 9600.
const BufferSize = 64 << 10

// Stats counts a port's bytes.
type Stats struct {
	Received int64 // bytes read from the device
	Dropped  int64 // bytes dropped because the ring buffer was full
}

func fail(path, step string, err error) *sensor.Error {
	return &sensor.Error{Device: "uart", Bus: path, Step: step, Err: err}
}

var _ sensor.Stream = (*Port)(nil)
