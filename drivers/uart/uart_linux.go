package uart

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sort"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/waybill-eu/waybill/drivers/sensor"
)

// bauds maps a rate in bit/s to its termios speed constant (the CBAUD
// bits of c_cflag, termios(3) "cfsetospeed").
var bauds = map[int]uint32{
	50: unix.B50, 75: unix.B75, 110: unix.B110, 134: unix.B134, 150: unix.B150,
	200: unix.B200, 300: unix.B300, 600: unix.B600, 1200: unix.B1200,
	1800: unix.B1800, 2400: unix.B2400, 4800: unix.B4800, 9600: unix.B9600,
	19200: unix.B19200, 38400: unix.B38400, 57600: unix.B57600,
	115200: unix.B115200, 230400: unix.B230400, 460800: unix.B460800,
	500000: unix.B500000, 576000: unix.B576000, 921600: unix.B921600,
	1000000: unix.B1000000, 1152000: unix.B1152000, 1500000: unix.B1500000,
	2000000: unix.B2000000, 2500000: unix.B2500000, 3000000: unix.B3000000,
	3500000: unix.B3500000, 4000000: unix.B4000000,
}

// Port is an open serial port. Read and Stats may be called from any
// goroutine; Read is meant for one consumer.
type Port struct {
	path string
	f    *os.File
	done chan struct{} // closed when the reader goroutine has returned

	closeOnce sync.Once
	closeErr  error

	mu     sync.Mutex
	ring   []byte // len is the capacity
	start  int    // index of the oldest buffered byte
	n      int    // buffered bytes
	stats  Stats
	err    error // why the reader stopped, or nil
	closed bool
}

// Open opens the serial device at path (e.g. /dev/serial0) at baud bit/s,
// 8N1, raw, without flow control, and starts reading it. Baud must be one
// of the standard rates from 50 to 4,000,000. Errors are *sensor.Error
// naming the path and the step (open, configure).
func Open(path string, baud int) (*Port, error) {
	return open(path, baud, BufferSize)
}

func open(path string, baud, size int) (*Port, error) {
	speed, ok := bauds[baud]
	if !ok {
		return nil, fail(path, "configure", fmt.Errorf("%w: baud rate %d is not supported (use one of %s)", sensor.ErrConfig, baud, rates()))
	}
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_NOCTTY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fail(path, "open", openError(err))
	}
	if err := configure(fd, speed); err != nil {
		unix.Close(fd)
		return nil, fail(path, "configure", err)
	}
	// Non-blocking, so os.File reads through the runtime poller and Close
	// interrupts a pending Read.
	p := &Port{path: path, f: os.NewFile(uintptr(fd), path), done: make(chan struct{}), ring: make([]byte, size)}
	go p.run()
	return p, nil
}

func openError(err error) error {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%w: %w (is the UART enabled?)", sensor.ErrNoDevice, err)
	case errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("%w (is the user in the dialout group?)", err)
	case errors.Is(err, syscall.ENXIO), errors.Is(err, syscall.ENODEV):
		return fmt.Errorf("%w: %w", sensor.ErrNoDevice, err)
	}
	return err
}

// configure puts the line in raw 8N1 mode at speed, as cfmakeraw(3) does,
// with CLOCAL|CREAD and neither RTS/CTS nor XON/XOFF flow control, then
// reads the settings back and discards input received before.
func configure(fd int, speed uint32) error {
	t, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return fmt.Errorf("%w: not a terminal: %w", sensor.ErrConfig, err)
	}
	t.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL |
		unix.IXON | unix.IXOFF | unix.IXANY
	t.Oflag &^= unix.OPOST
	t.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	t.Cflag &^= unix.CSIZE | unix.PARENB | unix.CSTOPB | unix.CRTSCTS | unix.CBAUD
	t.Cflag |= unix.CS8 | unix.CLOCAL | unix.CREAD | speed
	t.Ispeed, t.Ospeed = speed, speed
	t.Cc[unix.VMIN], t.Cc[unix.VTIME] = 1, 0
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, t); err != nil {
		return err
	}
	// TCSETS succeeds if any change took; check that all did.
	got, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return err
	}
	if got.Cflag&unix.CBAUD != speed || got.Cflag&unix.CSIZE != unix.CS8 || got.Lflag&unix.ICANON != 0 {
		return fmt.Errorf("%w: the driver did not accept the settings (c_cflag %#o)", sensor.ErrConfig, got.Cflag)
	}
	return unix.IoctlSetInt(fd, unix.TCFLSH, unix.TCIFLUSH)
}

func rates() string {
	var r []int
	for b := range bauds {
		r = append(r, b)
	}
	sort.Ints(r)
	s := make([]string, len(r))
	for i, b := range r {
		s[i] = fmt.Sprint(b)
	}
	return strings.Join(s, ", ")
}

// run reads the port into the ring until the port fails or is closed.
func (p *Port) run() {
	defer close(p.done)
	buf := make([]byte, 4096)
	for {
		n, err := p.f.Read(buf)
		if n > 0 {
			p.push(buf[:n])
		}
		if err != nil {
			p.mu.Lock()
			if !p.closed {
				p.err = err
			}
			p.mu.Unlock()
			return
		}
	}
}

// push appends b to the ring, dropping the oldest bytes when it is full.
func (p *Port) push(b []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stats.Received += int64(len(b))
	size := len(p.ring)
	if len(b) > size {
		p.stats.Dropped += int64(len(b) - size)
		b = b[len(b)-size:]
	}
	if over := p.n + len(b) - size; over > 0 {
		p.start = (p.start + over) % size
		p.n -= over
		p.stats.Dropped += int64(over)
	}
	end := (p.start + p.n) % size
	k := copy(p.ring[end:], b)
	copy(p.ring, b[k:])
	p.n += len(b)
}

// Read implements sensor.Stream: it copies buffered bytes into b, oldest
// first, and returns sensor.ErrNoData when there are none. Once the port
// has failed (a USB adapter unplugged) it returns an error at step "read"
// wrapping sensor.ErrBus; once closed, one wrapping os.ErrClosed.
func (p *Port) Read(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.closed:
		return 0, fail(p.path, "read", os.ErrClosed)
	case len(b) == 0:
		return 0, nil
	case p.n > 0:
		k := min(len(b), p.n)
		c := copy(b[:k], p.ring[p.start:])
		copy(b[c:k], p.ring)
		p.start = (p.start + k) % len(p.ring)
		p.n -= k
		return k, nil
	case p.err != nil:
		return 0, fail(p.path, "read", fmt.Errorf("%w: %w", sensor.ErrBus, p.err))
	}
	return 0, sensor.ErrNoData
}

// Stats returns the byte counters.
func (p *Port) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stats
}

// String returns the port's path.
func (p *Port) String() string { return p.path }

// Close stops the reader and closes the device. It may be called more
// than once; every call returns the first one's result.
func (p *Port) Close() error {
	p.closeOnce.Do(func() {
		p.mu.Lock()
		p.closed = true
		p.mu.Unlock()
		if err := p.f.Close(); err != nil { // interrupts the reader's Read
			p.closeErr = fail(p.path, "close", err)
		}
		<-p.done
	})
	return p.closeErr
}
