package system

import (
	"github.com/waybill-eu/waybill/agent/pipeline"
	"github.com/waybill-eu/waybill/agent/retention"
	"github.com/waybill-eu/waybill/agent/sampler"
	"github.com/waybill-eu/waybill/drivers/bus"
	"github.com/waybill-eu/waybill/sync/anchor"
	"github.com/waybill-eu/waybill/sync/feed"
)

// Status is a running agent's state, as the local API's GET /v1/status
// reports it under "agent" and `waybill status` prints it.
type Status struct {
	pipeline.Stats
	// I2C are each I2C bus's remote I/O error counts.
	I2C map[string]bus.Retries `json:"i2c_retries"`
	// Sensors are each sensor's health, in configuration order.
	Sensors []sampler.Health `json:"sensors"`
	// Retention is the disk budget's state, without one nil.
	Retention *retention.Status `json:"retention,omitempty"`
	// LogDamaged counts the damaged places of the log (events never
	// served; see eventlog.Log.Damaged).
	LogDamaged int `json:"log_damaged"`
	// Sync is the feed's and the anchoring's state; nil without either.
	Sync *SyncStatus `json:"sync,omitempty"`
}

// SyncStatus is the state of the parts downstream of the log.
type SyncStatus struct {
	Feed   *feed.Status   `json:"feed,omitempty"`
	Anchor *anchor.Status `json:"anchor,omitempty"`
}

// Status returns the agent's counters, every sensor's health, the I2C
// retries, the retention state and the feed's and anchoring's state.
func (s *System) Status() Status {
	st := Status{Stats: s.pipe.Stats(), Sensors: s.pipe.Health(), I2C: map[string]bus.Retries{}}
	if s.buses != nil {
		st.I2C = s.buses.Counts()
	}
	st.LogDamaged, _ = s.log.Damaged()
	if s.keeper != nil {
		r := s.keeper.Status()
		st.Retention = &r
	}
	if s.feed != nil || s.anchor != nil {
		st.Sync = &SyncStatus{}
		if s.feed != nil {
			f := s.feed.Status()
			st.Sync.Feed = &f
		}
		if s.anchor != nil {
			a := s.anchor.Status()
			st.Sync.Anchor = &a
		}
	}
	return st
}
