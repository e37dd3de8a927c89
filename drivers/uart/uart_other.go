//go:build !linux

package uart

import (
	"errors"
	"fmt"
	"runtime"

	"github.com/waybill-eu/waybill/drivers/sensor"
)

// Port is an open serial port; only Linux has them.
type Port struct{ path string }

// Open returns an error: serial ports are supported on Linux only.
func Open(path string, baud int) (*Port, error) {
	return nil, fail(path, "open", fmt.Errorf("%w: serial ports are supported on Linux only, not %s", sensor.ErrConfig, runtime.GOOS))
}

// Read implements sensor.Stream.
func (p *Port) Read(b []byte) (int, error) { return 0, fail(p.path, "read", errors.ErrUnsupported) }

// Stats returns the byte counters.
func (p *Port) Stats() Stats { return Stats{} }

// String returns the port's path.
func (p *Port) String() string { return p.path }

// Close does nothing.
func (p *Port) Close() error { return nil }
