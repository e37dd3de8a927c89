// Package watch is the verification core of a feed watcher: it checks every
// message of the devices' feeds (firmware-docs/FEED.md) on its own and each
// device's log over time, and writes what it verified to an Archive. The
// states and reason codes are specified in firmware-docs/WATCH.md.
package watch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/waybill-eu/waybill/agent/checkpoint"
	"github.com/waybill-eu/waybill/agent/event"
	"github.com/waybill-eu/waybill/agent/merkle"
	"github.com/waybill-eu/waybill/agent/signer"
	"github.com/waybill-eu/waybill/agent/verify"
	"github.com/waybill-eu/waybill/sync/feed"
	"github.com/waybill-eu/waybill/sync/witness"
)

// Device is one trusted device: its address, the fleet and chain ID of the
// domain it signs in, and the verifier key of its Ed25519 note key (the
// vkey `waybill keygen` prints).
type Device struct {
	Address event.Address
	Fleet   string
	ChainID uint64
	NoteKey string
}

// Operator is an operator whose devices the watcher trusts.
type Operator struct {
	Name    string
	Devices []Device
}

// Trust is the allowlist: every device the watcher accepts messages from.
type Trust struct {
	Operators []Operator
}

// State is the state of an event or a checkpoint (firmware-docs/WATCH.md).
type State string

// The states.
const (
	// StateReceived: a checkpoint whose signatures verify, waiting for
	// the events it covers before its root can be recomputed.
	StateReceived State = "received"
	// StateVerified: an event whose message and signature verify, in the
	// archive; or a checkpoint whose root and consistency were checked.
	StateVerified State = "verified"
	// StateCheckpointed: a verified event covered by a verified checkpoint.
	StateCheckpointed State = "checkpointed"
	// StateAnchored: a checkpointed event covered by a final anchor that
	// matches the archived leaves.
	StateAnchored State = "anchored"
	// StateWitnessed: an anchored event covered by a checkpoint the
	// watcher cosigned.
	StateWitnessed State = "witnessed"
	// StateRejected: refused, with a Reason.
	StateRejected State = "rejected"
	// StateIgnored: a message of a channel the core does not verify
	// (status, anchors).
	StateIgnored State = "ignored"
)

// Reason is why a message was rejected (firmware-docs/WATCH.md).
type Reason string

// The reason codes.
const (
	ReasonBadTopic       Reason = "bad_topic"       // not a feed topic
	ReasonOversized      Reason = "oversized"       // larger than the channel's limit
	ReasonMalformed      Reason = "malformed"       // not the exact canonical form, or fields disagree with the leaf
	ReasonUnknownDevice  Reason = "unknown_device"  // the device is not in the allowlist (or not in that fleet)
	ReasonBadSignature   Reason = "bad_signature"   // a signature does not verify for the trusted device
	ReasonWrongDomain    Reason = "wrong_domain"    // a domain message disagrees with the allowlist
	ReasonEquivocation   Reason = "equivocation"    // a different event under a sequence number already seen
	ReasonRootMismatch   Reason = "root_mismatch"   // a checkpoint root differs from the root of the archived leaves
	ReasonInconsistent   Reason = "inconsistent"    // a checkpoint not consistent with an earlier one of its origin
	ReasonAnchorMismatch Reason = "anchor_mismatch" // an anchored root that the archived leaves of its origin do not give
)

// Reasons lists every reason code.
var Reasons = []Reason{ReasonBadTopic, ReasonOversized, ReasonMalformed, ReasonUnknownDevice, ReasonBadSignature,
	ReasonWrongDomain, ReasonEquivocation, ReasonRootMismatch, ReasonInconsistent, ReasonAnchorMismatch}

// Gap is a range of sequence numbers [From, To) missing from an origin
// below a sequence number already received.
type Gap struct {
	From, To uint64
}

// Verdict is what the watcher concluded from one message or anchor.
type Verdict struct {
	Topic    string
	Channel  string // feed.ChannelEvents, ChannelCheckpoints, …, ChannelAnchors for HandleAnchor; empty if the topic is not a feed topic
	Device   event.Address
	Operator string
	Epoch    uint32
	Seq      uint64 // events: the event's sequence number
	Size     uint64 // checkpoints and anchors: the size
	State    State
	Reason   Reason // set when State is StateRejected
	Err      error  // why, when State is StateRejected
	// Duplicate is set for a checkpoint equal to the latest one the
	// watcher verified of its origin (State is StateVerified; nothing is
	// cosigned or stored again), and for an event byte-identical to one already
	// archived under its key; it is dropped and State is its state.
	Duplicate bool
	// NewEpoch is set for the first message of an epoch of a device whose
	// earlier epochs the archive holds.
	NewEpoch bool
	// Gaps are the open gaps of the origin after the message.
	Gaps []Gap
	// Checkpoints are the verdicts of checkpoints waiting in
	// StateReceived that this message's event completed.
	Checkpoints []Verdict
	// Anchors are the verdicts of anchors waiting in StateReceived that
	// this message's event completed.
	Anchors []Verdict
	// Cosigned is set for a checkpoint the watcher cosigned.
	Cosigned bool
	// Alarm is the alarm the verdict raised, if it is new to the archive.
	Alarm *Alarm
}

// Cosigned is a checkpoint the watcher cosigned, as stored in the archive.
type Cosigned struct {
	Device   event.Address
	Fleet    string
	Operator string
	Epoch    uint32
	Size     uint64
	// Note is the device's checkpoint note with the watcher's
	// tlog-cosignature line (firmware-docs/WITNESS.md).
	Note []byte
}

// Options are the watcher's optional settings.
type Options struct {
	// Witness, if set, is the key the watcher cosigns the checkpoints it
	// verified with (firmware-docs/WITNESS.md); without it the watcher
	// cosigns nothing and no event becomes StateWitnessed.
	Witness *witness.Key
	// OnCosigned, if set, is called with each checkpoint the watcher
	// cosigned, after the archive stored it, for example to publish it.
	// It is called with the lock of the checkpoint's device held, for
	// different devices at once: it must be safe for concurrent use and
	// must not call the Watcher.
	OnCosigned func(context.Context, Cosigned)
	// Now returns the time of records, alarms and cosignatures; nil is
	// time.Now.
	Now func() time.Time
	// Logger logs what the verdicts do not carry (a cosignature that
	// could not be made); nil is slog.Default().
	Logger *slog.Logger
}

// origin is the watcher's state of one log: device and epoch.
type origin struct {
	next       uint64              // every seq below is archived
	above      map[uint64]struct{} // archived seqs above next
	latest     *checkpoint.Checkpoint
	latestNote []byte
	// verifiedHere is the size of the latest checkpoint when this
	// watcher verified it itself (not loaded from the archive).
	verifiedHere uint64
	// front is the tree of the first latest.Size archived leaves (the
	// empty tree without a latest checkpoint).
	front   *merkle.Frontier
	roots   map[uint64]merkle.Hash // roots of verified checkpoints, by size
	pending map[uint64][]byte      // size → checkpoint note waiting for leaves
	anchors map[AnchorKey]Anchor   // anchors waiting for leaves
	prog    Progress               // the archive's progress, as this watcher last read or raised it
	// forked is set once an alarm of a fork of the origin is archived:
	// the watcher then cosigns none of its checkpoints.
	forked bool
	// recorded is set once the epoch is in the archive's epochs.
	recorded bool
}

type trusted struct {
	Device
	operator  string
	verifiers []checkpoint.Verifier
	// mu serializes the handling of the device's messages and anchors
	// after their own checks: it guards the device's origins.
	mu sync.Mutex
}

// Watcher verifies feed messages and ledger anchors. Its methods are safe
// for concurrent use: messages of different devices are handled
// concurrently, those of one device one at a time.
type Watcher struct {
	arc     Archive
	devices map[event.Address]*trusted
	opts    Options
	now     func() time.Time
	log     *slog.Logger

	// untrusted serializes Gaps of devices outside the allowlist, whose
	// origins no message touches.
	untrusted sync.Mutex

	mu      sync.Mutex      // guards the map origins, not its values
	origins map[Key]*origin // Seq unused; each value guarded by its device's lock

	forkedMu sync.Mutex
	// forked holds the origins with an alarm of a fork in the archive
	// when the watcher first loaded an origin (Seq unused).
	forked map[Key]bool
}

// lock locks the state of device's origins and returns the function that
// unlocks it.
func (w *Watcher) lock(device event.Address) (unlock func()) {
	mu := &w.untrusted
	if td := w.devices[device]; td != nil {
		mu = &td.mu
	}
	mu.Lock()
	return mu.Unlock
}

// New returns a watcher of the devices of t writing to a, with no witness
// key. It refuses a trust configuration with an invalid domain, a bad note
// key or a device listed twice.
func New(t Trust, a Archive) (*Watcher, error) { return NewWithOptions(t, a, Options{}) }

// NewWithOptions is New with options.
func NewWithOptions(t Trust, a Archive, o Options) (*Watcher, error) {
	w := &Watcher{arc: a, devices: map[event.Address]*trusted{}, origins: map[Key]*origin{}, opts: o, now: o.Now, log: o.Logger}
	if w.now == nil {
		w.now = time.Now
	}
	if w.log == nil {
		w.log = slog.Default()
	}
	for _, op := range t.Operators {
		for i, d := range op.Devices {
			where := fmt.Sprintf("operator %q device %d (%s)", op.Name, i, d.Address)
			if _, dup := w.devices[d.Address]; dup {
				return nil, fmt.Errorf("watch: %s: listed twice", where)
			}
			if err := (signer.Domain{ChainID: d.ChainID, Fleet: d.Fleet}).Validate(); err != nil {
				return nil, fmt.Errorf("watch: %s: %w", where, err)
			}
			td := &trusted{Device: d, operator: op.Name}
			if d.NoteKey != "" {
				v, err := checkpoint.ParseVerifierKey(d.NoteKey)
				if err != nil {
					return nil, fmt.Errorf("watch: %s: note key: %w", where, err)
				}
				if want := signer.KeyName(d.Fleet, d.Address); v.Name() != want {
					return nil, fmt.Errorf("watch: %s: note key is named %q, want %q", where, v.Name(), want)
				}
				td.verifiers = []checkpoint.Verifier{v}
			}
			w.devices[d.Address] = td
		}
	}
	return w, nil
}

// Handle verifies one message received on topic. The verdict says what
// became of it. An error means the archive failed: nothing was concluded,
// and the message must be delivered again.
func (w *Watcher) Handle(ctx context.Context, topic string, payload []byte) (Verdict, error) {
	v := Verdict{Topic: topic}
	fleet, device, channel, err := feed.ParseTopic(topic)
	if err != nil {
		return w.reject(ctx, v, payload, ReasonBadTopic, err)
	}
	v.Channel, v.Device = channel, device
	td := w.devices[device]
	if td == nil || td.Fleet != fleet {
		return w.reject(ctx, v, payload, ReasonUnknownDevice, fmt.Errorf("device %s of fleet %q is not in the allowlist", device, fleet))
	}
	v.Operator = td.operator
	switch channel {
	case feed.ChannelEvents:
		return w.handleEvent(ctx, v, td, payload)
	case feed.ChannelCheckpoints:
		return w.handleCheckpoint(ctx, v, td, payload)
	case feed.ChannelDomain:
		m, err := feed.ParseDomain(payload)
		if err != nil {
			return w.reject(ctx, v, payload, ReasonMalformed, err)
		}
		if m.Fleet != td.Fleet || m.Device != device || m.ChainID != td.ChainID {
			return w.reject(ctx, v, payload, ReasonWrongDomain,
				fmt.Errorf("domain message names fleet %q device %s chain %d, the allowlist fleet %q chain %d", m.Fleet, m.Device, m.ChainID, td.Fleet, td.ChainID))
		}
		v.State = StateVerified
		return v, nil
	}
	v.State = StateIgnored
	return v, nil
}

// reject keeps the message as evidence and returns the verdict.
func (w *Watcher) reject(ctx context.Context, v Verdict, payload []byte, r Reason, err error) (Verdict, error) {
	v.State, v.Reason, v.Err = StateRejected, r, err
	rec := Record{Time: w.now().UTC(), Topic: v.Topic, Payload: payload, Reason: r, Detail: err.Error()}
	if aerr := w.arc.PutRejected(ctx, rec); aerr != nil {
		return v, aerr
	}
	return v, nil
}

// alarm archives an alarm of v's origin with evidence, marks the origin
// forked, and sets v.Alarm if the alarm is new.
func (w *Watcher) alarm(ctx context.Context, v *Verdict, o *origin, r Reason, detail error, evidence []byte) error {
	a := Alarm{Time: w.now().UTC(), Device: v.Device, Epoch: v.Epoch, Reason: r, Detail: detail.Error(), Evidence: evidence}
	added, err := w.arc.PutAlarm(ctx, a)
	if err != nil {
		return err
	}
	o.forked = true
	if added {
		v.Alarm = &a
	}
	return nil
}

func (w *Watcher) handleEvent(ctx context.Context, v Verdict, td *trusted, payload []byte) (Verdict, error) {
	if len(payload) > feed.MaxMessage {
		return w.reject(ctx, v, payload, ReasonOversized, fmt.Errorf("event message is %d bytes, more than the limit of %d", len(payload), feed.MaxMessage))
	}
	m, err := feed.ParseMessage(payload)
	if err != nil {
		return w.reject(ctx, v, payload, ReasonMalformed, err)
	}
	v.Epoch, v.Seq = m.Event.Epoch, m.Seq
	if err := feed.Verify(m, signer.Domain{ChainID: td.ChainID, Fleet: td.Fleet}, td.Address); err != nil {
		return w.reject(ctx, v, payload, ReasonBadSignature, err)
	}
	defer w.lock(td.Address)()
	o, err := w.origin(ctx, &v, td.Address, m.Event.Epoch)
	if err != nil {
		return v, err
	}
	k := Key{Device: td.Address, Epoch: m.Event.Epoch, Seq: m.Seq}
	prev, err := w.arc.PutEvent(ctx, k, m.Leaf)
	if err != nil {
		return v, err
	}
	if prev != nil {
		if string(prev) != string(m.Leaf) {
			v.Gaps = o.gaps()
			why := fmt.Errorf("event %d of %s is not the event archived under that sequence number (leaf hash %s, archived %s)",
				m.Seq, m.Origin, merkle.LeafHash(m.Leaf), merkle.LeafHash(prev))
			ev, err := (&verify.Fork{Kind: verify.ForkEvents, Origin: m.Origin, ChainID: td.ChainID, NoteKey: td.NoteKey, A: prev, B: m.Leaf}).Marshal()
			if err != nil {
				return v, fmt.Errorf("watch: equivocation evidence: %w", err)
			}
			if err := w.alarm(ctx, &v, o, ReasonEquivocation, why, ev); err != nil {
				return v, err
			}
			return w.reject(ctx, v, payload, ReasonEquivocation, why)
		}
		v.Duplicate = true
	}
	// A duplicate may still be new to this watcher: another watcher on
	// the archive, or an attempt whose answer was lost, stored it.
	if !o.has(m.Seq) {
		o.add(m.Seq)
		if prev == nil {
			o.prog.Events++
		}
	}
	// Settle even a duplicate: the attempt it repeats may have failed
	// after archiving the event, before its checkpoints were settled.
	if err := w.settle(ctx, &v, td, m.Event.Epoch, o); err != nil {
		return v, err
	}
	v.State = o.prog.State(m.Seq)
	v.Gaps = o.gaps()
	return v, nil
}

func (w *Watcher) handleCheckpoint(ctx context.Context, v Verdict, td *trusted, note []byte) (Verdict, error) {
	if len(note) > verify.MaxSize {
		return w.reject(ctx, v, note, ReasonOversized, fmt.Errorf("checkpoint note is %d bytes, more than the limit of %d", len(note), verify.MaxSize))
	}
	n, err := verify.VerifyNote(note, verify.Options{Device: &td.Address, Fleet: td.Fleet, ChainID: td.ChainID, Verifiers: td.verifiers})
	if err != nil {
		if errors.Is(err, verify.ErrMalformed) {
			return w.reject(ctx, v, note, ReasonMalformed, err)
		}
		return w.reject(ctx, v, note, ReasonBadSignature, err)
	}
	v.Epoch, v.Size = n.Epoch, n.Checkpoint.Size
	defer w.lock(td.Address)()
	o, err := w.origin(ctx, &v, td.Address, n.Epoch)
	if err != nil {
		return v, err
	}
	v.Gaps = o.gaps()
	if l := o.latest; l != nil && l.Size > 0 && o.verifiedHere == l.Size && l.Size == n.Checkpoint.Size && l.Root == n.Checkpoint.Root {
		// The checkpoint this watcher verified last, again: delivered
		// again, or verified already from the archive's received
		// checkpoints (another watcher's) when an event completed it.
		v.State, v.Duplicate = StateVerified, true
		return v, nil
	}
	if n.Checkpoint.Size > o.next {
		first, ok := o.pending[n.Checkpoint.Size]
		if !ok {
			if err := w.arc.PutReceived(ctx, td.Address, n.Epoch, n.Checkpoint.Size, note); err != nil {
				return v, err
			}
			o.pending[n.Checkpoint.Size] = note
		} else if c, err := checkpoint.ParseCheckpoint(noteText(first)); err != nil {
			return v, fmt.Errorf("watch: received checkpoint of %s/%d: %w", td.Address, n.Epoch, err)
		} else if c.Root != n.Checkpoint.Root {
			// Two signed checkpoints of one size: a fork, whatever the
			// events will say.
			why := fmt.Errorf("checkpoint %d of %s has root %s, another received checkpoint of that size %s",
				c.Size, c.Origin, merkle.Hash(n.Checkpoint.Root), merkle.Hash(c.Root))
			ev, err := (&verify.Fork{Kind: verify.ForkCheckpoints, Origin: c.Origin, ChainID: td.ChainID, NoteKey: td.NoteKey, A: first, B: note}).Marshal()
			if err != nil {
				return v, fmt.Errorf("watch: fork evidence: %w", err)
			}
			if err := w.alarm(ctx, &v, o, ReasonInconsistent, why, ev); err != nil {
				return v, err
			}
			return w.reject(ctx, v, note, ReasonInconsistent, why)
		}
		v.State = StateReceived
		return v, nil
	}
	return w.checkCheckpoint(ctx, v, td, n.Epoch, o, n.Checkpoint, note)
}

// checkCheckpoint checks a checkpoint whose events are all archived: its
// root must be the root of the archived leaves at its size. The latest
// verified checkpoint's root is the root of the same leaves at its size,
// so a checkpoint that passes is consistent with it; one that fails is
// inconsistent with it (or, without one, mismatches the leaves).
func (w *Watcher) checkCheckpoint(ctx context.Context, v Verdict, td *trusted, epoch uint32, o *origin, c checkpoint.Checkpoint, note []byte) (Verdict, error) {
	root, front, err := w.rootAt(ctx, td.Address, epoch, o, c.Size)
	if err != nil {
		return v, err
	}
	if root != merkle.Hash(c.Root) {
		r, why := ReasonRootMismatch, fmt.Errorf("checkpoint %d of %s has root %s, the archived leaves give %s", c.Size, c.Origin, merkle.Hash(c.Root), root)
		if l := o.latest; l != nil && min(l.Size, c.Size) > 0 {
			r, why = ReasonInconsistent, fmt.Errorf("checkpoint %d %s of %s is not consistent with the verified checkpoint %d %s: the archived leaves give %s at size %d",
				c.Size, merkle.Hash(c.Root), c.Origin, l.Size, merkle.Hash(l.Root), root, c.Size)
		}
		ev, err := w.checkpointFork(ctx, td, epoch, o, c, note)
		if err != nil {
			return v, err
		}
		if err := w.alarm(ctx, &v, o, r, why, ev); err != nil {
			return v, err
		}
		return w.reject(ctx, v, note, r, why)
	}
	if err := w.arc.PutCheckpoint(ctx, td.Address, epoch, c.Size, note); err != nil {
		return v, err
	}
	o.keepRoot(c.Size, root)
	o.prog.Checkpointed = max(o.prog.Checkpointed, c.Size)
	if o.latest == nil || c.Size > o.latest.Size {
		if fs, ok := w.arc.(FrontierStore); ok {
			if err := fs.PutFrontier(ctx, td.Address, epoch, c.Size, front.Nodes()); err != nil {
				return v, err
			}
		}
		o.latest, o.latestNote, o.front = &c, note, front
	}
	if c.Size == o.latest.Size {
		o.verifiedHere = c.Size
	}
	v.State = StateVerified
	return w.cosign(ctx, v, td, epoch, o, c, note)
}

// settle checks the pending checkpoints and anchors of o whose events have
// all arrived, adding their verdicts to v.
func (w *Watcher) settle(ctx context.Context, v *Verdict, td *trusted, epoch uint32, o *origin) error {
	sizes := make([]uint64, 0, len(o.pending))
	for s := range o.pending {
		if s <= o.next {
			sizes = append(sizes, s)
		}
	}
	slices.Sort(sizes)
	for _, s := range sizes {
		note := o.pending[s]
		c, _, err := checkpoint.OpenCheckpoint(note, td.noteVerifiers()...)
		if err != nil {
			return fmt.Errorf("watch: reopen verified checkpoint: %w", err)
		}
		cv := Verdict{Topic: feed.TopicsFor(td.Fleet, td.Address).Checkpoints, Channel: feed.ChannelCheckpoints,
			Device: td.Address, Operator: td.operator, Epoch: epoch, Size: s}
		cv, err = w.checkCheckpoint(ctx, cv, td, epoch, o, c, note)
		if err != nil {
			return err
		}
		delete(o.pending, s)
		v.Checkpoints = append(v.Checkpoints, cv)
	}
	av, err := w.settleAnchors(ctx, td, epoch, o)
	v.Anchors = append(v.Anchors, av...)
	if err != nil {
		return err
	}
	return w.cosignLatest(ctx, td, epoch, o)
}

func (td *trusted) noteVerifiers() []checkpoint.Verifier {
	return append([]checkpoint.Verifier{signer.NoteVerifier(signer.KeyName(td.Fleet, td.Address), td.Address,
		signer.Domain{ChainID: td.ChainID, Fleet: td.Fleet})}, td.verifiers...)
}

// origin returns the state of device's epoch, loading it from the archive
// the first time. With v not nil (a message of the epoch is being handled)
// it records the epoch in the archive the first time and sets v.NewEpoch
// if the device had an earlier epoch. The caller holds the device's lock.
func (w *Watcher) origin(ctx context.Context, v *Verdict, device event.Address, epoch uint32) (*origin, error) {
	k := Key{Device: device, Epoch: epoch}
	w.mu.Lock()
	o := w.origins[k]
	w.mu.Unlock()
	if o == nil {
		var err error
		if o, err = w.load(ctx, device, epoch); err != nil {
			return nil, err
		}
		w.mu.Lock()
		w.origins[k] = o
		w.mu.Unlock()
	}
	if v == nil || o.recorded {
		return o, nil
	}
	epochs, err := w.arc.Epochs(ctx, device)
	if err != nil {
		return nil, err
	}
	added, err := w.arc.AddEpoch(ctx, device, epoch)
	if err != nil {
		return nil, err
	}
	o.recorded = true
	v.NewEpoch = added && len(epochs) > 0 && epoch > slices.Max(epochs)
	return o, nil
}

// forkReasons are the alarms after which the watcher cosigns no more
// checkpoints of the origin.
var forkReasons = []Reason{ReasonEquivocation, ReasonInconsistent, ReasonRootMismatch, ReasonAnchorMismatch}

// load reads the state of device's epoch from the archive: the sequence
// numbers it holds, the latest verified checkpoint and the tree up to it,
// the progress marks, whether a fork was found, the received checkpoints
// still waiting for events, and the anchors not yet matched (those whose
// events are all archived are matched now).
func (w *Watcher) load(ctx context.Context, device event.Address, epoch uint32) (*origin, error) {
	o := &origin{above: map[uint64]struct{}{}, pending: map[uint64][]byte{}, anchors: map[AnchorKey]Anchor{},
		roots: map[uint64]merkle.Hash{}, front: &merkle.Frontier{}}
	note, err := w.arc.Checkpoint(ctx, device, epoch)
	if err != nil {
		return nil, err
	}
	if note != nil {
		c, err := checkpoint.ParseCheckpoint(noteText(note))
		if err != nil {
			return nil, fmt.Errorf("watch: archived checkpoint of %s/%d: %w", device, epoch, err)
		}
		o.latest, o.latestNote = &c, note
	}
	// With a stored frontier at or below the latest checkpoint, every
	// event below it is archived: read only from there.
	if fs, ok := w.arc.(FrontierStore); ok && o.latest != nil {
		n, nodes, err := fs.Frontier(ctx, device, epoch)
		if err != nil {
			return nil, err
		}
		if n > 0 && n <= o.latest.Size {
			f, err := merkle.NewFrontier(n, nodes)
			if err != nil {
				return nil, fmt.Errorf("watch: archived frontier of %s/%d: %w", device, epoch, err)
			}
			o.front, o.next = f, n
		}
	}
	err = w.arc.Leaves(ctx, device, epoch, o.next, func(seq uint64, leaf []byte) bool {
		if o.latest != nil && seq == o.front.Size() && seq < o.latest.Size {
			o.front.Append(merkle.LeafHash(leaf))
		}
		o.add(seq)
		return true
	})
	if err != nil {
		return nil, err
	}
	if l := o.latest; l != nil {
		if o.front.Size() != l.Size || o.front.Root() != merkle.Hash(l.Root) {
			return nil, fmt.Errorf("watch: archive of %s/%d: the verified checkpoint %d is not the root of the archived leaves", device, epoch, l.Size)
		}
		o.roots[l.Size] = merkle.Hash(l.Root)
	}
	if o.prog, err = w.arc.Progress(ctx, device, epoch); err != nil {
		return nil, err
	}
	err = w.arc.Received(ctx, device, epoch, o.next+1, func(size uint64, note []byte) bool {
		o.pending[size] = bytes.Clone(note)
		return true
	})
	if err != nil {
		return nil, err
	}
	if o.forked, err = w.forkedAtStart(ctx, device, epoch); err != nil {
		return nil, err
	}
	err = w.arc.Anchors(ctx, device, epoch, o.prog.Anchored+1, func(a Anchor) bool {
		o.anchors[a.Key()] = a
		return true
	})
	if err != nil {
		return nil, err
	}
	if td := w.devices[device]; td != nil {
		if _, err := w.settleAnchors(ctx, td, epoch, o); err != nil {
			return nil, err
		}
		if err := w.cosignLatest(ctx, td, epoch, o); err != nil {
			return nil, err
		}
	}
	return o, nil
}

// forkedAtStart reports whether the archive held an alarm of a fork of
// device's epoch when the watcher first loaded an origin.
func (w *Watcher) forkedAtStart(ctx context.Context, device event.Address, epoch uint32) (bool, error) {
	w.forkedMu.Lock()
	defer w.forkedMu.Unlock()
	if w.forked == nil {
		forked := map[Key]bool{}
		err := w.arc.Alarms(ctx, func(a Alarm) bool {
			if slices.Contains(forkReasons, a.Reason) {
				forked[Key{Device: a.Device, Epoch: a.Epoch}] = true
			}
			return true
		})
		if err != nil {
			return false, err
		}
		w.forked = forked
	}
	return w.forked[Key{Device: device, Epoch: epoch}], nil
}

// noteText returns the text of a signed note: up to the blank line.
func noteText(note []byte) []byte {
	for i := 0; i+1 < len(note); i++ {
		if note[i] == '\n' && note[i+1] == '\n' {
			return note[:i+1]
		}
	}
	return note
}

// has reports whether seq is known archived.
func (o *origin) has(seq uint64) bool {
	_, above := o.above[seq]
	return seq < o.next || above
}

// maxRoots bounds the roots of verified checkpoints an origin keeps in
// memory: anchors usually name one of the latest.
const maxRoots = 64

// keepRoot remembers the root of the verified checkpoint of size n,
// forgetting the smallest beyond maxRoots.
func (o *origin) keepRoot(n uint64, root merkle.Hash) {
	o.roots[n] = root
	if len(o.roots) > maxRoots {
		delete(o.roots, slices.Min(slices.Collect(maps.Keys(o.roots))))
	}
}

func (o *origin) add(seq uint64) {
	if seq != o.next {
		o.above[seq] = struct{}{}
		return
	}
	o.next++
	for {
		if _, ok := o.above[o.next]; !ok {
			return
		}
		delete(o.above, o.next)
		o.next++
	}
}

func (o *origin) gaps() []Gap {
	if len(o.above) == 0 {
		return nil
	}
	seqs := make([]uint64, 0, len(o.above))
	for s := range o.above {
		seqs = append(seqs, s)
	}
	slices.Sort(seqs)
	var gs []Gap
	at := o.next
	for _, s := range seqs {
		if s > at {
			gs = append(gs, Gap{From: at, To: s})
		}
		at = s + 1
	}
	return gs
}

// State returns the state of the archived event k (Progress.State of its
// origin, as the archive holds it), or "" if the archive does not hold it.
func (w *Watcher) State(ctx context.Context, k Key) (State, error) {
	var found bool
	err := w.arc.Leaves(ctx, k.Device, k.Epoch, k.Seq, func(seq uint64, _ []byte) bool {
		found = seq == k.Seq
		return false
	})
	if err != nil || !found {
		return "", err
	}
	p, err := w.arc.Progress(ctx, k.Device, k.Epoch)
	if err != nil {
		return "", err
	}
	return p.State(k.Seq), nil
}

// Progress returns what the archive holds of device's epoch.
func (w *Watcher) Progress(ctx context.Context, device event.Address, epoch uint32) (Progress, error) {
	return w.arc.Progress(ctx, device, epoch)
}

// Gaps returns the open gaps of device's epoch.
func (w *Watcher) Gaps(ctx context.Context, device event.Address, epoch uint32) ([]Gap, error) {
	defer w.lock(device)()
	o, err := w.origin(ctx, nil, device, epoch)
	if err != nil {
		return nil, err
	}
	return o.gaps(), nil
}

// rootAt returns the root of the first n archived leaves of the origin (n
// at most o.next). From the frontier of the latest verified checkpoint it
// reads only the leaves after it, and returns the frontier at n too; below
// it, it uses the root of a verified checkpoint of size n, or rebuilds the
// tree (and returns no frontier).
func (w *Watcher) rootAt(ctx context.Context, device event.Address, epoch uint32, o *origin, n uint64) (merkle.Hash, *merkle.Frontier, error) {
	if n < o.front.Size() {
		if r, ok := o.roots[n]; ok {
			return r, nil, nil
		}
		t, err := w.tree(ctx, device, epoch, n)
		if err != nil {
			return merkle.Hash{}, nil, err
		}
		return t.root(n), nil, nil
	}
	f := o.front.Clone()
	if err := w.extend(ctx, device, epoch, f, n); err != nil {
		return merkle.Hash{}, nil, err
	}
	return f.Root(), f, nil
}

// extend appends the archived leaves of the origin from f.Size() up to n to f.
func (w *Watcher) extend(ctx context.Context, device event.Address, epoch uint32, f *merkle.Frontier, n uint64) error {
	if f.Size() >= n {
		return nil
	}
	err := w.arc.Leaves(ctx, device, epoch, f.Size(), func(seq uint64, leaf []byte) bool {
		if seq != f.Size() {
			return false
		}
		f.Append(merkle.LeafHash(leaf))
		return f.Size() < n
	})
	if err != nil {
		return err
	}
	if f.Size() != n {
		return fmt.Errorf("watch: archive holds %d leading events of %s/%d, want %d", f.Size(), device, epoch, n)
	}
	return nil
}

// leaves returns the archived leaves of the origin from lo up to hi.
func (w *Watcher) leaves(ctx context.Context, device event.Address, epoch uint32, lo, hi uint64) ([][]byte, error) {
	var out [][]byte
	err := w.arc.Leaves(ctx, device, epoch, lo, func(seq uint64, leaf []byte) bool {
		if seq != lo+uint64(len(out)) || seq >= hi {
			return false
		}
		out = append(out, bytes.Clone(leaf))
		return true
	})
	if err != nil {
		return nil, err
	}
	if uint64(len(out)) != hi-lo {
		return nil, fmt.Errorf("watch: archive holds %d events of %s/%d from %d, want %d", len(out), device, epoch, lo, hi-lo)
	}
	return out, nil
}

// tree holds the leaf hashes of an origin and the complete nodes above
// them, for roots and consistency proofs.
type tree struct {
	levels [][]merkle.Hash
}

// tree reads the first n leaves of device's epoch from the archive.
func (w *Watcher) tree(ctx context.Context, device event.Address, epoch uint32, n uint64) (*tree, error) {
	hs := make([]merkle.Hash, 0, n)
	err := w.arc.Leaves(ctx, device, epoch, 0, func(seq uint64, leaf []byte) bool {
		if seq != uint64(len(hs)) || seq >= n {
			return false
		}
		hs = append(hs, merkle.LeafHash(leaf))
		return true
	})
	if err != nil {
		return nil, err
	}
	if uint64(len(hs)) < n {
		return nil, fmt.Errorf("watch: archive holds %d leading events of %s/%d, want %d", len(hs), device, epoch, n)
	}
	t := &tree{levels: [][]merkle.Hash{hs}}
	for l := t.levels[0]; len(l) > 1; l = t.levels[len(t.levels)-1] {
		up := make([]merkle.Hash, len(l)/2)
		for i := range up {
			up[i] = merkle.NodeHash(l[2*i], l[2*i+1])
		}
		t.levels = append(t.levels, up)
	}
	return t, nil
}

// Node implements merkle.NodeReader.
func (t *tree) Node(level uint8, index uint64) (merkle.Hash, error) {
	if int(level) >= len(t.levels) || index >= uint64(len(t.levels[level])) {
		return merkle.Hash{}, fmt.Errorf("watch: no node %d/%d", level, index)
	}
	return t.levels[level][index], nil
}

func (t *tree) root(n uint64) merkle.Hash {
	h, err := merkle.TreeHash(n, t)
	if err != nil {
		return merkle.Hash{}
	}
	return h
}
