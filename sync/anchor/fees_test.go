package anchor

import (
	"math/big"
	"testing"
)

func TestBump(t *testing.T) {
	tests := []struct{ in, want int64 }{
		{0, 1},     // strictly above, even from zero
		{1, 2},     // 1.1 rounds up to 2
		{9, 10},    // 9.9 → 10
		{10, 11},   // exactly +10%
		{11, 13},   // 12.1 → 13
		{100, 110}, // exact
		{1_000_000, 1_100_000},
		{2_001_000_000, 2_201_100_000},
	}
	for _, tt := range tests {
		if got := Bump(big.NewInt(tt.in)); got.Cmp(big.NewInt(tt.want)) != 0 {
			t.Errorf("Bump(%d) = %s, want %d", tt.in, got, tt.want)
		}
	}
	// go-ethereum's rule (core/txpool/legacypool): a replacement is refused
	// unless new > old and new ≥ old·(100+PriceBump)/100 (integer division).
	for x := int64(0); x < 2000; x++ {
		old := big.NewInt(x)
		b := Bump(old)
		floor := new(big.Int).Div(new(big.Int).Mul(old, big.NewInt(100+PriceBump)), big.NewInt(100))
		if b.Cmp(old) <= 0 || b.Cmp(floor) < 0 {
			t.Fatalf("Bump(%d) = %s fails go-ethereum's replacement rule", x, b)
		}
		if c := new(big.Int).Sub(b, big.NewInt(1)); c.Cmp(old) > 0 && new(big.Int).Mul(c, big.NewInt(100)).Cmp(new(big.Int).Mul(old, big.NewInt(100+PriceBump))) >= 0 {
			t.Fatalf("Bump(%d) = %s is not the least valid value (%s is)", x, b, c)
		}
	}
}

func fees(tip, cap int64) Fees { return Fees{Tip: big.NewInt(tip), Cap: big.NewInt(cap)} }

func TestInitialFees(t *testing.T) {
	tests := []struct {
		name           string
		sugg           Fees
		maxFee, maxTip int64
		want           Fees
	}{
		{"under the caps", fees(1, 20), 100, 100, fees(1, 20)},
		{"fee cap capped", fees(1, 200), 100, 100, fees(1, 100)},
		{"tip capped", fees(50, 60), 100, 10, fees(10, 60)},
		{"tip at most the fee cap", fees(80, 200), 50, 100, fees(50, 50)},
		{"no fees", Fees{}, 100, 100, fees(0, 0)},
	}
	for _, tt := range tests {
		got := initialFees(tt.sugg, big.NewInt(tt.maxFee), big.NewInt(tt.maxTip))
		if got.Tip.Cmp(tt.want.Tip) != 0 || got.Cap.Cmp(tt.want.Cap) != 0 {
			t.Errorf("%s: initialFees = %v/%v, want %v/%v", tt.name, got.Tip, got.Cap, tt.want.Tip, tt.want.Cap)
		}
	}
}

func TestReplacementFees(t *testing.T) {
	tests := []struct {
		name             string
		old, sugg        Fees
		ceiling, tipCeil int64
		want             Fees
		wantOK           bool
	}{
		{"bumped 10%", fees(100, 1000), fees(50, 500), 10000, 10000, fees(110, 1100), true},
		{"suggestion higher than the bump", fees(100, 1000), fees(300, 3000), 10000, 10000, fees(300, 3000), true},
		{"suggestion capped by the ceiling", fees(100, 1000), fees(300, 30000), 2000, 10000, fees(300, 2000), true},
		{"ceiling leaves exactly 10%", fees(100, 1000), fees(1, 1), 1100, 10000, fees(110, 1100), true},
		{"ceiling below the bump", fees(100, 1000), fees(1, 1), 1099, 10000, Fees{}, false},
		{"tip ceiling below the tip bump", fees(100, 1000), fees(1, 1), 10000, 109, Fees{}, false},
		{"tip squeezed under the cap", fees(1000, 1000), fees(1, 1), 1100, 10000, fees(1100, 1100), true},
		{"zero tip rises to 1", fees(0, 1000), fees(0, 0), 10000, 10000, fees(1, 1100), true},
		{"ledger without fees: rebroadcast", fees(0, 0), fees(0, 0), 10000, 10000, Fees{}, false},
	}
	for _, tt := range tests {
		got, ok := replacementFees(tt.old, tt.sugg, big.NewInt(tt.ceiling), big.NewInt(tt.tipCeil))
		if ok != tt.wantOK {
			t.Errorf("%s: ok = %v, want %v", tt.name, ok, tt.wantOK)
			continue
		}
		if ok && (got.Tip.Cmp(tt.want.Tip) != 0 || got.Cap.Cmp(tt.want.Cap) != 0) {
			t.Errorf("%s: replacementFees = %v/%v, want %v/%v", tt.name, got.Tip, got.Cap, tt.want.Tip, tt.want.Cap)
		}
	}
}
