package witness

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/waybill-eu/waybill/agent/checkpoint"
)

// ErrNoLogSignature is wrapped by [Verdict.Err] for a note without a
// signature line by the log's (the device's) key.
var ErrNoLogSignature = errors.New("no signature by the log key")

// ErrBelowThreshold is wrapped by [Verdict.Err] for a note with fewer valid
// cosignatures than the policy requires.
var ErrBelowThreshold = errors.New("too few witness cosignatures")

// Role says whose key made a signature line, as a [Policy] sees it.
type Role int

const (
	// Other is a key the policy does not know: the device's secp256k1
	// line, a witness not in the policy. Its line is not checked.
	Other Role = iota
	// Log is the device's Ed25519 note key.
	Log
	// Witness is one of the policy's witness keys.
	Witness
)

func (r Role) String() string {
	switch r {
	case Log:
		return "log"
	case Witness:
		return "witness"
	}
	return "other"
}

// Line is one signature line of a note, as a [Policy] judged it.
type Line struct {
	// Name and KeyID identify the key.
	Name  string
	KeyID uint32
	// Role says whose key it is.
	Role Role
	// Valid reports whether the signature verified; always false for
	// Role Other, whose lines are not checked.
	Valid bool
	// Time is a valid witness cosignature's time (UTC); zero otherwise.
	Time time.Time
}

// Verdict is what [Policy.Check] found in a note.
type Verdict struct {
	// Checkpoint is the note's checkpoint. It is trustworthy only if Err
	// returns nil.
	Checkpoint checkpoint.Checkpoint
	// Lines are the note's signature lines, in order.
	Lines []Line
	// Threshold is the number of valid witness cosignatures the policy
	// requires.
	Threshold int
}

// LogValid reports whether the note carries a valid signature by the log
// key.
func (v *Verdict) LogValid() bool {
	for _, l := range v.Lines {
		if l.Role == Log && l.Valid {
			return true
		}
	}
	return false
}

// Cosigners returns the valid witness cosignature lines, in note order.
func (v *Verdict) Cosigners() []Line {
	var c []Line
	for _, l := range v.Lines {
		if l.Role == Witness && l.Valid {
			c = append(c, l)
		}
	}
	return c
}

// Err returns nil if the note meets the policy: a valid signature by the
// log key, no line by a known key (log or witness) that fails to verify,
// and at least Threshold valid witness cosignatures. Otherwise it says
// what is wrong, wrapping [ErrInvalidSignature], [ErrNoLogSignature] or
// [ErrBelowThreshold]. As c2sp.org/signed-note requires, one invalid
// signature by a known key rejects the whole note.
func (v *Verdict) Err() error {
	var logSeen bool
	for _, l := range v.Lines {
		if l.Role == Log {
			logSeen = true
		}
		if l.Role != Other && !l.Valid {
			return fmt.Errorf("witness: %s signature by %s+%08x: %w", l.Role, l.Name, l.KeyID, ErrInvalidSignature)
		}
	}
	if !logSeen {
		return fmt.Errorf("witness: %w", ErrNoLogSignature)
	}
	if c := v.Cosigners(); len(c) < v.Threshold {
		names := make([]string, len(c))
		for i, l := range c {
			names[i] = l.Name
		}
		return fmt.Errorf("witness: %w: %d valid of %d required (by: %s)", ErrBelowThreshold, len(c), v.Threshold, strings.Join(names, ", "))
	}
	return nil
}

// Policy says whose signatures make a cosigned checkpoint acceptable: the
// log's (the device's) Ed25519 note key and at least Threshold of a set of
// witnesses.
type Policy struct {
	log       checkpoint.Verifier
	witnesses []*Verifier
	threshold int
}

// NewPolicy returns the policy of the log verifier key logKey (a device's
// Ed25519 note key, firmware-docs/PROTOCOL.md §7), the witness verifier keys
// witnessKeys, and a threshold between 0 and len(witnessKeys). Keys must be
// distinct.
func NewPolicy(logKey string, witnessKeys []string, threshold int) (*Policy, error) {
	lv, err := checkpoint.ParseVerifierKey(logKey)
	if err != nil {
		return nil, fmt.Errorf("witness: log key: %w", err)
	}
	p := &Policy{log: lv, threshold: threshold}
	type ref struct {
		name string
		id   uint32
	}
	seen := map[ref]bool{{lv.Name(), lv.KeyID()}: true}
	for i, s := range witnessKeys {
		wv, err := ParseVerifierKey(s)
		if err != nil {
			return nil, fmt.Errorf("witness: witness key %d: %w", i+1, err)
		}
		r := ref{wv.name, wv.id}
		if seen[r] {
			return nil, fmt.Errorf("witness: witness key %d (%s+%08x) is given twice, or is the log key", i+1, wv.name, wv.id)
		}
		seen[r] = true
		p.witnesses = append(p.witnesses, wv)
	}
	if threshold < 0 || threshold > len(p.witnesses) {
		return nil, fmt.Errorf("witness: threshold %d is not between 0 and the %d witness keys", threshold, len(p.witnesses))
	}
	return p, nil
}

// Check parses a signed checkpoint note and verifies every signature line
// by a key the policy knows. It returns an error only for a note it cannot
// judge: a malformed note (wrapping checkpoint.ErrMalformed) or a text that
// is not a checkpoint without extension lines ([ErrNotCheckpoint]). Whether
// the note meets the policy is [Verdict.Err].
func (p *Policy) Check(note []byte) (*Verdict, error) {
	n, c, err := readNote(note)
	if err != nil {
		return nil, err
	}
	text := []byte(n.Text)
	v := &Verdict{Checkpoint: c, Threshold: p.threshold, Lines: make([]Line, 0, len(n.Unverified))}
	for _, s := range n.Unverified {
		l := Line{Name: s.Name, KeyID: s.KeyID}
		switch {
		case s.Name == p.log.Name() && s.KeyID == p.log.KeyID():
			l.Role, l.Valid = Log, p.log.Verify(text, s.Sig)
		default:
			for _, w := range p.witnesses {
				if s.Name == w.name && s.KeyID == w.id {
					l.Role = Witness
					l.Time, l.Valid = w.verify(text, s.Sig)
					break
				}
			}
		}
		v.Lines = append(v.Lines, l)
	}
	return v, nil
}

// Check is [NewPolicy] followed by [Policy.Check].
func Check(note []byte, logKey string, witnessKeys []string, threshold int) (*Verdict, error) {
	p, err := NewPolicy(logKey, witnessKeys, threshold)
	if err != nil {
		return nil, err
	}
	return p.Check(note)
}
