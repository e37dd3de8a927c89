package ebsi_test

import (
	"context"
	"encoding/json"
	"errors"
	"math/big"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"

	"github.com/waybill-eu/waybill/agent/checkpoint"
	"github.com/waybill-eu/waybill/sync/anchor"
	"github.com/waybill-eu/waybill/sync/anchor/ebsi"
	"github.com/waybill-eu/waybill/sync/anchor/ebsi/ebsitest"
	"github.com/waybill-eu/waybill/sync/anchor/evmtx"
)

// TestAnchorer_EBSI anchors real checkpoints of a signed log through the
// anchoring loop and the EBSI backend against the stand-in, confirms them,
// and checks what the ledger holds: the timestamp of the note's hash, by
// the device, with the note as its data, readable through the Timestamp
// API's GET /timestamps/{id}; and that the evidence verifies offline.
func TestAnchorer_EBSI(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	device := common.Address(r.key.Address())

	for round, size := range []uint64{10, 25} {
		r.appendEvents(int(size) - int(r.log.Size()))
		r.step()
		in := r.a.Status().InFlight
		if in == nil || in.State != anchor.StateSent {
			t.Fatalf("round %d: anchor in flight = %+v, want sent", round, in)
		}
		if in.Nonce != uint64(round) {
			t.Errorf("round %d: nonce %d, want %d", round, in.Nonce, round)
		}
		an := r.confirm()
		if an.Size != size {
			t.Fatalf("round %d: anchored size %d, want %d", round, an.Size, size)
		}

		// The contract holds the note's hash under sha256(hash), sent by the
		// device in the including block, with the note as data.
		h := ebsi.NoteHash(an.Note)
		ts, err := r.srv.Timestamp(ctx, ebsi.TimestampID(h[:]))
		if err != nil {
			t.Fatal(err)
		}
		if string(ts.HashValue) != string(h[:]) || ts.TimestampedBy != device || ts.BlockNumber != an.BlockNumber ||
			ts.HashAlgorithmID.Int64() != ebsitest.SHA256AlgorithmID {
			t.Errorf("round %d: timestamp = %+v; want hash %x by %s in block %d", round, ts, h, device, an.BlockNumber)
		}
		note, err := ebsi.ParseTimestampData(ts.Data)
		if err != nil || string(note) != string(an.Note) {
			t.Errorf("round %d: timestamp data holds %q, %v; want the anchored note", round, note, err)
		}
		if _, err := checkpoint.ParseCheckpoint(firstLines(note)); err != nil {
			t.Errorf("round %d: note from the ledger: %v", round, err)
		}

		// The Timestamp API names it by the multibase id.
		got := getTimestamp(t, r.srv, ebsi.FormatTimestampID(ebsi.TimestampID(h[:])))
		if got.Hash != ebsi.FormatSHA256Hash(h) || got.TransactionHash != an.Attempts[an.Included].Hash.String() ||
			!strings.EqualFold(got.TimestampedBy, device.Hex()) || got.BlockNumber != an.BlockNumber {
			t.Errorf("round %d: GET /timestamps = %+v", round, got)
		}
		if data, _ := hexutil.Decode(got.Data); string(data) != string(ts.Data) {
			t.Errorf("round %d: GET /timestamps data differs from the contract's", round)
		}

		// The evidence verifies offline, the payload included.
		ev, err := an.Evidence()
		if err != nil {
			t.Fatal(err)
		}
		b, err := ev.Format()
		if err != nil {
			t.Fatal(err)
		}
		ev2, err := anchor.ParseEvidence(b)
		if err != nil {
			t.Fatal(err)
		}
		if ev2.Version != 2 || ev2.Payload != anchor.PayloadEBSI || ev2.Endpoint != r.be.Endpoint() || ev2.ChainID == 0 ||
			ev2.To != strings.ToLower(r.be.Payload().Contract.Hex()) {
			t.Errorf("round %d: evidence version %d, payload %q, endpoint %q, chain %d, to %s; want 2, ebsi, %s, the chain's, the Timestamp contract",
				round, ev2.Version, ev2.Payload, ev2.Endpoint, ev2.ChainID, ev2.To, r.be.Endpoint())
		}
		from, err := evmtx.VerifyEvidence(ctx, ev2, r.be.Payload())
		if err != nil || from != device {
			t.Errorf("round %d: VerifyEvidence = %s, %v; want %s", round, from, err, device)
		}
		if round == 1 && (ev2.PrevSize != 10 || len(ev2.Consistency) == 0) {
			t.Errorf("round 1: evidence prev size %d with %d proof hashes; want 10 with a proof", ev2.PrevSize, len(ev2.Consistency))
		}
	}
	if n := r.srv.Calls("sendSignedTransaction"); n != 2 {
		t.Errorf("sendSignedTransaction called %d times, want 2", n)
	}
}

// firstLines returns a signed note's text (its lines before the blank
// line), the checkpoint body.
func firstLines(note []byte) []byte {
	body, _, _ := strings.Cut(string(note), "\n\n")
	return []byte(body + "\n")
}

func getTimestamp(t testing.TB, srv *ebsitest.Server, id string) ebsitest.TimestampJSON {
	t.Helper()
	resp, err := srv.HTTPClient().Get(srv.URL() + "/timestamp/v4/timestamps/" + id)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /timestamps/%s: HTTP %d", id, resp.StatusCode)
	}
	var ts ebsitest.TimestampJSON
	if err := json.NewDecoder(resp.Body).Decode(&ts); err != nil {
		t.Fatal(err)
	}
	return ts
}

// TestToken_ExpiresMidRun: the backend replaces its token before it
// expires, so the second anchor, two hours later, uses a fresh one.
func TestToken_ExpiresMidRun(t *testing.T) {
	r := newRig(t)
	r.appendEvents(10)
	r.step()
	r.confirm()
	if n := r.tok.calls.Load(); n != 1 {
		t.Fatalf("token source called %d times for the first anchor, want 1", n)
	}
	r.clock.Advance(tokenTTL - time.Minute) // inside the refresh margin
	r.appendEvents(10)
	r.step()
	r.confirm()
	if n := r.tok.calls.Load(); n != 2 {
		t.Errorf("token source called %d times, want 2 (one refresh before expiry)", n)
	}
	if n := r.srv.Issued(); n != 2 {
		t.Errorf("stand-in issued %d tokens, want 2", n)
	}
}

// TestToken_RefusedOnceRefreshes: a token whose expiry the backend cannot
// know expires on the server; the API refuses it with 401, the backend
// gets a new one and the anchor goes through.
func TestToken_RefusedOnceRefreshes(t *testing.T) {
	r := newRig(t)
	r.tok.set(ebsi.TokenSourceFunc(func(context.Context) (string, time.Time, error) {
		tok, _ := r.srv.IssueToken(did, ebsitest.Scope, tokenTTL)
		return tok, time.Time{}, nil // expiry unknown to the backend
	}))
	r.appendEvents(10)
	r.step()
	r.confirm()
	r.clock.Advance(3 * time.Hour) // the held token has expired on the server
	r.appendEvents(10)
	r.step()
	an := r.confirm()
	if an.Size != 20 {
		t.Errorf("second anchor covers %d events, want 20", an.Size)
	}
	if n := r.tok.calls.Load(); n != 2 {
		t.Errorf("token source called %d times, want 2 (one refresh after a 401)", n)
	}
}

// TestAuthorisationFailure_Queues: while no token works the loop queues the
// checkpoint and sends nothing; once a token works it anchors the newest
// checkpoint, without losing any event.
func TestAuthorisationFailure_Queues(t *testing.T) {
	cases := []struct {
		name string
		bad  func(r *rig) ebsi.TokenSource
	}{
		{"token source fails", func(*rig) ebsi.TokenSource {
			return ebsi.TokenSourceFunc(func(context.Context) (string, time.Time, error) {
				return "", time.Time{}, errors.New("authorisation API: connection refused")
			})
		}},
		{"token lacks timestamp_write", func(r *rig) ebsi.TokenSource {
			return r.srv.TokenSource(did, "openid didr_write", tokenTTL)
		}},
		{"token expired", func(r *rig) ebsi.TokenSource {
			return r.srv.TokenSource(did, ebsitest.Scope, -time.Minute)
		}},
		{"token from another issuer", func(*rig) ebsi.TokenSource {
			return ebsi.StaticToken("eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln", time.Time{})
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := newRig(t)
			r.tok.set(c.bad(r))
			r.appendEvents(10)
			ctx := context.Background()
			for i := range 3 {
				err := r.a.Step(ctx)
				if err == nil {
					t.Fatalf("step %d succeeded without a working token", i)
				}
				if !errors.Is(err, ebsi.ErrUnauthorized) {
					t.Errorf("step %d: %v; want it to wrap ErrUnauthorized", i, err)
				}
			}
			st := r.a.Status()
			if st.Queued == nil || st.Queued.Size != 10 || st.InFlight != nil || st.Reachable {
				t.Fatalf("status after authorisation failures: queued %+v, in flight %+v, reachable %v; want the checkpoint queued",
					st.Queued, st.InFlight, st.Reachable)
			}
			if n := r.pendingNonce(); n != 0 {
				t.Fatalf("the device sent %d transactions without authorisation", n)
			}

			r.appendEvents(5)
			r.tok.set(r.srv.TokenSource(did, ebsitest.Scope, tokenTTL))
			r.step()
			an := r.confirm()
			if an.Size != 15 {
				t.Errorf("anchored size %d, want 15 (every event since)", an.Size)
			}
			if st := r.a.Status(); st.Queued != nil {
				t.Errorf("queue not cleared: %+v", st.Queued)
			}
		})
	}
}

// TestBuild_RefusesForeignTransactions: the device signs only the
// transaction it means; an API that returns anything else is refused.
func TestBuild_RefusesForeignTransactions(t *testing.T) {
	other := common.HexToAddress("0x00000000000000000000000000000000000000aa")
	cases := []struct {
		name   string
		tamper func(u *ebsi.UnsignedTransaction)
	}{
		{"other data", func(u *ebsi.UnsignedTransaction) { u.Data = flipHexDigit(u.Data, len(u.Data)/2) }},
		{"other contract", func(u *ebsi.UnsignedTransaction) { u.To = other.Hex() }},
		{"value", func(u *ebsi.UnsignedTransaction) { u.Value = "0x01" }},
		{"other chain", func(u *ebsi.UnsignedTransaction) { u.ChainID = "0x01" }},
		{"other sender", func(u *ebsi.UnsignedTransaction) { u.From = other.Hex() }},
		{"gas beyond the bound", func(u *ebsi.UnsignedTransaction) { u.GasLimit = "0x1000001" }},
		{"no gas", func(u *ebsi.UnsignedTransaction) { u.GasLimit = "0x0" }},
		{"malformed to", func(u *ebsi.UnsignedTransaction) { u.To = "0x1234" }},
		{"malformed value", func(u *ebsi.UnsignedTransaction) { u.Value = "1" }},
	}
	r := newRig(t)
	r.appendEvents(3)
	note, c, err := r.log.Checkpoint(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	req := anchor.Request{Note: note, Checkpoint: c}
	fees := anchor.Fees{Tip: big.NewInt(0), Cap: big.NewInt(2e9)}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r.srv.SetTamper(c.tamper)
			defer r.srv.SetTamper(nil)
			if tx, err := r.be.Build(context.Background(), req, 0, fees); err == nil || !strings.Contains(err.Error(), "refused") {
				t.Errorf("Build = %s, %v; want a refusal", tx.Hash, err)
			}
		})
	}
	if _, err := r.be.Build(context.Background(), req, 0, fees); err != nil {
		t.Errorf("Build after the API is honest again: %v", err)
	}
}

// flipHexDigit changes the hex digit at i.
func flipHexDigit(s string, i int) string {
	b := []byte(s)
	if b[i] == '0' {
		b[i] = '1'
	} else {
		b[i] = '0'
	}
	return string(b)
}

// TestSend_Classifies maps the API's relayed refusals to the loop's
// sentinels: the same transaction twice is known; once mined, its nonce
// is used; without authorisation, neither.
func TestSend_Classifies(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	r.appendEvents(3)
	note, c, err := r.log.Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	fees, err := r.be.SuggestFees(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := r.be.Build(ctx, anchor.Request{Note: note, Checkpoint: c}, 0, fees)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.be.Send(ctx, tx.Raw); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if err := r.be.Send(ctx, tx.Raw); !errors.Is(err, anchor.ErrKnown) {
		t.Errorf("Send again = %v, want ErrKnown", err)
	}
	if _, err := r.be.Receipt(ctx, tx.Hash); !errors.Is(err, anchor.ErrNotFound) {
		t.Errorf("Receipt before the block = %v, want ErrNotFound", err)
	}
	r.srv.Commit()
	rc, err := r.be.Receipt(ctx, tx.Hash)
	if err != nil || !rc.Success || rc.TxHash != tx.Hash {
		t.Fatalf("Receipt = %+v, %v", rc, err)
	}
	blk, err := r.be.Block(ctx, anchor.Number(rc.BlockNumber))
	if err != nil || blk.Hash != rc.BlockHash {
		t.Errorf("Block(%d) = %+v, %v; want hash %s", rc.BlockNumber, blk, err, rc.BlockHash)
	}
	if _, err := r.be.Block(ctx, anchor.Number(rc.BlockNumber+100)); !errors.Is(err, anchor.ErrNotFound) {
		t.Errorf("Block beyond the head = %v, want ErrNotFound", err)
	}
	if err := r.be.Send(ctx, tx.Raw); !errors.Is(err, anchor.ErrNonceUsed) {
		t.Errorf("Send after inclusion = %v, want ErrNonceUsed", err)
	}
	if n, err := r.be.PendingNonce(ctx); err != nil || n != 1 {
		t.Errorf("PendingNonce = %d, %v; want 1", n, err)
	}

	r.tok.set(ebsi.StaticToken("not.a.token", time.Time{}))
	r.clock.Advance(3 * time.Hour)
	err = r.be.Send(ctx, tx.Raw)
	if !errors.Is(err, ebsi.ErrUnauthorized) || errors.Is(err, anchor.ErrKnown) || errors.Is(err, anchor.ErrNonceUsed) {
		t.Errorf("Send without authorisation = %v; want ErrUnauthorized only", err)
	}
}

// TestSend_DIDMustControlSigner: EBSI refuses a transaction signed by a key
// the token's DID does not control; the refusal is no loop sentinel.
func TestSend_DIDMustControlSigner(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	r.tok.set(r.srv.TokenSource("did:ebsi:zSomeoneElse", ebsitest.Scope, tokenTTL))
	r.srv.RegisterDID("did:ebsi:zSomeoneElse", common.HexToAddress("0x00000000000000000000000000000000000000bb"))
	r.appendEvents(3)
	note, c, err := r.log.Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := r.be.Build(ctx, anchor.Request{Note: note, Checkpoint: c}, 0, anchor.Fees{Tip: big.NewInt(2e9), Cap: big.NewInt(2e9)})
	if err != nil {
		t.Fatal(err)
	}
	err = r.be.Send(ctx, tx.Raw)
	if err == nil || !strings.Contains(err.Error(), "is not controlled by the address") ||
		errors.Is(err, anchor.ErrKnown) || errors.Is(err, anchor.ErrNonceUsed) || errors.Is(err, anchor.ErrUnderpriced) {
		t.Errorf("Send = %v; want the DID refusal", err)
	}
}

// TestBlock_Finalized: Besu on QBFT, like the stand-in's chain before any
// finalization, answers the finalized tag with no block.
func TestBlock_Finalized(t *testing.T) {
	r := newRig(t)
	_, err := r.be.Block(context.Background(), anchor.Finalized)
	if err != nil && !errors.Is(err, anchor.ErrNotFound) && !errors.Is(err, anchor.ErrNoFinalizedTag) {
		t.Errorf("Block(Finalized) = %v; want a block, ErrNotFound or ErrNoFinalizedTag", err)
	}
}

// TestLedger_DefaultURL: without Options.Ledger the backend reads the
// chain from the Ledger API on the Timestamp API's host, same version.
func TestLedger_DefaultURL(t *testing.T) {
	r := newRig(t)
	if got, want := r.be.LedgerURL(), r.srv.LedgerURL(); got != want {
		t.Errorf("LedgerURL = %s, want %s", got, want)
	}
	be := r.backend(func(o *ebsi.Options) { o.Ledger = r.srv.LedgerURL(); o.LedgerToken = true })
	if _, err := be.Block(context.Background(), anchor.Latest); err != nil {
		t.Errorf("Block with the token sent to the ledger: %v", err)
	}
}
