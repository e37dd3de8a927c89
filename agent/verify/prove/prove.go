// Package prove makes the proofs of a Waybill log in the formats package
// verify reads, so that each format's writer sits beside its reader: the
// proof bundle of one event ([verify.Bundle], firmware-docs/PROTOCOL.md
// §8), as JSON or as a C2SP tlog-proof, and the consistency proof between
// two tree sizes ([verify.Consistency]). It also writes the log's events
// as the lines of `waybill log show`, which carry the leaves that a proof
// of a pruned event is made from.
//
// The waybill CLI calls it when it opens the log itself, and the local API
// (package localapi) when it answers the same request for a running
// agent, so both print identical bytes.
package prove

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"

	"github.com/waybill-eu/waybill/agent/checkpoint"
	"github.com/waybill-eu/waybill/agent/event"
	"github.com/waybill-eu/waybill/agent/eventlog"
	"github.com/waybill-eu/waybill/agent/jcs"
	"github.com/waybill-eu/waybill/agent/merkle"
	"github.com/waybill-eu/waybill/agent/verify"
)

// The formats Encode writes a bundle in.
const (
	FormatJSON      = "json"       // the bundle's canonical JSON, one line
	FormatTlogProof = "tlog-proof" // the C2SP tlog-proof text form
)

// Bundle assembles the proof bundle of event seq against the signed
// checkpoint of size size (0: the latest checkpoint), and verifies it
// (verify.NewBundle).
//
// leaf, when not nil, is the event's leaf as its holder has it (from a
// feed message or a saved `waybill log show` line): the proof is then made
// from the log's stored hash, which the leaf must match, so that an event
// whose payload retention pruned can still be proven.
func Bundle(l *eventlog.Log, seq, size uint64, leaf []byte) (*verify.Bundle, error) {
	var note []byte
	var err error
	if size == 0 {
		var c checkpoint.Checkpoint
		note, c, err = Latest(l)
		if err != nil {
			return nil, err
		}
		size = c.Size
	} else if note, err = l.CheckpointAt(size); err != nil {
		return nil, err
	}
	if seq >= size {
		return nil, fmt.Errorf("event %d is not covered by the checkpoint of size %d; sign a newer checkpoint first (waybill log checkpoint --key …)", seq, size)
	}
	var proof []merkle.Hash
	if leaf == nil {
		leaf, proof, err = l.ProveInclusion(seq, size)
		if errors.Is(err, eventlog.ErrPruned) {
			return nil, fmt.Errorf("%w; to prove it, give the event as its holder has it (a feed message or a saved `waybill log show` line): waybill log prove --seq %d --leaf FILE", err, seq)
		}
	} else {
		var h merkle.Hash
		h, proof, err = l.InclusionProof(seq, size)
		if err == nil && merkle.LeafHash(leaf) != h {
			err = fmt.Errorf("the event given is not event %d of this log: its leaf hash is %s, the log's is %s", seq, merkle.LeafHash(leaf), h)
		}
	}
	if err != nil {
		return nil, err
	}
	return verify.NewBundle(leaf, l.Identity().Domain(), note, proof)
}

// Encode returns b in format: FormatJSON (its canonical JSON and a
// newline, as `waybill log prove` prints it) or FormatTlogProof; "" is
// FormatJSON.
func Encode(b *verify.Bundle, format string) ([]byte, error) {
	switch format {
	case "", FormatJSON:
		out, err := b.Marshal()
		if err != nil {
			return nil, err
		}
		return append(out, '\n'), nil
	case FormatTlogProof:
		return []byte(b.TlogProof()), nil
	}
	return nil, fmt.Errorf("unknown proof format %q (want %s or %s)", format, FormatJSON, FormatTlogProof)
}

// Consistency returns the consistency proof between the tree sizes from
// and to as `waybill log consistency` prints it: its canonical JSON
// ([verify.Consistency.Marshal]) and a newline.
func Consistency(l *eventlog.Log, from, to uint64) ([]byte, error) {
	o, n, p, err := l.ProveConsistency(from, to)
	if err != nil {
		return nil, err
	}
	c := &verify.Consistency{OldSize: from, NewSize: to, OldRoot: o, NewRoot: n, Proof: p}
	out, err := c.Marshal()
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}

// Latest returns the log's latest signed checkpoint. Without one, the error
// wraps eventlog.ErrNoCheckpoint and says how to sign one.
func Latest(l *eventlog.Log) ([]byte, checkpoint.Checkpoint, error) {
	note, c, err := l.Latest()
	if errors.Is(err, eventlog.ErrNoCheckpoint) {
		return nil, c, fmt.Errorf("%w; sign one with: waybill log checkpoint --data %s --key …", err, l.Dir())
	}
	return note, c, err
}

// Events writes events [from, from+limit) as the lines of `waybill log
// show`: each line is the event's canonical object with one more member,
// "leaf", the standard base64 of the exact leaf bytes (ParseEventLine reads
// it back). limit 0 means to the end. The lines before an event that
// cannot be read are written whole.
func Events(w io.Writer, l *eventlog.Log, from, limit uint64) error {
	bw := bufio.NewWriter(w)
	err := l.Range(from, limit, func(seq uint64, leaf []byte) error {
		if len(leaf) < 2 || leaf[len(leaf)-1] != '}' {
			return fmt.Errorf("event %d: malformed leaf", seq)
		}
		bw.Write(leaf[:len(leaf)-1])
		bw.WriteString(`,"leaf":"`)
		bw.WriteString(base64.StdEncoding.EncodeToString(leaf))
		_, err := bw.WriteString("\"}\n")
		return err
	})
	if err != nil {
		bw.Flush() // the events before the one that failed are intact
		return err
	}
	return bw.Flush()
}

// ParseEventLine parses one line that Events writes (its final newline
// optional) and returns its event. It accepts only those exact bytes: the
// event's leaf without its closing brace, then ,"leaf":"…"} with the
// canonical standard base64 of the leaf, a valid event leaf (event.Parse).
func ParseEventLine(line []byte) (*event.Signed, error) {
	line = bytes.TrimSuffix(line, []byte("\n"))
	const member = `,"leaf":"`
	i := bytes.LastIndex(line, []byte(member))
	if i < 0 || !bytes.HasSuffix(line, []byte(`"}`)) || i+len(member) > len(line)-2 {
		return nil, errors.New("log show line: no \"leaf\" member at its end")
	}
	leaf, err := jcs.DecodeBase64(`log show line: "leaf"`, string(line[i+len(member):len(line)-2]))
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(append(bytes.Clone(line[:i]), '}'), leaf) {
		return nil, errors.New("log show line: the event members are not the leaf's bytes")
	}
	s, err := event.Parse(leaf)
	if err != nil {
		return nil, fmt.Errorf("log show line: leaf: %w", err)
	}
	return s, nil
}
