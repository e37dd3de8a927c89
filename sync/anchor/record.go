package anchor

import (
	"encoding/json"
	"fmt"
	"math/big"
	"time"

	"github.com/waybill-eu/waybill/agent/checkpoint"
	"github.com/waybill-eu/waybill/agent/merkle"
)

// State is where an anchor is in its lifecycle.
type State string

const (
	// StateSigned: a transaction is signed and stored, and no node has yet
	// accepted it (or it must be sent again after a reorg dropped it).
	StateSigned State = "signed"
	// StateSent: a node accepted the current transaction, or refused it in a
	// way that only time or higher fees cure; no receipt yet.
	StateSent State = "sent"
	// StateMined: one of the anchor's transactions is in a block that is
	// not final yet by the chain's finality rule.
	StateMined State = "mined"
	// StateConfirmed: the including block is final and its hash was
	// re-checked; the evidence is complete.
	StateConfirmed State = "confirmed"
	// StateFailed: the transaction was included, final, and failed (an EVM
	// revert): the checkpoint is not anchored. The nonce is spent.
	StateFailed State = "failed"
)

func (s State) valid() bool {
	switch s {
	case StateSigned, StateSent, StateMined, StateConfirmed, StateFailed:
		return true
	}
	return false
}

// inFlight reports whether the anchor still needs the loop's attention.
func (s State) inFlight() bool { return s == StateSigned || s == StateSent || s == StateMined }

// Anchor is one anchoring of a checkpoint: the checkpoint, every transaction
// signed for it (replacements have the same nonce and higher fees), and once
// included the block and receipt. Confirmed anchors are the local evidence
// that the checkpoint is on the ledger (see Evidence).
type Anchor struct {
	// ID numbers anchors in the order they were created, from 1.
	ID uint64
	// State is the lifecycle state.
	State State
	// Origin, Size and Root are the anchored checkpoint's.
	Origin string
	Size   uint64
	Root   merkle.Hash
	// Note is the signed checkpoint note.
	Note []byte
	// PrevSize and PrevRoot are the previous confirmed anchor's checkpoint
	// of the same origin (PrevSize 0 when there is none), and Consistency
	// the RFC 9162 proof from it to this checkpoint.
	PrevSize    uint64
	PrevRoot    merkle.Hash
	Consistency []merkle.Hash
	// Nonce is the nonce of the current transaction.
	Nonce uint64
	// Attempts are the transactions signed for this anchor, oldest first.
	Attempts []Attempt
	// Current indexes the attempt the loop sends or rebroadcasts.
	Current int
	// Included indexes the attempt the ledger included, or is -1.
	Included int
	// BlockNumber, BlockHash, Receipt and GasUsed describe the inclusion
	// (zero while Included is -1). Receipt is the ledger's JSON.
	BlockNumber uint64
	BlockHash   Hash
	Receipt     json.RawMessage
	GasUsed     uint64
	// Reverted is set when the included transaction failed.
	Reverted bool
	// Created is when the first transaction was signed; Confirmed when the
	// anchor became final (zero before).
	Created   time.Time
	Confirmed time.Time
	// Reorgs counts the times the including block left the canonical chain.
	Reorgs int
	// NonceUsedAt is when a node first said the nonce was taken while no
	// receipt of the anchor's transactions could be found; zero otherwise.
	NonceUsedAt time.Time
}

// Attempt is one signed transaction of an anchor.
type Attempt struct {
	// Hash, Raw, Ledger, Nonce, Fees and Gas are the transaction's (see Tx).
	Hash   Hash
	Raw    []byte
	Ledger string
	Nonce  uint64
	Fees   Fees
	Gas    uint64
	// Payload, To and Endpoint say what the transaction carries and where
	// it goes (see Tx); empty in records written before they were kept.
	Payload  string
	To       string
	Endpoint string
	// Signed is when it was signed and stored; Sent the last time a node
	// accepted it (zero if none has).
	Signed time.Time
	Sent   time.Time
	// Error is the node's last refusal of it, or "".
	Error string
}

// request rebuilds the Backend request the anchor's transactions carry.
func (an *Anchor) request() Request {
	r := Request{
		Note:        an.Note,
		Checkpoint:  checkpoint.Checkpoint{Origin: an.Origin, Size: an.Size, Root: an.Root},
		Consistency: an.Consistency,
	}
	if an.PrevSize > 0 {
		r.Prev = &checkpoint.Checkpoint{Origin: an.Origin, Size: an.PrevSize, Root: an.PrevRoot}
	}
	return r
}

// Clone returns a deep copy of an.
func (an *Anchor) Clone() *Anchor {
	if an == nil {
		return nil
	}
	c := *an
	c.Note = append([]byte(nil), an.Note...)
	c.Consistency = append([]merkle.Hash(nil), an.Consistency...)
	c.Receipt = append(json.RawMessage(nil), an.Receipt...)
	c.Attempts = make([]Attempt, len(an.Attempts))
	for i, at := range an.Attempts {
		at.Raw = append([]byte(nil), at.Raw...)
		at.Fees = Fees{Tip: new(big.Int).Set(bigOr0(at.Fees.Tip)), Cap: new(big.Int).Set(bigOr0(at.Fees.Cap))}
		c.Attempts[i] = at
	}
	return &c
}

// Queued is the newest checkpoint waiting for the ledger: the policy asked
// for an anchor while the ledger was unreachable. Only the newest waits;
// the log keeps the older ones, and anchoring the newest covers them.
type Queued struct {
	// Origin, Size, Root and Note are the checkpoint's.
	Origin string
	Size   uint64
	Root   merkle.Hash
	Note   []byte
	// Since is when the first checkpoint of this wait was queued; Updated
	// when this one was.
	Since   time.Time
	Updated time.Time
	// Superseded counts the older queued checkpoints this one replaced.
	Superseded int
}

// anchorJSON is the stored form of an Anchor (one value in the store's
// anchors bucket).
type anchorJSON struct {
	ID          uint64          `json:"id"`
	State       State           `json:"state"`
	Origin      string          `json:"origin"`
	Size        uint64          `json:"size"`
	Root        b64Hash         `json:"root"`
	Note        string          `json:"note"`
	PrevSize    uint64          `json:"prev_size,omitempty"`
	PrevRoot    *b64Hash        `json:"prev_root,omitempty"`
	Consistency []b64Hash       `json:"consistency,omitempty"`
	Nonce       uint64          `json:"nonce"`
	Attempts    []attemptJSON   `json:"attempts"`
	Current     int             `json:"current"`
	Included    int             `json:"included"`
	BlockNumber uint64          `json:"block_number,omitempty"`
	BlockHash   *Hash           `json:"block_hash,omitempty"`
	Receipt     json.RawMessage `json:"receipt,omitempty"`
	GasUsed     uint64          `json:"gas_used,omitempty"`
	Reverted    bool            `json:"reverted,omitempty"`
	Created     time.Time       `json:"created"`
	Confirmed   time.Time       `json:"confirmed,omitzero"`
	Reorgs      int             `json:"reorgs,omitempty"`
	NonceUsedAt time.Time       `json:"nonce_used_at,omitzero"`
}

type attemptJSON struct {
	Hash   Hash      `json:"hash"`
	Raw    hexBytes  `json:"raw"`
	Ledger string    `json:"ledger"`
	Nonce  uint64    `json:"nonce"`
	Tip    *decimal  `json:"tip"`
	FeeCap *decimal  `json:"fee_cap"`
	Gas    uint64    `json:"gas"`
	Signed time.Time `json:"signed"`
	Sent   time.Time `json:"sent,omitzero"`
	Error  string    `json:"error,omitempty"`
	// Payload, To and Endpoint are absent from records written before they
	// were kept.
	Payload  string `json:"payload,omitempty"`
	To       string `json:"to,omitempty"`
	Endpoint string `json:"endpoint,omitempty"`
}

// MarshalJSON encodes an as the store keeps it: hashes of the ledger as 0x
// hex, Merkle hashes in base64, fees as decimal strings, times in RFC 3339.
func (an *Anchor) MarshalJSON() ([]byte, error) {
	j := anchorJSON{
		ID: an.ID, State: an.State, Origin: an.Origin, Size: an.Size, Root: b64Hash(an.Root),
		Note: string(an.Note), PrevSize: an.PrevSize, Nonce: an.Nonce, Current: an.Current,
		Included: an.Included, BlockNumber: an.BlockNumber, Receipt: an.Receipt, GasUsed: an.GasUsed,
		Reverted: an.Reverted, Created: an.Created.UTC(), Confirmed: utcOrZero(an.Confirmed),
		Reorgs: an.Reorgs, NonceUsedAt: utcOrZero(an.NonceUsedAt),
		Attempts: make([]attemptJSON, len(an.Attempts)),
	}
	if an.PrevSize > 0 {
		r := b64Hash(an.PrevRoot)
		j.PrevRoot = &r
		j.Consistency = b64Hashes(an.Consistency)
	}
	if an.Included >= 0 {
		h := an.BlockHash
		j.BlockHash = &h
	}
	for i, at := range an.Attempts {
		j.Attempts[i] = attemptJSON{
			Hash: at.Hash, Raw: at.Raw, Ledger: at.Ledger, Nonce: at.Nonce,
			Tip: dec(at.Fees.Tip), FeeCap: dec(at.Fees.Cap), Gas: at.Gas,
			Signed: at.Signed.UTC(), Sent: utcOrZero(at.Sent), Error: at.Error,
			Payload: at.Payload, To: at.To, Endpoint: at.Endpoint,
		}
	}
	return json.Marshal(j)
}

// UnmarshalJSON decodes the form MarshalJSON writes and checks that it is
// self-consistent; an is unchanged on error.
func (an *Anchor) UnmarshalJSON(b []byte) error {
	var j anchorJSON
	if err := strictUnmarshal(b, &j); err != nil {
		return err
	}
	a := Anchor{
		ID: j.ID, State: j.State, Origin: j.Origin, Size: j.Size, Root: merkle.Hash(j.Root),
		Note: []byte(j.Note), PrevSize: j.PrevSize, Nonce: j.Nonce, Current: j.Current,
		Included: j.Included, BlockNumber: j.BlockNumber, Receipt: j.Receipt, GasUsed: j.GasUsed,
		Reverted: j.Reverted, Created: j.Created, Confirmed: j.Confirmed, Reorgs: j.Reorgs,
		NonceUsedAt: j.NonceUsedAt, Consistency: merkleHashes(j.Consistency),
	}
	if j.PrevRoot != nil {
		a.PrevRoot = merkle.Hash(*j.PrevRoot)
	}
	if j.BlockHash != nil {
		a.BlockHash = *j.BlockHash
	}
	for i, at := range j.Attempts {
		if at.Tip == nil || at.FeeCap == nil {
			return fmt.Errorf("anchor %d: attempt %d: missing fees", j.ID, i)
		}
		a.Attempts = append(a.Attempts, Attempt{
			Hash: at.Hash, Raw: at.Raw, Ledger: at.Ledger, Nonce: at.Nonce,
			Fees: Fees{Tip: (*big.Int)(at.Tip), Cap: (*big.Int)(at.FeeCap)}, Gas: at.Gas,
			Signed: at.Signed, Sent: at.Sent, Error: at.Error,
			Payload: at.Payload, To: at.To, Endpoint: at.Endpoint,
		})
	}
	if err := a.check(); err != nil {
		return err
	}
	*an = a
	return nil
}

// check reports whether a stored anchor is self-consistent.
func (an *Anchor) check() error {
	switch {
	case an.ID == 0:
		return fmt.Errorf("anchor: record has no id")
	case !an.State.valid():
		return fmt.Errorf("anchor %d: unknown state %q", an.ID, an.State)
	case an.Origin == "" || len(an.Note) == 0:
		return fmt.Errorf("anchor %d: no checkpoint", an.ID)
	case len(an.Attempts) == 0:
		return fmt.Errorf("anchor %d: no transaction", an.ID)
	case an.Current < 0 || an.Current >= len(an.Attempts):
		return fmt.Errorf("anchor %d: current attempt %d out of range", an.ID, an.Current)
	case an.Included < -1 || an.Included >= len(an.Attempts):
		return fmt.Errorf("anchor %d: included attempt %d out of range", an.ID, an.Included)
	case (an.State == StateMined || an.State == StateConfirmed || an.State == StateFailed) != (an.Included >= 0):
		return fmt.Errorf("anchor %d: state %s with included attempt %d", an.ID, an.State, an.Included)
	case an.PrevSize > an.Size:
		return fmt.Errorf("anchor %d: previous size %d exceeds size %d", an.ID, an.PrevSize, an.Size)
	}
	for i, at := range an.Attempts {
		if len(at.Raw) == 0 || at.Hash.IsZero() {
			return fmt.Errorf("anchor %d: attempt %d has no transaction", an.ID, i)
		}
	}
	return nil
}

func utcOrZero(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC()
}

// queuedJSON is the stored form of Queued.
type queuedJSON struct {
	Origin     string    `json:"origin"`
	Size       uint64    `json:"size"`
	Root       b64Hash   `json:"root"`
	Note       string    `json:"note"`
	Since      time.Time `json:"since"`
	Updated    time.Time `json:"updated"`
	Superseded int       `json:"superseded"`
}

// MarshalJSON encodes q as the store keeps it.
func (q *Queued) MarshalJSON() ([]byte, error) {
	return json.Marshal(queuedJSON{
		Origin: q.Origin, Size: q.Size, Root: b64Hash(q.Root), Note: string(q.Note),
		Since: q.Since.UTC(), Updated: q.Updated.UTC(), Superseded: q.Superseded,
	})
}

// UnmarshalJSON decodes the form MarshalJSON writes; q is unchanged on error.
func (q *Queued) UnmarshalJSON(b []byte) error {
	var j queuedJSON
	if err := strictUnmarshal(b, &j); err != nil {
		return err
	}
	*q = Queued{
		Origin: j.Origin, Size: j.Size, Root: merkle.Hash(j.Root), Note: []byte(j.Note),
		Since: j.Since, Updated: j.Updated, Superseded: j.Superseded,
	}
	return nil
}
