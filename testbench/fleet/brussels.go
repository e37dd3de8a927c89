package fleet

import (
	"context"
	"io"
	"time"

	"github.com/waybill-eu/waybill/agent/config"
	"github.com/waybill-eu/waybill/drivers/replay"
)

// RecordBrussels records the Brussels round (Brussels) of a van configured
// as in configs/van.yaml: a 20-second GNSS outage in the narrow streets by
// the Bourse, a harsh braking on the way to the Marché aux Herbes, and the
// long stop in Rue Neuve that lets the cold box warm past 8 °C.
func RecordBrussels(ctx context.Context, cfg *config.Config, w io.Writer) error {
	r := Brussels
	clk := replay.NewSimClock(r.Start, 0)
	v := NewVan(&r, clk)
	// Times along the round, from the start of each leg.
	legStart := func(i int) time.Time {
		t := r.Start
		for ; t.Before(r.End()); t = t.Add(time.Second) {
			if p := r.At(t); p.Leg == i {
				return t
			}
		}
		return t
	}
	l1 := legStart(1)
	v.Dropouts = [][2]time.Time{{l1.Add(25 * time.Second), l1.Add(45 * time.Second)}}
	v.HarshBrake = l1.Add(70 * time.Second)
	return Record(ctx, cfg, v, "Brussels van round: depot Anderlecht, Pentagon, four loading bays; simulated sensors (testbench/fleet)", w)
}
