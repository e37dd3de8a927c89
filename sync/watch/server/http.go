package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Handler returns the server's HTTP handler:
//
//	GET /healthz                          200 {"ok":true,…} or 503 {"ok":false,"reasons":[…],…}
//	GET /metrics                          Prometheus text exposition
//	GET /v1/checkpoints/{device}/{epoch}  the latest cosigned checkpoint note of the origin
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.met.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}))
	mux.HandleFunc("GET /v1/checkpoints/{device}/{epoch}", s.checkpoint)
	return mux
}

// Health is the body of /healthz.
type Health struct {
	OK      bool           `json:"ok"`
	Reasons []string       `json:"reasons,omitempty"`
	Brokers []BrokerHealth `json:"brokers"`
}

// BrokerHealth is one broker's connection in Health.
type BrokerHealth struct {
	Name       string `json:"name"`
	Connected  bool   `json:"connected"`
	Subscribed bool   `json:"subscribed"`
	LastError  string `json:"last_error,omitempty"`
}

// pinger is an archive that can say whether its database answers.
type pinger interface {
	Ping(ctx context.Context) error
}

// Health reports whether the watcher is connected and subscribed to every
// broker and its archive is writable: it is not when the archive's last write failed and
// none succeeded since, or when a database archive does not answer.
func (s *Server) Health(ctx context.Context) Health {
	h := Health{OK: true, Brokers: []BrokerHealth{}}
	for _, b := range s.brokerStatus() {
		h.Brokers = append(h.Brokers, BrokerHealth{Name: b.Name, Connected: b.Connected, Subscribed: b.Subscribed, LastError: b.LastError})
		switch {
		case !b.Connected:
			r := fmt.Sprintf("broker %s: not connected", b.Name)
			if b.LastError != "" {
				r += ": " + b.LastError
			}
			h.Reasons = append(h.Reasons, r)
		case !b.Subscribed:
			h.Reasons = append(h.Reasons, fmt.Sprintf("broker %s: connected, its subscriptions not yet acknowledged", b.Name))
		}
	}
	s.mu.Lock()
	aerr, at := s.archErr, s.archErrT
	s.mu.Unlock()
	if aerr != nil {
		h.Reasons = append(h.Reasons, fmt.Sprintf("archive: the last write failed at %s: %v", at.UTC().Format(time.RFC3339), aerr))
	}
	if p, ok := s.arc.(pinger); ok {
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		if err := p.Ping(pctx); err != nil {
			h.Reasons = append(h.Reasons, fmt.Sprintf("archive: %v", err))
		}
		cancel()
	}
	h.OK = len(h.Reasons) == 0
	return h
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	h := s.Health(r.Context())
	w.Header().Set("Content-Type", "application/json")
	if !h.OK {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	json.NewEncoder(w).Encode(h)
}

// checkpoint serves the latest cosigned checkpoint note of an origin: the
// device's checkpoint with the watcher's cosignature line (WITNESS.md).
func (s *Server) checkpoint(w http.ResponseWriter, r *http.Request) {
	d, err := device(r.PathValue("device"))
	if err != nil {
		http.Error(w, fmt.Sprintf("device %q: %v", r.PathValue("device"), err), http.StatusBadRequest)
		return
	}
	epoch, err := strconv.ParseUint(r.PathValue("epoch"), 10, 32)
	if err != nil {
		http.Error(w, fmt.Sprintf("epoch %q is not a number 0..4294967295", r.PathValue("epoch")), http.StatusBadRequest)
		return
	}
	note, err := s.arc.Cosigned(r.Context(), d, uint32(epoch))
	if err != nil {
		s.lg.Warn("archive failed", "err", err)
		http.Error(w, "the archive failed", http.StatusInternalServerError)
		return
	}
	if note == nil {
		http.Error(w, fmt.Sprintf("no cosigned checkpoint of device %s epoch %d", d, epoch), http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write(note)
}
