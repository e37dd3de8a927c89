package ledger

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/ethereum/go-ethereum/rpc"

	"github.com/waybill-eu/waybill/sync/anchor"
)

type rpcErr struct {
	code int
	msg  string
}

func (e *rpcErr) Error() string  { return e.msg }
func (e *rpcErr) ErrorCode() int { return e.code }

// The refusals of wide log ranges that nodes and providers send are known;
// other errors, and a node whose log index lags its head, are not.
func TestTooLarge(t *testing.T) {
	for _, tt := range []struct {
		err  error
		want bool
	}{
		{&rpcErr{-32000, "exceed maximum block range: 5000"}, true},
		{&rpcErr{-32005, "query returned more than 10000 results"}, true},
		{&rpcErr{-32602, "Log response size exceeded. You can make eth_getLogs requests with up to a 2K block range"}, true},
		{&rpcErr{-32000, "Requested range exceeds maximum range limit"}, true},
		{&rpcErr{-32600, "block range is too wide"}, true},
		{fmt.Errorf("ledger: %w", &rpcErr{-32000, "block range too large"}), true},
		{rpc.HTTPError{StatusCode: http.StatusRequestEntityTooLarge, Status: "413 Request Entity Too Large"}, true},
		{&rpcErr{-32000, "block range extends beyond current head block"}, false},
		{&rpcErr{-32000, "invalid block range params"}, true},
		{&rpcErr{-32601, "the method eth_getLogs does not exist/is not available"}, false},
		{rpc.HTTPError{StatusCode: http.StatusBadGateway, Status: "502 Bad Gateway"}, false},
		{errors.New("query returned more than 10000 results"), false}, // not the node's answer
		{context.DeadlineExceeded, false},
	} {
		if got := tooLarge(tt.err); got != tt.want {
			t.Errorf("tooLarge(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}

// finalThrough finds the highest final block by each rule without a node
// (the finalized tag needs one: the tests on the simulated chain cover it).
func TestFinalThrough(t *testing.T) {
	for _, tt := range []struct {
		f      anchor.Finality
		head   uint64
		want   uint64
		wantOK bool
	}{
		{anchor.QBFT, 0, 0, true},
		{anchor.QBFT, 17, 17, true},
		{anchor.Confirmations(1), 17, 17, true},
		{anchor.Confirmations(3), 17, 15, true},
		{anchor.Confirmations(3), 2, 0, true},
		{anchor.Confirmations(3), 1, 0, false},
		{anchor.Confirmations(43200), 43199, 0, true},
		{anchor.Confirmations(43200), 1 << 40, 1<<40 - 43199, true},
	} {
		r := &Reader{cfg: Config{Finality: tt.f}}
		got, ok, err := r.finalThrough(context.Background(), tt.head)
		if err != nil || got != tt.want || ok != tt.wantOK {
			t.Errorf("%s at head %d: %d, %v, %v; want %d, %v", tt.f, tt.head, got, ok, err, tt.want, tt.wantOK)
		}
		if ok && (!tt.f.Final(got, tt.head, 0) || tt.f.Final(got+1, tt.head, 0) && got < tt.head) {
			t.Errorf("%s at head %d: %d is not the highest final block", tt.f, tt.head, got)
		}
	}
}
