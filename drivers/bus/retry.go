package bus

import (
	"sync"

	"periph.io/x/conn/v3/i2c"

	"github.com/waybill-eu/waybill/drivers/sensor"
)

// Attempts is how many times Retry tries an I2C transaction.
const Attempts = 3

// Retry is a Set whose I2C buses retry a transaction that failed with a
// remote I/O error (sensor.RetryI2C, [Attempts] tries): the Raspberry Pi's
// controller fails transactions of clock-stretching devices that way, and
// a bounded retry of the same transaction is the remedy. Each bus is opened
// once and wrapped once, so its counts cover every driver on it.
//
// Put Retry above a recorder (replay.RecordBuses): the recording then holds
// every attempt, and a replay retries exactly the transactions that failed
// when it was made, and counts them again.
type Retry struct {
	Set

	mu  sync.Mutex
	i2c map[string]*sensor.RetryI2C
}

// NewRetry returns s with retrying I2C buses.
func NewRetry(s Set) *Retry { return &Retry{Set: s} }

// I2C implements Set.
func (r *Retry) I2C(name string) (i2c.Bus, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if b, ok := r.i2c[name]; ok {
		return b, nil
	}
	bus, err := r.Set.I2C(name)
	if err != nil {
		return nil, err
	}
	if r.i2c == nil {
		r.i2c = map[string]*sensor.RetryI2C{}
	}
	b := &sensor.RetryI2C{Bus: bus, Attempts: Attempts}
	r.i2c[name] = b
	return b, nil
}

// Retries are an I2C bus's remote I/O error counts.
type Retries struct {
	Retries  int64 `json:"retries"`  // transactions repeated after a remote I/O error
	Failures int64 `json:"failures"` // transactions that failed every attempt
}

// Counts returns the counts of every I2C bus opened so far, by name.
func (r *Retry) Counts() map[string]Retries {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]Retries, len(r.i2c))
	for n, b := range r.i2c {
		out[n] = Retries{b.Retries(), b.Failures()}
	}
	return out
}
