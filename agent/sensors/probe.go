package sensors

import (
	"context"
	"fmt"

	"github.com/waybill-eu/waybill/agent/config"
	"github.com/waybill-eu/waybill/drivers/bus"
	"github.com/waybill-eu/waybill/drivers/sensor"
)

// ProbeResult is what probing one configured sensor found.
type ProbeResult struct {
	Sensor string
	Driver string
	Found  bool   // the bus opened and the chip answered with the right identity
	Detail string // the device as its driver names it, or the error
	Values int    // values a first read returned
}

// Probe opens every configured sensor on buses and reads it once,
// reporting which chips answer. It never stops at a failing sensor.
func Probe(ctx context.Context, cfg *config.Config, buses bus.Set, clk sensor.Clock) []ProbeResult {
	var out []ProbeResult
	for _, s := range cfg.Sensors {
		r := ProbeResult{Sensor: s.Name, Driver: s.Driver}
		open, err := opener(s, buses, clk)
		var dev sensor.Sensor
		if err == nil {
			dev, err = open(ctx)
		}
		if err == nil {
			r.Detail = dev.String()
			var vals []sensor.Value
			vals, err = dev.Sense(ctx)
			r.Values = len(vals)
			dev.Halt()
		}
		if err != nil {
			r.Detail = err.Error()
		} else {
			r.Found = true
		}
		out = append(out, r)
	}
	return out
}

// String formats a result as one line.
func (r ProbeResult) String() string {
	state := "FOUND"
	if !r.Found {
		state = "NOT FOUND"
	}
	return fmt.Sprintf("%-12s %-8s %-9s %s", r.Sensor, r.Driver, state, r.Detail)
}
