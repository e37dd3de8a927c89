package uart

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/waybill-eu/waybill/drivers/nmea"
	"github.com/waybill-eu/waybill/drivers/nmea/nmeatest"
	"github.com/waybill-eu/waybill/drivers/sensor"
)

// openPTY opens a pseudo-terminal pair (pty(7)): the master, which plays
// the GNSS receiver, and the path of the slave, which plays the UART.
func openPTY(t *testing.T) (*os.File, string) {
	t.Helper()
	fd, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals: %v", err)
	}
	// unlockpt(3) and ptsname(3) are these two ioctls (tty_ioctl(4)).
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		unix.Close(fd)
		t.Fatalf("unlockpt: %v", err)
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		unix.Close(fd)
		t.Fatalf("ptsname: %v", err)
	}
	master := os.NewFile(uintptr(fd), "/dev/ptmx")
	t.Cleanup(func() { master.Close() })
	return master, fmt.Sprintf("/dev/pts/%d", n)
}

// waitLimit bounds every wait for the pseudo-terminal in these tests: far
// beyond what a step takes on a loaded machine, so that only a step that
// never happens fails on it.
const waitLimit = time.Minute

// readFor reads p until want bytes have arrived or waitLimit has passed.
func readFor(t *testing.T, p *Port, want int) []byte {
	t.Helper()
	var got []byte
	buf := make([]byte, 100)
	deadline := time.Now().Add(waitLimit)
	for len(got) < want && time.Now().Before(deadline) {
		n, err := p.Read(buf)
		got = append(got, buf[:n]...)
		switch {
		case errors.Is(err, sensor.ErrNoData):
			time.Sleep(time.Millisecond)
		case err != nil:
			t.Fatalf("Read: %v", err)
		}
	}
	return got
}

func TestPort_ReadsRaw(t *testing.T) {
	master, path := openPTY(t)
	p, err := Open(path, 9600)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if n, err := p.Read(make([]byte, 10)); n != 0 || !errors.Is(err, sensor.ErrNoData) {
		t.Fatalf("Read before data = %d, %v; want ErrNoData", n, err)
	}
	// CR, LF, ^C, ^S, ^Q, DEL and 8-bit bytes arrive unchanged: no ICRNL,
	// ISIG, IXON, ICANON, ISTRIP.
	data := []byte("$GPGGA,030719.000,3747.0873,S,17518.8938,E,1,08,1.1,59.9,M,23.7,M,,0000*7D\r\n\x03\x13\x11\x7f\xb5\x62\r")
	if _, err := master.Write(data); err != nil {
		t.Fatal(err)
	}
	if got := readFor(t, p, len(data)); !bytes.Equal(got, data) {
		t.Fatalf("read %q, want %q", got, data)
	}
	if st := p.Stats(); st.Received != int64(len(data)) || st.Dropped != 0 {
		t.Errorf("Stats = %+v", st)
	}
}

// TestPort_Termios reads the line settings back through a second
// descriptor of the same terminal.
func TestPort_Termios(t *testing.T) {
	_, path := openPTY(t)
	for _, c := range []struct {
		baud  int
		speed uint32
	}{{9600, unix.B9600}, {115200, unix.B115200}, {4000000, unix.B4000000}} {
		p, err := Open(path, c.baud)
		if err != nil {
			t.Fatal(err)
		}
		fd, err := unix.Open(path, unix.O_RDWR|unix.O_NOCTTY|unix.O_NONBLOCK, 0)
		if err != nil {
			t.Fatal(err)
		}
		tio, err := unix.IoctlGetTermios(fd, unix.TCGETS)
		unix.Close(fd)
		p.Close()
		if err != nil {
			t.Fatal(err)
		}
		if tio.Cflag&unix.CBAUD != c.speed || tio.Cflag&unix.CSIZE != unix.CS8 || tio.Cflag&(unix.CLOCAL|unix.CREAD) != unix.CLOCAL|unix.CREAD ||
			tio.Cflag&(unix.PARENB|unix.CSTOPB|unix.CRTSCTS) != 0 {
			t.Errorf("%d: c_cflag %#o", c.baud, tio.Cflag)
		}
		if tio.Lflag&(unix.ICANON|unix.ECHO|unix.ISIG|unix.IEXTEN) != 0 || tio.Oflag&unix.OPOST != 0 ||
			tio.Iflag&(unix.ICRNL|unix.IXON|unix.IXOFF|unix.ISTRIP|unix.INLCR|unix.IGNCR) != 0 || tio.Cc[unix.VMIN] != 1 {
			t.Errorf("%d: not raw: iflag %#o oflag %#o lflag %#o", c.baud, tio.Iflag, tio.Oflag, tio.Lflag)
		}
	}
}

// TestPort_Receiver runs the NMEA driver on the port: a simulated receiver
// writes epochs to the master, the driver reads fixes.
func TestPort_Receiver(t *testing.T) {
	master, path := openPTY(t)
	p, err := Open(path, 9600)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	sim := &nmeatest.Receiver{Time: time.Date(2026, 4, 1, 7, 30, 0, 0, time.UTC), Fix: 3, Lat: 50.8466, Lon: 4.3528, AltM: 60, Sats: 9, HDOP: 0.9}
	r := nmea.NewReceiver(p, &nmea.ReceiverOptions{Port: path})
	var fixes []sensor.Fix
	deadline := time.Now().Add(waitLimit)
	for i := 0; len(fixes) < 3 && time.Now().Before(deadline); i++ {
		if i < 4 {
			sim.Epoch()
			if _, err := master.Write(sim.Take()); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(5 * time.Millisecond)
		vals, err := r.Sense(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range vals {
			fixes = append(fixes, v.(sensor.Fix))
		}
	}
	if len(fixes) != 3 {
		t.Fatalf("%d fixes, want 3 (the 4th epoch is still open)", len(fixes))
	}
	for i, f := range fixes {
		if !f.Valid || !f.Time.Equal(time.Date(2026, 4, 1, 7, 30, i, 0, time.UTC)) || f.Mode != "3d" || *f.Sats != 9 {
			t.Errorf("fix %d = %+v", i, f)
		}
	}
}

// TestPort_Overflow fills a small ring: the oldest bytes are dropped and
// counted, the newest are read.
func TestPort_Overflow(t *testing.T) {
	master, path := openPTY(t)
	p, err := open(path, 9600, 16)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	data := []byte("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
	if _, err := master.Write(data); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(waitLimit)
	for p.Stats().Received < int64(len(data)) && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if st := p.Stats(); st.Received != int64(len(data)) || st.Dropped != int64(len(data)-16) {
		t.Fatalf("Stats = %+v, want %d received, %d dropped", st, len(data), len(data)-16)
	}
	if got := readFor(t, p, 16); string(got) != string(data[len(data)-16:]) {
		t.Fatalf("read %q, want the newest 16 bytes", got)
	}
}

func TestPort_Ring(t *testing.T) {
	p := &Port{ring: make([]byte, 8)}
	var all []byte
	buf := make([]byte, 3)
	for i := 0; i < 50; i++ {
		p.push([]byte{byte(i), byte(i + 100)})
		n, err := p.Read(buf[:1+i%3])
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, buf[:n]...)
	}
	for {
		n, err := p.Read(buf)
		if errors.Is(err, sensor.ErrNoData) {
			break
		}
		all = append(all, buf[:n]...)
	}
	want := []byte{}
	for i := 0; i < 50; i++ {
		want = append(want, byte(i), byte(i+100))
	}
	st := p.Stats()
	if st.Received != 100 || int(st.Dropped)+len(all) != 100 {
		t.Fatalf("Stats = %+v, read %d", st, len(all))
	}
	// What was read is the stream with the dropped bytes cut out, in order.
	j := 0
	for _, c := range all {
		for j < len(want) && want[j] != c {
			j++
		}
		if j == len(want) {
			t.Fatalf("read %v out of order", all)
		}
		j++
	}
	p.push(bytes.Repeat([]byte{1}, 20)) // more than the ring at once
	if st := p.Stats(); p.n != 8 || st.Dropped != st.Received-int64(len(all))-8 {
		t.Fatalf("after a long push: n=%d %+v", p.n, st)
	}
}

// TestPort_DeviceGone: when the other end goes away (the master closes,
// as a USB adapter unplugged), Read reports a bus error at step "read".
func TestPort_DeviceGone(t *testing.T) {
	master, path := openPTY(t)
	p, err := Open(path, 9600)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	master.Close()
	deadline := time.Now().Add(waitLimit)
	for {
		_, err := p.Read(make([]byte, 10))
		if !errors.Is(err, sensor.ErrNoData) {
			checkError(t, err, path, "read", sensor.ErrBus)
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no error after the master closed")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestPort_Close(t *testing.T) {
	_, path := openPTY(t)
	p, err := Open(path, 9600)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error)
	go func() { done <- p.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(waitLimit):
		t.Fatal("Close does not stop the reader")
	}
	if err := p.Close(); err != nil {
		t.Fatalf("second Close = %v", err)
	}
	_, err = p.Read(make([]byte, 1))
	checkError(t, err, path, "read", os.ErrClosed)
}

func TestOpen_Errors(t *testing.T) {
	_, pty := openPTY(t)
	notTTY := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(notTTY, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		path  string
		baud  int
		step  string
		cause error
		text  string
	}{
		{pty, 12345, "configure", sensor.ErrConfig, "baud rate 12345"},
		{pty, 0, "configure", sensor.ErrConfig, "baud rate 0"},
		{"/dev/nonexistent-serial", 9600, "open", sensor.ErrNoDevice, "no such file"},
		{notTTY, 9600, "configure", sensor.ErrConfig, "not a terminal"},
	}
	for _, c := range cases {
		p, err := Open(c.path, c.baud)
		if err == nil {
			p.Close()
			t.Errorf("Open(%s, %d) succeeded", c.path, c.baud)
			continue
		}
		checkError(t, err, c.path, c.step, c.cause)
		if !strings.Contains(err.Error(), c.text) {
			t.Errorf("Open(%s, %d) = %v; want it to say %q", c.path, c.baud, err, c.text)
		}
	}
	if _, err := Open("/dev/nonexistent-serial", 9600); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("error %v does not wrap fs.ErrNotExist", err)
	}
}

func checkError(t *testing.T, err error, path, step string, cause error) {
	t.Helper()
	var se *sensor.Error
	if !errors.As(err, &se) || se.Device != "uart" || se.Bus != path || se.Step != step || !errors.Is(err, cause) {
		t.Errorf("error %v (%+v); want uart on %s, step %q, cause %v", err, se, path, step, cause)
	}
}
