package sensor

import (
	"fmt"
	"sync/atomic"

	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/physic"
)

// RetryI2C wraps an I2C bus and retries a transaction that failed with a
// remote I/O error (see [IsRemoteIO]) up to Attempts times in all. The
// Raspberry Pi's BCM2835 I2C controller does not support clock stretching
// and fails such transactions intermittently; a bounded retry of the same
// transaction is the documented workaround. Every retry is counted.
//
// Drivers receive a RetryI2C as a plain i2c.Bus; the daemon reads Retries
// and Failures for the sensor's health.
type RetryI2C struct {
	Bus      i2c.Bus
	Attempts int // attempts per transaction, at least 1; 0 means 3

	retries  atomic.Int64
	failures atomic.Int64
}

// Retries returns how many transactions were repeated after a remote I/O error.
func (r *RetryI2C) Retries() int64 { return r.retries.Load() }

// Failures returns how many transactions still failed after every attempt.
func (r *RetryI2C) Failures() int64 { return r.failures.Load() }

// String implements conn.Resource.
func (r *RetryI2C) String() string { return r.Bus.String() }

// Tx implements i2c.Bus. An error that persists is wrapped with ErrBus.
func (r *RetryI2C) Tx(addr uint16, w, rd []byte) error {
	n := r.Attempts
	if n < 1 {
		n = 3
	}
	var err error
	for i := 0; i < n; i++ {
		if i > 0 {
			r.retries.Add(1)
		}
		if err = r.Bus.Tx(addr, w, rd); err == nil || !IsRemoteIO(err) {
			return err
		}
	}
	r.failures.Add(1)
	return fmt.Errorf("%w: %d attempts: %w", ErrBus, n, err)
}

// SetSpeed implements i2c.Bus.
func (r *RetryI2C) SetSpeed(f physic.Frequency) error { return r.Bus.SetSpeed(f) }

var _ i2c.Bus = (*RetryI2C)(nil)
