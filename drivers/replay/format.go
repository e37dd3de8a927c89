package replay

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Version is the recording format version this package reads and writes.
const Version = 1

// MaxLine is the longest line a recording may hold, in bytes.
const MaxLine = 64 << 10

// Header is a recording's first line.
type Header struct {
	Version int       `json:"waybill_recording"`
	Start   time.Time `json:"start"`          // the recording clock at t = 0 (UTC)
	Note    string    `json:"note,omitempty"` // free text: device, route, firmware
	// End, when set, is when the recorded run ended; a replay reads the
	// sensors until then. Without it a replay ends when every recorded
	// operation has been played.
	End *time.Time `json:"end,omitempty"`
}

// The operations.
const (
	OpTx     = "tx"     // I2C (addr, w, r), SPI (w, r), 1-Wire (w, r, pull)
	OpSearch = "search" // 1-Wire search: devices
	OpRead   = "read"   // serial: data; GPIO input: level
	OpNoData = "nodata" // serial: nothing had arrived
	OpEOF    = "eof"    // serial: the stream ended
	OpIn     = "in"     // GPIO: configured as input (pull, edge)
	OpWait   = "wait"   // GPIO: WaitForEdge(timeout_ms) returned edge
	OpOut    = "out"    // GPIO: output level
	OpSpeed  = "speed"  // I2C: SetSpeed(hz)
	OpHalt   = "halt"   // any: Halt
)

// Op is one recorded operation. Fields not used by an operation are omitted.
type Op struct {
	T       int64    `json:"t"`                    // ms since Header.Start
	Bus     string   `json:"bus"`                  // the bus or pin name from the configuration
	Op      string   `json:"op"`                   // one of the Op* constants
	Addr    *uint16  `json:"addr,omitempty"`       // I2C address
	W       Bytes    `json:"w,omitempty"`          // bytes written
	R       Bytes    `json:"r,omitempty"`          // bytes read
	Pull    bool     `json:"pull,omitempty"`       // 1-Wire strong pull-up after the write
	Devices []string `json:"devices,omitempty"`    // 1-Wire search result, ROM codes as hex
	Data    *Data    `json:"data,omitempty"`       // serial bytes read
	Level   string   `json:"level,omitempty"`      // GPIO "high" or "low"
	Edge    *bool    `json:"edge,omitempty"`       // GPIO wait result
	Timeout *int64   `json:"timeout_ms,omitempty"` // GPIO wait timeout; -1 waits forever
	Arg     string   `json:"arg,omitempty"`        // GPIO in: "pull/edge"; I2C speed: Hz
	Err     string   `json:"err,omitempty"`        // the error the call returned
	ErrKind string   `json:"err_kind,omitempty"`   // "no_devices" or "shorted" for 1-Wire bus errors
}

// Bytes is a byte string written as lowercase hex.
type Bytes []byte

// MarshalJSON implements json.Marshaler.
func (b Bytes) MarshalJSON() ([]byte, error) {
	return json.Marshal(hex.EncodeToString(b))
}

// UnmarshalJSON implements json.Unmarshaler. Only lowercase hex is accepted.
func (b *Bytes) UnmarshalJSON(p []byte) error {
	var s string
	if err := json.Unmarshal(p, &s); err != nil {
		return fmt.Errorf("want a hex string: %w", err)
	}
	if strings.ToLower(s) != s {
		return fmt.Errorf("hex %q is not lowercase", s)
	}
	v, err := hex.DecodeString(s)
	if err != nil {
		return fmt.Errorf("hex %q: %w", s, err)
	}
	*b = v
	return nil
}

// Data is serial bytes: written as a JSON string when they are valid UTF-8
// (NMEA is ASCII), else as {"hex":"..."}.
type Data []byte

// MarshalJSON implements json.Marshaler.
func (d Data) MarshalJSON() ([]byte, error) {
	if utf8.Valid(d) {
		return json.Marshal(string(d))
	}
	return json.Marshal(struct {
		Hex string `json:"hex"`
	}{hex.EncodeToString(d)})
}

// UnmarshalJSON implements json.Unmarshaler.
func (d *Data) UnmarshalJSON(p []byte) error {
	p = bytes.TrimSpace(p)
	if len(p) > 0 && p[0] == '"' {
		var s string
		if err := json.Unmarshal(p, &s); err != nil {
			return err
		}
		*d = Data(s)
		return nil
	}
	var h struct {
		Hex string `json:"hex"`
	}
	if err := json.Unmarshal(p, &h); err != nil {
		return fmt.Errorf("want a string or {\"hex\":...}: %w", err)
	}
	v, err := hex.DecodeString(h.Hex)
	if err != nil {
		return fmt.Errorf("hex %q: %w", h.Hex, err)
	}
	*d = v
	return nil
}

// check reports what is wrong with a decoded op.
func (o *Op) check() error {
	if o.Bus == "" {
		return errors.New(`"bus" is missing`)
	}
	if o.T < 0 {
		return fmt.Errorf("t %d is negative", o.T)
	}
	switch o.Op {
	case OpTx, OpSearch, OpNoData, OpEOF, OpIn, OpHalt, OpSpeed:
	case OpRead:
		if o.Data == nil && o.Level == "" {
			return errors.New(`read needs "data" (serial) or "level" (GPIO)`)
		}
	case OpWait:
		if o.Edge == nil {
			return errors.New(`wait needs "edge"`)
		}
	case OpOut:
	case "":
		return errors.New(`"op" is missing`)
	default:
		return fmt.Errorf("unknown op %q", o.Op)
	}
	if o.Level != "" && o.Level != "high" && o.Level != "low" {
		return fmt.Errorf("level %q is not high or low", o.Level)
	}
	if o.Op == OpOut && o.Level == "" {
		return errors.New(`out needs "level"`)
	}
	return nil
}

func level(l bool) string {
	if l {
		return "high"
	}
	return "low"
}
