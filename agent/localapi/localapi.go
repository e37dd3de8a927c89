// Package localapi serves a running agent's log to the read commands of the
// waybill CLI over a Unix socket in the log directory, so that `waybill log
// show`, `checkpoint`, `prove`, `consistency` and `append` keep working while
// the daemon holds the log's lock.
//
// The protocol is HTTP/1.1 over the socket DIR/waybill.sock (mode 0600):
//
//	GET  /v1/show?from=N&limit=K          JSON lines, as `waybill log show`
//	GET  /v1/checkpoint                   the latest signed checkpoint note
//	POST /v1/checkpoint                   sign a checkpoint now, return its note
//	GET  /v1/prove?seq=N&size=M&format=F[&leaf=L]
//	                                      a proof bundle (F: json or tlog-proof; L: the
//	                                      event's leaf, base64url, for a pruned event)
//	GET  /v1/consistency?from=M&to=N      a consistency proof
//	POST /v1/append                       JSON lines in, one answer line out per input line,
//	                                      streamed both ways, counts in trailers
//
// firmware-docs/LOCALAPI.md is the contract of the socket, of the append
// stream and of the clients' timeouts. Errors are HTTP 4xx/5xx with the
// error text as the body. The package is the transport only: the answers
// are made by package prove (event lines, proof bundles, consistency
// proofs) and, for append, by event.ParseInput and the log: the same
// functions the CLI calls when it opens the log itself, so both paths
// print identical bytes.
package localapi

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/waybill-eu/waybill/agent/event"
	"github.com/waybill-eu/waybill/agent/eventlog"
	"github.com/waybill-eu/waybill/agent/verify/prove"
)

// SocketName is the socket's file name inside the log directory.
const SocketName = "waybill.sock"

// SocketPath returns the socket path for log directory dir.
func SocketPath(dir string) string { return filepath.Join(dir, SocketName) }

// Clock supplies the time of events whose input line has none.
type Clock func() (ms int64, src event.TimeSource)

// Server serves a log on its directory's socket.
type Server struct {
	Log    *eventlog.Log
	Clock  Clock
	Logger *slog.Logger
	// Status, if set, returns the agent's status for GET /v1/status (JSON);
	// nil until the agent has started, or when it has no sensors.
	Status func() any
}

// Serve listens on the log's socket until ctx ends, and returns once the
// requests in progress have ended (an append stream with its trailers),
// at most 5 s after that. It replaces a stale socket file left by a
// crashed process (the caller holds the log's lock, so no live process can
// own it). The socket appears at its path only once it accepts
// connections, with mode 0600: it is made under a temporary name and
// renamed, so that a client that sees the file can connect, and no one
// else ever could.
func (s *Server) Serve(ctx context.Context) error {
	path := SocketPath(s.Log.Dir())
	os.Remove(path)
	ln, err := listenAt(path)
	if err != nil {
		return err
	}
	// Requests end with ctx: an append stream then stops reading, answers
	// what it read and says why in its trailer.
	srv := &http.Server{Handler: s.handler(), ReadHeaderTimeout: 10 * time.Second,
		BaseContext: func(net.Listener) context.Context { return ctx }}
	// Serve returns as soon as Shutdown begins, while handlers may still be
	// writing their last answers and trailers; Serve's caller then closes
	// the log and may exit. So Serve waits for Shutdown, which waits for
	// the handlers (bounded: a handler still running after 5 s has its
	// connection closed).
	stop, cancel := context.WithCancel(ctx)
	defer cancel()
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		<-stop.Done()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if srv.Shutdown(sctx) != nil {
			srv.Close()
		}
	}()
	err = srv.Serve(ln)
	cancel()
	<-stopped
	os.Remove(path)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// listenAt listens on a unix socket that appears at path once it
// listens, with mode 0600 (Serve).
func listenAt(path string) (net.Listener, error) {
	// Short: a unix socket path has at most 107 bytes.
	tmp := filepath.Join(filepath.Dir(path), ".sock-"+strconv.Itoa(os.Getpid()))
	os.Remove(tmp)
	ln, err := net.Listen("unix", tmp)
	if err != nil {
		return nil, fmt.Errorf("localapi: listen on %s: %w", path, err)
	}
	// The listener must not remove the temporary name when it closes:
	// the socket is at path then, which Serve removes.
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	if err = os.Chmod(tmp, 0o600); err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		ln.Close()
		os.Remove(tmp)
		return nil, fmt.Errorf("localapi: listen on %s: %w", path, err)
	}
	return ln, nil
}

func (s *Server) handler() http.Handler {
	mux := http.NewServeMux()
	fail := func(w http.ResponseWriter, code int, err error) { http.Error(w, err.Error(), code) }
	mux.HandleFunc("GET /v1/show", func(w http.ResponseWriter, r *http.Request) {
		from, err1 := uintParam(r, "from")
		limit, err2 := uintParam(r, "limit")
		if err := errors.Join(err1, err2); err != nil {
			fail(w, 400, err)
			return
		}
		// An event that cannot be read (damage) ends the answer early:
		// the events before it were sent, the error goes in a trailer.
		w.Header().Set("Trailer", TrailerError)
		if err := prove.Events(w, s.Log, from, limit); err != nil {
			w.Header().Set(TrailerError, oneLine(err.Error()))
		}
	})
	mux.HandleFunc("GET /v1/checkpoint", func(w http.ResponseWriter, r *http.Request) {
		note, _, err := prove.Latest(s.Log)
		if err != nil {
			fail(w, 404, err)
			return
		}
		w.Write(note)
	})
	mux.HandleFunc("POST /v1/checkpoint", func(w http.ResponseWriter, r *http.Request) {
		note, _, err := s.Log.Checkpoint(r.Context())
		if err != nil {
			fail(w, 500, err)
			return
		}
		w.Write(note)
	})
	mux.HandleFunc("GET /v1/prove", func(w http.ResponseWriter, r *http.Request) {
		seq, err1 := uintParam(r, "seq")
		size, err2 := uintParam(r, "size")
		if err := errors.Join(err1, err2); err != nil {
			fail(w, 400, err)
			return
		}
		var leaf []byte
		if v := r.URL.Query().Get("leaf"); v != "" {
			var err error
			if leaf, err = base64.RawURLEncoding.DecodeString(v); err != nil {
				fail(w, 400, fmt.Errorf("leaf: %w", err))
				return
			}
		}
		b, err := prove.Bundle(s.Log, seq, size, leaf)
		var out []byte
		if err == nil {
			out, err = prove.Encode(b, r.URL.Query().Get("format"))
		}
		if err != nil {
			fail(w, 400, err)
			return
		}
		w.Write(out)
	})
	mux.HandleFunc("GET /v1/consistency", func(w http.ResponseWriter, r *http.Request) {
		from, err1 := uintParam(r, "from")
		to, err2 := uintParam(r, "to")
		if err := errors.Join(err1, err2); err != nil {
			fail(w, 400, err)
			return
		}
		out, err := prove.Consistency(s.Log, from, to)
		if err != nil {
			fail(w, 400, err)
			return
		}
		w.Write(out)
	})
	mux.HandleFunc("GET /v1/status", func(w http.ResponseWriter, r *http.Request) {
		st := StatusBody{Log: LogStatus{Dir: s.Log.Dir(), Origin: s.Log.Origin(), Size: s.Log.Size()}}
		if s.Status != nil {
			st.Agent = s.Status()
		}
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.Encode(st)
	})
	mux.HandleFunc("POST /v1/append", s.serveAppend)
	return mux
}

// StatusBody is the answer to GET /v1/status (firmware-docs/LOCALAPI.md).
type StatusBody struct {
	Log LogStatus `json:"log"`
	// Agent is the running agent's status (Server.Status), absent when
	// the server has none.
	Agent any `json:"agent,omitempty"`
}

// LogStatus is the log's part of the status.
type LogStatus struct {
	Dir    string `json:"dir"`
	Origin string `json:"origin"`
	Size   uint64 `json:"size"`
}

func uintParam(r *http.Request, name string) (uint64, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("parameter %s=%q is not a non-negative integer", name, v)
	}
	return n, nil
}

// serveAppend answers POST /v1/append: the answers stream back while the
// request body is still being read (full duplex), each flushed as soon as
// it is written; the counts and any error follow as trailers. The server
// reads the body only as fast as the client takes the answers.
func (s *Server) serveAppend(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	if err := rc.EnableFullDuplex(); err != nil {
		http.Error(w, fmt.Sprintf("localapi: append needs a full-duplex connection: %v", err), 500)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Trailer", TrailerLines+", "+TrailerNotAppended+", "+TrailerError)
	w.WriteHeader(http.StatusOK)
	if err := rc.Flush(); err != nil {
		return
	}
	res, err := AppendStream(r.Context(), s.Log, s.Clock, r.Body, flushWriter{w, rc})
	w.Header().Set(TrailerLines, strconv.Itoa(res.Lines))
	w.Header().Set(TrailerNotAppended, strconv.Itoa(res.NotAppended))
	if err != nil {
		w.Header().Set(TrailerError, "the agent stopped the stream: "+oneLine(err.Error()))
	}
	if s.Logger != nil {
		lvl := slog.LevelInfo
		if err != nil || res.NotAppended > 0 {
			lvl = slog.LevelWarn
		}
		s.Logger.Log(r.Context(), lvl, "append stream ended", "lines", res.Lines, "not_appended", res.NotAppended, "err", err)
	}
}

// flushWriter flushes each write to the client at once.
type flushWriter struct {
	w  http.ResponseWriter
	rc *http.ResponseController
}

func (f flushWriter) Write(p []byte) (int, error) {
	n, err := f.w.Write(p)
	if err == nil {
		err = f.rc.Flush()
	}
	return n, err
}
