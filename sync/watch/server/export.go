package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/waybill-eu/waybill/agent/checkpoint"
	"github.com/waybill-eu/waybill/agent/event"
	"github.com/waybill-eu/waybill/agent/merkle"
	"github.com/waybill-eu/waybill/agent/signer"
	"github.com/waybill-eu/waybill/agent/verify"
	"github.com/waybill-eu/waybill/sync/watch"
)

// Export formats.
const (
	FormatBundle = "bundle" // one proof bundle (PROTOCOL.md §8) per checkpointed event, a file each
	FormatJSONL  = "jsonl"  // the lines of `waybill log show`, one per event
	FormatCSV    = "csv"    // one row per event, with its state
)

// csvHeader is the header row of FormatCSV (firmware-docs/CLI.md §17).
var csvHeader = []string{"device", "fleet", "epoch", "seq", "time", "time_source", "kind", "state", "leaf_hash", "payload"}

// ExportOptions select what Export writes.
type ExportOptions struct {
	// Device is the device whose events are exported; Fleet and ChainID
	// are its signing domain's, from the allowlist.
	Device  event.Address
	Fleet   string
	ChainID uint64
	// From and To, when not zero, keep the events whose time is in
	// [From, To).
	From, To time.Time
	// Format is FormatBundle, FormatJSONL or FormatCSV.
	Format string
	// Out is the directory bundles are written to (FormatBundle); W
	// receives the stream (FormatJSONL, FormatCSV).
	Out string
	W   io.Writer
}

// ExportResult counts what Export wrote.
type ExportResult struct {
	Events  int // events written
	Skipped int // bundles only: events outside every verified checkpoint, which no bundle proves yet
}

// Export writes the archived events of one device, every epoch in order:
// proof bundles that `waybill verify` checks offline, made from the
// archived leaves and the largest verified checkpoint of each epoch, or a
// JSON Lines or CSV stream of the events.
func Export(ctx context.Context, arc watch.Archive, o ExportOptions) (ExportResult, error) {
	var res ExportResult
	switch o.Format {
	case FormatBundle:
		if o.Out == "" {
			return res, errors.New("export: bundles need an output directory")
		}
	case FormatJSONL, FormatCSV:
		if o.W == nil {
			return res, errors.New("export: no writer")
		}
	default:
		return res, fmt.Errorf("export: unknown format %q (want %s, %s or %s)", o.Format, FormatBundle, FormatJSONL, FormatCSV)
	}
	epochs, err := arc.Epochs(ctx, o.Device)
	if err != nil {
		return res, err
	}
	domain := signer.Domain{ChainID: o.ChainID, Fleet: o.Fleet}
	var bw *bufio.Writer
	var cw *csv.Writer
	switch o.Format {
	case FormatJSONL:
		bw = bufio.NewWriter(o.W)
	case FormatCSV:
		cw = csv.NewWriter(o.W)
		cw.Write(csvHeader)
	}
	for _, epoch := range epochs {
		prog, err := arc.Progress(ctx, o.Device, epoch)
		if err != nil {
			return res, err
		}
		var t *tree
		var note []byte
		if o.Format == FormatBundle {
			if note, err = arc.Checkpoint(ctx, o.Device, epoch); err != nil {
				return res, err
			}
			t = &tree{}
		}
		err = arc.Leaves(ctx, o.Device, epoch, 0, func(seq uint64, leaf []byte) bool {
			var e *event.Signed
			if e, err = event.Parse(leaf); err != nil {
				err = fmt.Errorf("export: archived event %d of epoch %d: %w", seq, epoch, err)
				return false
			}
			if t != nil {
				t.append(leaf)
			}
			at := time.UnixMilli(e.Time)
			if (!o.From.IsZero() && at.Before(o.From)) || (!o.To.IsZero() && !at.Before(o.To)) {
				return true
			}
			switch o.Format {
			case FormatJSONL:
				bw.Write(leaf[:len(leaf)-1])
				bw.WriteString(`,"leaf":"`)
				bw.WriteString(base64.StdEncoding.EncodeToString(leaf))
				bw.WriteString("\"}\n")
			case FormatCSV:
				h := merkle.LeafHash(leaf)
				cw.Write([]string{o.Device.String(), o.Fleet, strconv.FormatUint(uint64(epoch), 10), strconv.FormatUint(seq, 10),
					at.UTC().Format(time.RFC3339Nano), string(e.Source), string(e.Kind), string(prog.State(seq)), hex.EncodeToString(h[:]), string(e.Payload)})
			case FormatBundle:
				if note == nil || seq >= prog.Checkpointed {
					res.Skipped++
					return true
				}
				t.want = append(t.want, seq)
			}
			res.Events++
			return true
		})
		if err != nil {
			return res, err
		}
		if o.Format == FormatBundle && len(t.want) > 0 {
			n, err := writeBundles(o.Out, domain, note, t, epoch)
			res.Events -= len(t.want) - n
			if err != nil {
				return res, err
			}
		}
	}
	switch {
	case bw != nil:
		return res, bw.Flush()
	case cw != nil:
		cw.Flush()
		return res, cw.Error()
	}
	return res, nil
}

// writeBundles writes the bundle of each event t.want holds, proven in
// the checkpoint note, as DIR/epoch-E/SEQ.json.
func writeBundles(dir string, domain signer.Domain, note []byte, t *tree, epoch uint32) (int, error) {
	c, err := parseCheckpointText(note)
	if err != nil {
		return 0, fmt.Errorf("export: archived checkpoint of epoch %d: %w", epoch, err)
	}
	ed := filepath.Join(dir, fmt.Sprintf("epoch-%d", epoch))
	if err := os.MkdirAll(ed, 0o755); err != nil {
		return 0, fmt.Errorf("export: %w", err)
	}
	n := 0
	for _, seq := range t.want {
		proof, err := merkle.ProveInclusion(seq, c.Size, t)
		if err != nil {
			return n, fmt.Errorf("export: inclusion proof of event %d in checkpoint %d of epoch %d: %w", seq, c.Size, epoch, err)
		}
		b, err := verify.NewBundle(t.leaves[seq], domain, note, proof)
		if err != nil {
			return n, fmt.Errorf("export: bundle of event %d of epoch %d: %w", seq, epoch, err)
		}
		out, err := b.Marshal()
		if err != nil {
			return n, fmt.Errorf("export: bundle of event %d of epoch %d: %w", seq, epoch, err)
		}
		if err := os.WriteFile(filepath.Join(ed, strconv.FormatUint(seq, 10)+".json"), append(out, '\n'), 0o644); err != nil {
			return n, fmt.Errorf("export: %w", err)
		}
		n++
	}
	return n, nil
}

// tree holds the leaves of an epoch and the complete nodes above them,
// for inclusion proofs.
type tree struct {
	leaves [][]byte
	levels [][]merkle.Hash // levels[0]: leaf hashes; levels[l][i]: the complete node (l, i)
	want   []uint64
}

func (t *tree) append(leaf []byte) {
	t.leaves = append(t.leaves, leaf)
	h := merkle.LeafHash(leaf)
	for l := 0; ; l++ {
		if l == len(t.levels) {
			t.levels = append(t.levels, nil)
		}
		t.levels[l] = append(t.levels[l], h)
		n := len(t.levels[l])
		if n%2 == 1 {
			return
		}
		h = merkle.NodeHash(t.levels[l][n-2], t.levels[l][n-1])
	}
}

// Node implements merkle.NodeReader.
func (t *tree) Node(level uint8, index uint64) (merkle.Hash, error) {
	if int(level) < len(t.levels) && index < uint64(len(t.levels[level])) {
		return t.levels[level][index], nil
	}
	return merkle.Hash{}, fmt.Errorf("node (%d, %d) is not complete", level, index)
}

// parseCheckpointText parses the text of a signed checkpoint note: the
// lines before the blank line.
func parseCheckpointText(note []byte) (checkpoint.Checkpoint, error) {
	text, _, ok := bytes.Cut(note, []byte("\n\n"))
	if !ok {
		return checkpoint.Checkpoint{}, errors.New("not a signed note: no blank line")
	}
	return checkpoint.ParseCheckpoint(append(text, '\n'))
}
