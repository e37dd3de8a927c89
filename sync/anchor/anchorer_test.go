package anchor_test

import (
	"context"
	"errors"
	"math/big"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"

	"github.com/waybill-eu/waybill/agent/checkpoint"
	"github.com/waybill-eu/waybill/agent/merkle"
	"github.com/waybill-eu/waybill/agent/signer"
	"github.com/waybill-eu/waybill/sync/anchor"
	"github.com/waybill-eu/waybill/sync/anchor/evmtx"
)

// checkAnchor checks a confirmed anchor against the log and the chain: its
// root is the log's at its size, its evidence parses back, checks, and
// verifies offline (transaction, receipt, payload), and the note carries the
// device's valid signature.
func checkAnchor(t *testing.T, r *rig, an anchor.Anchor) {
	t.Helper()
	if an.State != anchor.StateConfirmed {
		t.Fatalf("anchor %d is %s, want confirmed", an.ID, an.State)
	}
	root, err := r.log.TreeHash(an.Size)
	if err != nil {
		t.Fatal(err)
	}
	if root != an.Root {
		t.Errorf("anchor %d: root %s, log's root at size %d is %s", an.ID, an.Root, an.Size, root)
	}
	ev, err := an.Evidence()
	if err != nil {
		t.Fatal(err)
	}
	js, err := ev.Format()
	if err != nil {
		t.Fatal(err)
	}
	back, err := anchor.ParseEvidence(js)
	if err != nil {
		t.Fatalf("ParseEvidence(Format()) = %v", err)
	}
	// The evidence names the payload, the destination and the chain.
	if back.Version != 2 || back.Payload != anchor.PayloadNote || back.To != strings.ToLower(r.chain.addr.Hex()) ||
		"eip155:"+strconv.FormatUint(back.ChainID, 10) != back.Ledger || back.Endpoint != "" {
		t.Errorf("evidence: version %d, payload %q, to %s, chain %d, ledger %s, endpoint %q; want 2, note, %s, the ledger's, none",
			back.Version, back.Payload, back.To, back.ChainID, back.Ledger, back.Endpoint, r.chain.addr)
	}
	from, err := evmtx.VerifyEvidence(context.Background(), back, evmtx.NotePayload{To: r.chain.addr})
	if err != nil {
		t.Fatalf("VerifyEvidence = %v", err)
	}
	if from != r.chain.addr {
		t.Errorf("evidence sender = %s, want %s", from, r.chain.addr)
	}
	id := r.log.Identity()
	if _, _, err := checkpoint.OpenCheckpoint(back.Note, signer.NoteVerifier(id.KeyName(), id.Device, id.Domain())); err != nil {
		t.Errorf("anchored note does not verify with the device key: %v", err)
	}
	// The chain agrees today: the block at the evidence's number has its hash.
	h, err := r.chain.sim.Client().HeaderByNumber(context.Background(), new(big.Int).SetUint64(an.BlockNumber))
	if err != nil {
		t.Fatal(err)
	}
	if anchor.Hash(h.Hash()) != an.BlockHash {
		t.Errorf("block %d is %s on the chain, evidence says %s", an.BlockNumber, h.Hash(), an.BlockHash)
	}
}

func TestAnchorer_Policy(t *testing.T) {
	tests := []struct {
		name     string
		every    uint64
		interval time.Duration
		events   int
		advance  time.Duration
		want     bool
	}{
		{"fewer than N events, before T", 10, time.Hour, 9, 59 * time.Minute, false},
		{"N events", 10, time.Hour, 10, 0, true},
		{"more than N events", 10, time.Hour, 17, 0, true},
		{"T elapsed with events", 1000, 10 * time.Minute, 3, 10 * time.Minute, true},
		{"T not quite elapsed", 1000, 10 * time.Minute, 3, 10*time.Minute - time.Second, false},
		{"T elapsed without events", 1000, 10 * time.Minute, 0, 24 * time.Hour, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, anchor.Options{Every: tt.every, Interval: tt.interval})
			appendEvents(t, r.log, tt.events)
			r.clock.Advance(tt.advance)
			r.step()
			st := r.a.Status()
			if got := st.InFlight != nil; got != tt.want {
				t.Fatalf("anchor started = %v, want %v (status %+v)", got, tt.want, st)
			}
			if !tt.want {
				if n := len(r.chain.txsFrom(t, r.chain.addr)); n != 0 {
					t.Fatalf("%d transactions sent, want none", n)
				}
				if st.Unanchored != uint64(tt.events) {
					t.Errorf("Unanchored = %d, want %d", st.Unanchored, tt.events)
				}
				return
			}
			an := r.confirm()
			if an.Size != uint64(tt.events) || an.PrevSize != 0 {
				t.Errorf("anchored size %d (prev %d), want %d (prev 0)", an.Size, an.PrevSize, tt.events)
			}
			checkAnchor(t, r, an)
			if st := r.a.Status(); st.Unanchored != 0 || st.Confirmed != 1 {
				t.Errorf("after confirmation: Unanchored %d, Confirmed %d; want 0, 1", st.Unanchored, st.Confirmed)
			}
		})
	}
}

// One transaction covers every event since the last anchor: only the newest
// checkpoint is anchored, with the consistency proof from the previous one.
func TestAnchorer_OneTransactionCoversAllSinceLast(t *testing.T) {
	r := newRig(t, anchor.Options{Every: 10, Interval: time.Hour})
	appendEvents(t, r.log, 10)
	r.step()
	first := r.confirm()
	// Events arrive faster than the loop steps: 25 by the next step.
	appendEvents(t, r.log, 25)
	r.step()
	second := r.confirm()
	if second.Size != 35 || second.PrevSize != 10 || second.PrevRoot != first.Root {
		t.Fatalf("second anchor: size %d prev %d; want 35 prev 10 with the first anchor's root", second.Size, second.PrevSize)
	}
	if err := merkle.CheckConsistency(second.Consistency, 10, 35, first.Root, second.Root); err != nil {
		t.Fatalf("consistency proof: %v", err)
	}
	checkAnchor(t, r, second)
	if n := len(r.chain.txsFrom(t, r.chain.addr)); n != 2 {
		t.Fatalf("%d transactions for 35 events, want 2", n)
	}
	// Nothing new: no anchor, however long.
	r.clock.Advance(48 * time.Hour)
	r.step()
	if r.a.Status().InFlight != nil {
		t.Fatal("anchored with no new event")
	}
}

// Without Options.Checkpoint the loop anchors the log's latest checkpoint
// and waits when that one is anchored already.
func TestAnchorer_WithoutCheckpointCallback(t *testing.T) {
	r := newRig(t, anchor.Options{Every: 5, Interval: time.Hour})
	r.a.Close()
	o := r.opts
	o.Now = r.clock.Now
	a, err := anchor.Open(r.path, r.log, r.chain.backend(t), &o)
	if err != nil {
		t.Fatal(err)
	}
	r.a = a
	t.Cleanup(func() { a.Close() })
	appendEvents(t, r.log, 5)
	// No checkpoint signed yet: the step reports it and sends nothing.
	if err := r.a.Step(context.Background()); err == nil {
		t.Fatal("Step without any checkpoint = nil, want an error")
	}
	if _, _, err := r.log.Checkpoint(context.Background()); err != nil {
		t.Fatal(err)
	}
	appendEvents(t, r.log, 3)
	r.step()
	if an := r.confirm(); an.Size != 5 {
		t.Fatalf("anchored size %d, want the latest checkpoint's 5", an.Size)
	}
	appendEvents(t, r.log, 5) // 13 events, latest checkpoint still 5
	r.step()
	if r.a.Status().InFlight != nil {
		t.Fatal("anchored again with no newer checkpoint")
	}
}

// The nonce is persisted, and reconciled with the node's pending nonce before
// each new anchor: another sender on the same account, or a chain reset,
// leaves no gap.
func TestAnchorer_NoncePersistedAndReconciled(t *testing.T) {
	r := newRig(t, anchor.Options{Every: 4})
	appendEvents(t, r.log, 4)
	r.step()
	if an := r.confirm(); an.Nonce != 0 {
		t.Fatalf("first anchor nonce %d, want 0", an.Nonce)
	}
	appendEvents(t, r.log, 4)
	r.step()
	if an := r.confirm(); an.Nonce != 1 {
		t.Fatalf("second anchor nonce %d, want 1", an.Nonce)
	}
	r.reopen()
	if n := r.a.Status().NextNonce; n != 2 {
		t.Fatalf("NextNonce after reopening = %d, want 2", n)
	}

	// Another sender uses nonce 2 on the same account.
	ctx := context.Background()
	foreign := types.MustSignNewTx(r.chain.key, types.LatestSignerForChainID(big.NewInt(1337)), &types.DynamicFeeTx{
		ChainID: big.NewInt(1337), Nonce: 2, GasTipCap: big.NewInt(1e9), GasFeeCap: big.NewInt(1e11),
		Gas: 21000, To: &common.Address{1},
	})
	if err := r.chain.sim.Client().SendTransaction(ctx, foreign); err != nil {
		t.Fatal(err)
	}
	r.chain.commit()
	appendEvents(t, r.log, 4)
	r.step()
	if an := r.confirm(); an.Nonce != 3 {
		t.Fatalf("anchor after a foreign transaction: nonce %d, want 3", an.Nonce)
	}
	if n, _ := r.chain.sim.Client().NonceAt(ctx, r.chain.addr, nil); n != 4 {
		t.Fatalf("account nonce %d, want 4 (no gap)", n)
	}

	// The store outlives the chain (a development chain reset): the node's
	// count wins, so the next anchor is not stuck behind a gap.
	r.a.Close()
	r.chain = newChain(t, r.chain.key)
	r.open()
	appendEvents(t, r.log, 4)
	r.step()
	if an := r.confirm(); an.Nonce != 0 {
		t.Fatalf("anchor on a reset chain: nonce %d, want 0", an.Nonce)
	}
}

// A crash between signing and sending: the signed transaction is stored
// first, so the restarted loop sends the very same transaction (same hash),
// whether or not the node had received it, and the checkpoint is anchored
// exactly once.
func TestAnchorer_CrashBetweenSignAndSend(t *testing.T) {
	tests := []struct {
		name  string
		fault func(*faultClient)
	}{
		{"lost before the node saw it", func(f *faultClient) { f.dropSends.Store(1) }},
		{"node took it, answer lost", func(f *faultClient) { f.loseAnswers.Store(1) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, anchor.Options{Every: 3})
			appendEvents(t, r.log, 3)
			tt.fault(r.chain.client)
			if err := r.a.Step(context.Background()); err == nil {
				t.Fatal("Step with a failing send = nil, want an error")
			}
			signed := r.inFlight()
			if signed.State != anchor.StateSigned || len(signed.Attempts) != 1 {
				t.Fatalf("after the failed send: state %s with %d attempts, want signed with 1", signed.State, len(signed.Attempts))
			}
			hash := signed.Attempts[0].Hash

			// The process dies here; a new one opens the same store.
			r.reopen()
			st := r.a.Status()
			if st.InFlight == nil || st.InFlight.Attempts[0].Hash != hash || st.NextNonce != 1 {
				t.Fatalf("reopened store: in flight %+v, next nonce %d", st.InFlight, st.NextNonce)
			}
			r.step()
			sent := r.inFlight()
			if sent.State != anchor.StateSent || len(sent.Attempts) != 1 || sent.Attempts[0].Hash != hash {
				t.Fatalf("after restart: state %s, %d attempts, hash %s; want sent, 1, %s",
					sent.State, len(sent.Attempts), sent.Attempts[0].Hash, hash)
			}
			an := r.confirm()
			checkAnchor(t, r, an)
			txs := r.chain.txsFrom(t, r.chain.addr)
			if len(txs) != 1 || anchor.Hash(txs[0]) != hash {
				t.Fatalf("chain holds %v from the relayer, want exactly [%s]", txs, hash)
			}
			if as := r.anchors(); len(as) != 1 {
				t.Fatalf("%d anchors stored, want 1", len(as))
			}
		})
	}
}

// A transaction left unmined is replaced after StuckAfter with the same
// nonce and tip and fee cap both raised by at least 10%; exactly one of them
// is mined.
func TestAnchorer_StuckTransactionReplaced(t *testing.T) {
	r := newRig(t, anchor.Options{Every: 2, StuckAfter: 3 * time.Minute, FeeCeiling: big.NewInt(1e12)})
	ctx := context.Background()
	appendEvents(t, r.log, 2)
	r.step()
	first := r.inFlight().Attempts[0]

	r.clock.Advance(3*time.Minute - time.Second)
	r.step()
	if n := len(r.inFlight().Attempts); n != 1 {
		t.Fatalf("replaced before StuckAfter: %d attempts", n)
	}
	r.clock.Advance(time.Second)
	r.step()
	an := r.inFlight()
	if len(an.Attempts) != 2 || an.State != anchor.StateSent {
		t.Fatalf("after StuckAfter: %d attempts, state %s; want 2, sent", len(an.Attempts), an.State)
	}
	second := an.Attempts[1]
	if second.Nonce != first.Nonce {
		t.Errorf("replacement nonce %d, want %d", second.Nonce, first.Nonce)
	}
	for _, f := range []struct {
		name     string
		old, new *big.Int
	}{{"tip", first.Fees.Tip, second.Fees.Tip}, {"fee cap", first.Fees.Cap, second.Fees.Cap}} {
		// new ≥ old × 1.1, in integers: 100·new ≥ 110·old.
		lhs := new(big.Int).Mul(f.new, big.NewInt(100))
		rhs := new(big.Int).Mul(f.old, big.NewInt(110))
		if lhs.Cmp(rhs) < 0 {
			t.Errorf("replacement %s %s is less than 110%% of %s", f.name, f.new, f.old)
		}
	}
	// The node holds only the replacement.
	// No block is sealed yet, so geth's transaction indexer has not
	// started: for a transaction its pool does not hold it answers
	// "indexing is in progress", here the same as "not found". Any other
	// answer (the transaction, or another error) is a failure.
	if _, _, err := r.chain.sim.Client().TransactionByHash(ctx, common.Hash(first.Hash)); !errors.Is(err, ethereum.NotFound) && !evmtx.IsIndexing(err) {
		t.Errorf("the replaced transaction: %v; want the node not to know it", err)
	}
	if _, pending, err := r.chain.sim.Client().TransactionByHash(ctx, common.Hash(second.Hash)); err != nil || !pending {
		t.Errorf("replacement: pending %v, err %v; want pending", pending, err)
	}

	done := r.confirm()
	if done.Included != 1 {
		t.Errorf("included attempt %d, want 1 (the replacement)", done.Included)
	}
	checkAnchor(t, r, done)
	txs := r.chain.txsFrom(t, r.chain.addr)
	if len(txs) != 1 || anchor.Hash(txs[0]) != second.Hash {
		t.Fatalf("chain holds %v, want exactly the replacement %s", txs, second.Hash)
	}
}

// At the fee ceiling a stuck transaction cannot be replaced validly: the
// loop rebroadcasts it instead.
func TestAnchorer_StuckAtCeilingRebroadcast(t *testing.T) {
	r := newRig(t, anchor.Options{Every: 2, StuckAfter: time.Minute})
	ctx := context.Background()
	// Cap and ceiling at what the chain suggests: no room for +10%.
	b := r.chain.backend(t)
	sugg, err := b.SuggestFees(ctx)
	if err != nil {
		t.Fatal(err)
	}
	r.opts.MaxFeePerGas, r.opts.FeeCeiling = sugg.Cap, sugg.Cap
	r.reopen()
	appendEvents(t, r.log, 2)
	r.step()
	first := r.inFlight().Attempts[0]
	r.clock.Advance(time.Minute)
	r.step()
	an := r.inFlight()
	if len(an.Attempts) != 1 || !an.Attempts[0].Sent.Equal(r.clock.Now()) {
		t.Fatalf("at the ceiling: %d attempts, last sent %v; want 1 rebroadcast at %v", len(an.Attempts), an.Attempts[0].Sent, r.clock.Now())
	}
	done := r.confirm()
	if done.Attempts[done.Included].Hash != first.Hash {
		t.Fatalf("mined %s, want the original %s", done.Attempts[done.Included].Hash, first.Hash)
	}
}

// A reorg that moves the including block: the loop re-checks the block by
// hash, takes the new inclusion, and confirms only when that one is final.
// A reorg that drops the transaction: the loop sends the same signed
// transaction again and anchors it in the new chain.
func TestAnchorer_Reorg(t *testing.T) {
	tests := []struct {
		name      string
		drop      bool
		wantBlock uint64
	}{
		{"transaction moves to another block", false, 1},
		{"transaction dropped", true, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, anchor.Options{Every: 3, Finality: anchor.Confirmations(3)})
			ctx := context.Background()
			genesis, err := r.chain.sim.Client().HeaderByNumber(ctx, big.NewInt(0))
			if err != nil {
				t.Fatal(err)
			}
			appendEvents(t, r.log, 3)
			r.step()
			hash := r.inFlight().Attempts[0].Hash
			r.chain.commit()
			r.step()
			mined := r.inFlight()
			if mined.State != anchor.StateMined || mined.BlockNumber != 1 {
				t.Fatalf("state %s at block %d, want mined at 1", mined.State, mined.BlockNumber)
			}
			oldBlock := mined.BlockHash

			// Reorg: a sibling chain from genesis becomes canonical.
			if err := r.chain.sim.Fork(genesis.Hash()); err != nil {
				t.Fatal(err)
			}
			if tt.drop {
				r.chain.sim.Rollback() // the transaction leaves the pool too
				r.chain.commit()
			}
			r.chain.commit()
			r.step()
			an := r.inFlight()
			if an.Reorgs != 1 {
				t.Fatalf("Reorgs = %d, want 1", an.Reorgs)
			}
			if tt.drop {
				if an.State != anchor.StateSent {
					t.Fatalf("after the drop: state %s, want sent again", an.State)
				}
				r.chain.commit() // block 3 holds it again
				r.step()
				an = r.inFlight()
			}
			if an.State != anchor.StateMined || an.BlockHash == oldBlock || an.BlockNumber != tt.wantBlock {
				t.Fatalf("after the reorg: state %s in block %d %s; want mined in block %d, not %s",
					an.State, an.BlockNumber, an.BlockHash, tt.wantBlock, oldBlock)
			}
			// Not final until three confirmations in the new chain.
			for r.chain.head(t) < tt.wantBlock+1 {
				r.chain.commit()
			}
			r.step()
			if r.a.Status().InFlight == nil {
				t.Fatal("confirmed with 2 confirmations, want 3")
			}
			done := r.confirm()
			if done.BlockNumber != tt.wantBlock || done.Reorgs != 1 || len(done.Attempts) != 1 || done.Attempts[0].Hash != hash {
				t.Fatalf("confirmed in block %d after %d reorgs with %d attempts; want block %d, 1 reorg, the same single transaction",
					done.BlockNumber, done.Reorgs, len(done.Attempts), tt.wantBlock)
			}
			checkAnchor(t, r, done)
			txs := r.chain.txsFrom(t, r.chain.addr)
			if len(txs) != 1 || anchor.Hash(txs[0]) != hash {
				t.Fatalf("canonical chain holds %v, want exactly [%s]", txs, hash)
			}
		})
	}
}

// Each finality rule confirms at its own block: QBFT at the including block,
// confirmations:K K−1 blocks later, finalized when the simulated beacon
// finalizes (every 32 blocks).
func TestAnchorer_Finality(t *testing.T) {
	tests := []struct {
		rule       string
		wantBlocks uint64 // chain height at which the anchor in block 1 is final
	}{
		{"qbft", 1},
		{"confirmations:1", 1},
		{"confirmations:5", 5},
		{"finalized", 32},
	}
	for _, tt := range tests {
		t.Run(tt.rule, func(t *testing.T) {
			f, err := anchor.ParseFinality(tt.rule)
			if err != nil {
				t.Fatal(err)
			}
			r := newRig(t, anchor.Options{Every: 1, Finality: f})
			appendEvents(t, r.log, 1)
			r.step()
			for {
				r.chain.commit()
				r.step()
				h := r.chain.head(t)
				confirmed := r.a.Status().InFlight == nil
				if confirmed != (h >= tt.wantBlocks) {
					t.Fatalf("at height %d: confirmed = %v, want %v", h, confirmed, h >= tt.wantBlocks)
				}
				if confirmed {
					break
				}
			}
			checkAnchor(t, r, *r.a.Status().Last)
		})
	}
}

// An unreachable ledger for days loses nothing: checkpoints queue (only the
// newest is kept waiting), no transaction is signed, and when the ledger is
// back one anchor covers everything; the evidence of earlier anchors stays.
func TestAnchorer_UnreachableLedger(t *testing.T) {
	r := newRig(t, anchor.Options{Every: 10, Interval: 10 * time.Minute})
	appendEvents(t, r.log, 10)
	r.step()
	first := r.confirm()

	r.chain.client.down.Store(true)
	stepDown := func() {
		t.Helper()
		if err := r.a.Step(context.Background()); err == nil {
			t.Fatal("Step with the ledger down = nil, want an error")
		}
		if r.a.Status().Reachable {
			t.Fatal("Status().Reachable with the ledger down")
		}
	}
	appendEvents(t, r.log, 10)
	stepDown()
	if q := r.a.Status().Queued; q == nil || q.Size != 20 || q.Superseded != 0 {
		t.Fatalf("queued %+v, want size 20", q)
	}
	appendEvents(t, r.log, 5)
	stepDown() // 5 events, T not elapsed: the queue stays
	if q := r.a.Status().Queued; q.Size != 20 {
		t.Fatalf("queued size %d, want still 20", q.Size)
	}
	for day := 0; day < 3; day++ {
		r.clock.Advance(24 * time.Hour)
		appendEvents(t, r.log, 30)
		stepDown()
	}
	q := r.a.Status().Queued
	if q == nil || q.Size != 115 || q.Superseded != 3 {
		t.Fatalf("queued %+v, want size 115 having superseded 3", q)
	}
	// Queued state survives a restart.
	r.reopen()
	if q := r.a.Status().Queued; q == nil || q.Size != 115 {
		t.Fatalf("queued after restart %+v, want size 115", q)
	}
	if n, _ := r.chain.sim.Client().PendingNonceAt(context.Background(), r.chain.addr); n != 1 {
		t.Fatalf("account pending nonce %d while the ledger was down, want 1 (nothing sent)", n)
	}

	r.chain.client.down.Store(false)
	r.step()
	second := r.confirm()
	if second.Size != 115 || second.PrevSize != 10 || second.PrevRoot != first.Root {
		t.Fatalf("anchor after the outage: size %d prev %d, want 115 prev 10", second.Size, second.PrevSize)
	}
	if r.a.Status().Queued != nil {
		t.Fatal("queue not cleared by the anchor")
	}
	as := r.anchors()
	if len(as) != 2 {
		t.Fatalf("%d anchors, want 2", len(as))
	}
	for _, an := range as {
		checkAnchor(t, r, an)
	}
	if n := len(r.chain.txsFrom(t, r.chain.addr)); n != 2 {
		t.Fatalf("%d transactions, want 2", n)
	}
}

// A log whose history contradicts an anchored checkpoint is not anchored
// again: the ledger already witnesses the other history.
func TestAnchorer_ForkedLogRefused(t *testing.T) {
	r := newRig(t, anchor.Options{Every: 5})
	appendEvents(t, r.log, 5)
	r.step()
	r.confirm()
	r.a.Close()

	// Another log under the same identity and origin, with other events.
	other := openLog(t, filepath.Join(t.TempDir(), "other"))
	appendEvents(t, other, 12)
	r.log = other
	r.open()
	err := r.a.Step(context.Background())
	if !errors.Is(err, anchor.ErrForked) {
		t.Fatalf("Step on a forked log = %v, want ErrForked", err)
	}
	if n := len(r.chain.txsFrom(t, r.chain.addr)); n != 1 {
		t.Fatalf("%d transactions, want only the first anchor", n)
	}
}

// The store is read without a ledger or a log, and holds one writer.
func TestReadStore(t *testing.T) {
	r := newRig(t, anchor.Options{Every: 2})
	appendEvents(t, r.log, 2)
	r.step()
	r.confirm()
	appendEvents(t, r.log, 2)
	r.step()

	if _, err := anchor.Open(r.path, r.log, r.chain.backend(t), &anchor.Options{LockTimeout: 50 * time.Millisecond}); !errors.Is(err, anchor.ErrLocked) {
		t.Fatalf("second Open = %v, want ErrLocked", err)
	}
	if _, _, err := anchor.ReadStore(r.path); !errors.Is(err, anchor.ErrLocked) {
		t.Fatalf("ReadStore while open = %v, want ErrLocked", err)
	}
	r.a.Close()
	st, as, err := anchor.ReadStore(r.path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Confirmed != 1 || st.InFlight == nil || st.InFlight.State != anchor.StateSent || st.NextNonce != 2 || len(as) != 2 {
		t.Fatalf("ReadStore: %d confirmed, in flight %v, next nonce %d, %d anchors", st.Confirmed, st.InFlight, st.NextNonce, len(as))
	}
	if st.Last == nil || st.Last.ID != as[0].ID {
		t.Fatalf("Last = %+v, want anchor %d", st.Last, as[0].ID)
	}
	if _, err := as[0].Evidence(); err != nil {
		t.Fatalf("Evidence of the confirmed anchor: %v", err)
	}
	if _, err := as[1].Evidence(); err == nil {
		t.Fatal("Evidence of an unconfirmed anchor = nil error")
	}
	if _, _, err := anchor.ReadStore(filepath.Join(t.TempDir(), "absent.db")); err == nil {
		t.Fatal("ReadStore of a missing file = nil error")
	}
}

// Run steps on its own and stops cleanly on cancellation.
func TestAnchorer_Run(t *testing.T) {
	r := newRig(t, anchor.Options{Every: 3, Poll: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.a.Run(ctx) }()
	appendEvents(t, r.log, 3)
	r.a.Notify()
	// Wait for the loop to sign and send (no timing assertion: it must
	// happen, however long it takes).
	for an := r.a.Status().InFlight; an == nil || an.State != anchor.StateSent; an = r.a.Status().InFlight {
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run = %v, want nil on cancellation", err)
	}
	r.confirm()
}

func TestOpen_BadOptions(t *testing.T) {
	path := filepath.Join(t.TempDir(), "anchor.db")
	_, err := anchor.Open(path, nil, nil, &anchor.Options{MaxFeePerGas: big.NewInt(10), FeeCeiling: big.NewInt(9)})
	if err == nil {
		t.Fatal("Open with FeeCeiling below MaxFeePerGas = nil error")
	}
}

// Another sender takes the nonce of a pending anchor transaction: the
// replacement is refused ("nonce too low"), and after StuckAfter without a
// receipt of any of its transactions the anchor is signed again with the
// next free nonce; one anchor results.
func TestAnchorer_NonceTakenWhilePending(t *testing.T) {
	r := newRig(t, anchor.Options{Every: 2, StuckAfter: time.Minute, FeeCeiling: big.NewInt(1e12)})
	ctx := context.Background()
	appendEvents(t, r.log, 2)
	r.step()
	mine := r.inFlight().Attempts[0]
	// The other sender outbids it with the same nonce, and is mined.
	foreign := types.MustSignNewTx(r.chain.key, types.LatestSignerForChainID(big.NewInt(1337)), &types.DynamicFeeTx{
		ChainID: big.NewInt(1337), Nonce: mine.Nonce, GasTipCap: big.NewInt(1e10), GasFeeCap: big.NewInt(1e11),
		Gas: 21000, To: &common.Address{1},
	})
	if err := r.chain.sim.Client().SendTransaction(ctx, foreign); err != nil {
		t.Fatal(err)
	}
	r.chain.commit()
	r.step()
	r.clock.Advance(time.Minute)
	r.step() // replacement refused: nonce too low
	an := r.inFlight()
	if len(an.Attempts) != 2 || an.NonceUsedAt.IsZero() {
		t.Fatalf("after the refused replacement: %d attempts, nonce used at %v", len(an.Attempts), an.NonceUsedAt)
	}
	r.step() // not yet StuckAfter since: nothing new
	if n := len(r.inFlight().Attempts); n != 2 {
		t.Fatalf("signed again too early: %d attempts", n)
	}
	r.clock.Advance(time.Minute)
	r.step()
	an = r.inFlight()
	if len(an.Attempts) != 3 || an.Nonce != mine.Nonce+1 || an.State != anchor.StateSent {
		t.Fatalf("after StuckAfter: %d attempts, nonce %d, state %s; want 3, %d, sent", len(an.Attempts), an.Nonce, an.State, mine.Nonce+1)
	}
	done := r.confirm()
	checkAnchor(t, r, done)
	if done.Included != 2 || r.a.Status().NextNonce != mine.Nonce+2 {
		t.Fatalf("included attempt %d, next nonce %d", done.Included, r.a.Status().NextNonce)
	}
	if txs := r.chain.txsFrom(t, r.chain.addr); len(txs) != 2 || txs[0] != foreign.Hash() || anchor.Hash(txs[1]) != an.Attempts[2].Hash {
		t.Fatalf("chain holds %v, want the foreign transaction then one anchor", txs)
	}
}

// A transaction that is included and reverts ends the anchor as failed:
// the nonce is spent, the checkpoint is not anchored, and the policy counts
// from the failed attempt rather than retrying at once.
func TestAnchorer_Reverted(t *testing.T) {
	r := newRig(t, anchor.Options{Every: 2, Interval: time.Hour})
	r.chain.payload = evmtx.NotePayload{To: revertingAddr}
	r.chain.gasLimit = 100_000
	r.reopen()
	appendEvents(t, r.log, 2)
	r.step()
	r.chain.commit()
	r.step()
	st := r.a.Status()
	if st.InFlight != nil || st.Failed != 1 || st.Confirmed != 0 || st.Last != nil {
		t.Fatalf("after a revert: in flight %v, failed %d, confirmed %d", st.InFlight, st.Failed, st.Confirmed)
	}
	if st.Unanchored != 2 || st.NextNonce != 1 {
		t.Fatalf("Unanchored %d, NextNonce %d; want 2, 1", st.Unanchored, st.NextNonce)
	}
	as := r.anchors()
	if len(as) != 1 || as[0].State != anchor.StateFailed || !as[0].Reverted {
		t.Fatalf("anchors %+v, want one failed", as)
	}
	if _, err := as[0].Evidence(); err == nil {
		t.Fatal("Evidence of a failed anchor = nil error")
	}
	r.step()
	if r.a.Status().InFlight != nil {
		t.Fatal("retried at once after a revert")
	}
	r.clock.Advance(time.Hour)
	r.step()
	if an := r.inFlight(); an.Nonce != 1 {
		t.Fatalf("retry nonce %d, want 1", an.Nonce)
	}
}
