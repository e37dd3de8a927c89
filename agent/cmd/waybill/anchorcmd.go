package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"time"

	"github.com/waybill-eu/waybill/agent/daemon"
	"github.com/waybill-eu/waybill/agent/localapi"
	"github.com/waybill-eu/waybill/agent/merkle"
	"github.com/waybill-eu/waybill/sync/anchor"
)

// cmdAnchorStatus prints what is anchored, pending and confirmed, from the
// anchor store in the log directory (read-only; it works while the daemon
// runs, and with every remote service gone). With --evidence it prints each
// confirmed anchor's evidence (ANCHORING.md) as JSON lines.
func cmdAnchorStatus(ctx context.Context, e *env, args []string) error {
	f := newFlags("anchor status", e)
	f.logFlags()
	evidence := f.Bool("evidence", false, "print each confirmed anchor's full evidence, one JSON line each")
	if err := f.parse(args, 0, "data"); err != nil {
		return err
	}
	path := filepath.Join(f.data, daemon.AnchorStore)
	st, anchors, err := anchor.ReadStore(path)
	if errors.Is(err, anchor.ErrLocked) {
		// The running agent holds the store: ask it.
		c, derr := localapi.Dial(f.data)
		if derr != nil {
			return fmt.Errorf("anchor status: %w", err)
		}
		var out jsonBuf
		if err := c.Do(ctx, "GET", "/v1/status", nil, &out); err != nil {
			return fmt.Errorf("anchor status: %w", err)
		}
		var s struct {
			Agent struct {
				Sync struct {
					Anchor json.RawMessage `json:"anchor"`
				} `json:"sync"`
			} `json:"agent"`
		}
		if err := json.Unmarshal(out.b, &s); err != nil || s.Agent.Sync.Anchor == nil {
			return fmt.Errorf("anchor status: the running agent reports no anchoring")
		}
		var pretty bytes.Buffer
		json.Indent(&pretty, s.Agent.Sync.Anchor, "", "  ")
		fmt.Fprintf(e.stdout, "anchoring in the running agent (pid holding %s):\n%s\n", path, pretty.Bytes())
		return nil
	}
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("anchor status: %s has no anchor store: the configuration has no anchor section, or the agent has not run with it", f.data)
	}
	if errors.Is(err, anchor.ErrDamaged) {
		return fmt.Errorf("anchor status: %w; the agent moves the file aside (%s.damaged-<time>, kept for inspection) and starts a new store when it next starts", err, path)
	}
	if err != nil {
		return fmt.Errorf("anchor status: %w", err)
	}
	if *evidence {
		for _, a := range anchors {
			if a.State != anchor.StateConfirmed {
				continue
			}
			ev, err := a.Evidence()
			if err != nil {
				return err
			}
			b, err := ev.Format()
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "%s\n", b)
		}
		return nil
	}
	fmt.Fprintf(e.stdout, "anchor store %s (since %s)\n", path, st.Created.UTC().Format(time.RFC3339))
	fmt.Fprintf(e.stdout, "confirmed %d, failed %d, next nonce %d\n", st.Confirmed, st.Failed, st.NextNonce)
	if c, err := localapi.Dial(f.data); err == nil {
		var out jsonBuf
		if c.Do(ctx, "GET", "/v1/status", nil, &out) == nil {
			var s struct {
				Log struct {
					Size uint64 `json:"size"`
				} `json:"log"`
			}
			if json.Unmarshal(out.b, &s) == nil {
				fmt.Fprintf(e.stdout, "log size %d (from the running agent)\n", s.Log.Size)
			}
		}
	}
	if a := st.Last; a != nil {
		fmt.Fprintf(e.stdout, "last confirmed: %s size %d root %s, block %d %s, tx %s\n", a.Origin, a.Size, merkle.Hash(a.Root),
			a.BlockNumber, a.BlockHash, a.Attempts[a.Included].Hash)
	}
	if a := st.InFlight; a != nil {
		fmt.Fprintf(e.stdout, "in flight: %s size %d, state %s, %d attempt(s), nonce %d\n", a.Origin, a.Size, a.State, len(a.Attempts), a.Nonce)
	}
	if q := st.Queued; q != nil {
		fmt.Fprintf(e.stdout, "queued (ledger unreachable since %s): %s size %d\n", q.Since.UTC().Format(time.RFC3339), q.Origin, q.Size)
	}
	for _, a := range anchors {
		line := fmt.Sprintf("  #%d %-9s %s size %d", a.ID, a.State, a.Origin, a.Size)
		if a.State == anchor.StateConfirmed || a.State == anchor.StateMined {
			line += fmt.Sprintf(" block %d gas %d", a.BlockNumber, a.GasUsed)
		}
		fmt.Fprintln(e.stdout, line)
	}
	return nil
}

type jsonBuf struct{ b []byte }

func (j *jsonBuf) Write(p []byte) (int, error) { j.b = append(j.b, p...); return len(p), nil }
