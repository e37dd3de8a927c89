package server

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/waybill-eu/waybill/agent/event"
	"github.com/waybill-eu/waybill/sync/watch"
)

// The metrics' names (firmware-docs/WATCH.md §Metrics).
const (
	metricVerdicts        = "waybill_watch_verdicts_total"
	metricEvents          = "waybill_watch_events"
	metricGaps            = "waybill_watch_gaps_open"
	metricLag             = "waybill_watch_feed_lag_seconds"
	metricCheckpointAge   = "waybill_watch_checkpoint_age_seconds"
	metricAnchorAge       = "waybill_watch_anchor_age_seconds"
	metricAlarms          = "waybill_watch_alarms"
	metricBrokerMessages  = "waybill_watch_broker_messages_total"
	metricBrokerConnected = "waybill_watch_broker_connected"
	metricArchiveErrors   = "waybill_watch_archive_errors_total"
	metricCosigned        = "waybill_watch_cosigned_total"
)

// metrics is the watcher's private Prometheus registry and what it
// observes of the verdicts.
type metrics struct {
	reg      *prometheus.Registry
	verdicts *prometheus.CounterVec
	lag      prometheus.Gauge
	archErrs prometheus.Counter
	cosigned prometheus.Counter

	mu          sync.Mutex
	nCosigned   int
	rejected    map[watch.Reason]int
	gaps        map[watch.Key]int // open gaps per origin (Seq unused)
	checkpoints map[event.Address]time.Time
	anchors     map[event.Address]time.Time
}

// brokerStatus is a broker's connection and message count, for the
// metrics and /healthz.
type brokerStatus struct {
	Name       string
	Connected  bool
	Subscribed bool
	Received   uint64
	LastError  string
}

func newMetrics(arc watch.Archive, brokers func() []brokerStatus, now func() time.Time) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		verdicts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: metricVerdicts,
			Help: "Messages judged, by channel, state and reason (firmware-docs/WATCH.md)."}, []string{"channel", "state", "reason"}),
		lag: prometheus.NewGauge(prometheus.GaugeOpts{Name: metricLag,
			Help: "Seconds between the newest verified event's time on the device and its verification."}),
		archErrs: prometheus.NewCounter(prometheus.CounterOpts{Name: metricArchiveErrors,
			Help: "Messages left for redelivery because the archive failed."}),
		cosigned: prometheus.NewCounter(prometheus.CounterOpts{Name: metricCosigned,
			Help: "Checkpoints the watcher cosigned."}),
		rejected:    map[watch.Reason]int{},
		gaps:        map[watch.Key]int{},
		checkpoints: map[event.Address]time.Time{},
		anchors:     map[event.Address]time.Time{},
	}
	m.reg.MustRegister(m.verdicts, m.lag, m.archErrs, m.cosigned,
		&archiveCollector{arc: arc},
		&liveCollector{m: m, brokers: brokers, now: now})
	return m
}

// observe counts a verdict and the checkpoint verdicts it carries.
func (m *metrics) observe(v watch.Verdict, now time.Time) {
	ch := v.Channel
	if ch == "" {
		ch = "none"
	}
	state := string(v.State)
	if v.Duplicate {
		state = "duplicate"
	}
	m.verdicts.WithLabelValues(ch, state, string(v.Reason)).Inc()
	m.mu.Lock()
	defer m.mu.Unlock()
	if v.State == watch.StateRejected {
		m.rejected[v.Reason]++
	}
	if v.Device != (event.Address{}) && (v.State == watch.StateVerified || v.State == watch.StateCheckpointed) {
		k := watch.Key{Device: v.Device, Epoch: v.Epoch}
		if len(v.Gaps) == 0 {
			delete(m.gaps, k)
		} else {
			m.gaps[k] = len(v.Gaps)
		}
	}
	if v.Channel == "checkpoints" && v.State == watch.StateVerified {
		m.checkpoints[v.Device] = now
	}
	for _, c := range v.Checkpoints {
		if c.State == watch.StateVerified {
			m.checkpoints[c.Device] = now
		}
		if c.State == watch.StateRejected {
			m.rejected[c.Reason]++
		}
	}
	for _, a := range v.Anchors {
		if a.State == watch.StateRejected {
			m.rejected[a.Reason]++
		}
	}
}

// anchored notes that an anchor of device was read.
func (m *metrics) anchored(device event.Address, now time.Time) {
	m.mu.Lock()
	m.anchors[device] = now
	m.mu.Unlock()
}

// archiveCollector reports, at each scrape, the archived events by state
// (from the progress of every origin) and the archived alarms by reason.
type archiveCollector struct {
	arc watch.Archive
}

var eventsDesc = prometheus.NewDesc(metricEvents, "Archived events by state (firmware-docs/WATCH.md).", []string{"state"}, nil)

var alarmsDesc = prometheus.NewDesc(metricAlarms, "Archived alarms by reason: two histories of one device, or an anchored root no history explains.", []string{"reason"}, nil)

// alarmReasons are the reasons an alarm has (firmware-docs/WATCH.md).
var alarmReasons = []watch.Reason{watch.ReasonEquivocation, watch.ReasonInconsistent, watch.ReasonRootMismatch, watch.ReasonAnchorMismatch}

func (c *archiveCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- eventsDesc
	ch <- alarmsDesc
}

func (c *archiveCollector) Collect(ch chan<- prometheus.Metric) {
	ctx := context.Background()
	n, err := countStates(ctx, c.arc)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(eventsDesc, err)
	} else {
		for _, s := range eventStates {
			ch <- prometheus.MustNewConstMetric(eventsDesc, prometheus.GaugeValue, float64(n[s]), string(s))
		}
	}
	alarms := map[watch.Reason]int{}
	for _, r := range alarmReasons {
		alarms[r] = 0
	}
	if err := c.arc.Alarms(ctx, func(a watch.Alarm) bool { alarms[a.Reason]++; return true }); err != nil {
		ch <- prometheus.NewInvalidMetric(alarmsDesc, err)
		return
	}
	for r, k := range alarms {
		ch <- prometheus.MustNewConstMetric(alarmsDesc, prometheus.GaugeValue, float64(k), string(r))
	}
}

// eventStates are the states an archived event is in, in order.
var eventStates = []watch.State{watch.StateVerified, watch.StateCheckpointed, watch.StateAnchored, watch.StateWitnessed}

// countStates counts the archived events by state. An origin's events
// below its checkpointed mark are all archived (a checkpoint verifies only
// once every leaf below its size is), so the marks split them exactly.
func countStates(ctx context.Context, arc watch.Archive) (map[watch.State]uint64, error) {
	n := map[watch.State]uint64{}
	err := arc.Origins(ctx, func(o watch.Origin) bool {
		p := o.Progress
		w := min(p.Witnessed(), p.Events)
		a := min(p.Checkpointed, p.Anchored, p.Events)
		c := min(p.Checkpointed, p.Events)
		n[watch.StateWitnessed] += w
		n[watch.StateAnchored] += a - w
		n[watch.StateCheckpointed] += c - a
		n[watch.StateVerified] += p.Events - c
		return true
	})
	return n, err
}

// liveCollector reports what the watcher observed since it started.
type liveCollector struct {
	m       *metrics
	brokers func() []brokerStatus
	now     func() time.Time
}

var (
	gapsDesc      = prometheus.NewDesc(metricGaps, "Open gaps: ranges of sequence numbers missing below one received, over all origins.", nil, nil)
	cpAgeDesc     = prometheus.NewDesc(metricCheckpointAge, "Seconds since the device's last checkpoint was verified.", []string{"device"}, nil)
	anchorAgeDesc = prometheus.NewDesc(metricAnchorAge, "Seconds since an anchor of the device was last read from the ledger.", []string{"device"}, nil)
	brokerMsgDesc = prometheus.NewDesc(metricBrokerMessages, "Messages received from the broker.", []string{"broker"}, nil)
	brokerUpDesc  = prometheus.NewDesc(metricBrokerConnected, "1 if the watcher is connected to the broker.", []string{"broker"}, nil)
)

func (c *liveCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{gapsDesc, cpAgeDesc, anchorAgeDesc, brokerMsgDesc, brokerUpDesc} {
		ch <- d
	}
}

func (c *liveCollector) Collect(ch chan<- prometheus.Metric) {
	now := c.now()
	m := c.m
	m.mu.Lock()
	gaps := 0
	for _, n := range m.gaps {
		gaps += n
	}
	ch <- prometheus.MustNewConstMetric(gapsDesc, prometheus.GaugeValue, float64(gaps))
	for d, t := range m.checkpoints {
		ch <- prometheus.MustNewConstMetric(cpAgeDesc, prometheus.GaugeValue, now.Sub(t).Seconds(), d.String())
	}
	for d, t := range m.anchors {
		ch <- prometheus.MustNewConstMetric(anchorAgeDesc, prometheus.GaugeValue, now.Sub(t).Seconds(), d.String())
	}
	m.mu.Unlock()
	for _, b := range c.brokers() {
		up := 0.0
		if b.Connected {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(brokerMsgDesc, prometheus.CounterValue, float64(b.Received), b.Name)
		ch <- prometheus.MustNewConstMetric(brokerUpDesc, prometheus.GaugeValue, up, b.Name)
	}
}
