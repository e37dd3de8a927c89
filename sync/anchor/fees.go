package anchor

import "math/big"

// PriceBump is the least increase, in percent, of both the tip and the fee
// cap that nodes require of a transaction replacing another with the same
// nonce: go-ethereum's txpool.PriceBump default (core/txpool/legacypool,
// "replacement transaction underpriced"), and Besu's tx-pool-price-bump.
const PriceBump = 10

// Bump returns the least value a replacement may offer for a fee x: at least
// x·(100+PriceBump)/100 rounded up, and strictly more than x, as go-ethereum
// refuses a replacement whose tip or cap is not above the old one's even when
// the old one is zero.
func Bump(x *big.Int) *big.Int {
	y := new(big.Int).Mul(x, big.NewInt(100+PriceBump))
	y.Add(y, big.NewInt(99))
	y.Div(y, big.NewInt(100))
	if y.Cmp(x) <= 0 {
		y.Add(x, big.NewInt(1))
	}
	return y
}

func bigOr0(x *big.Int) *big.Int {
	if x == nil {
		return new(big.Int)
	}
	return x
}

func bigMin(a, b *big.Int) *big.Int {
	if a.Cmp(b) <= 0 {
		return a
	}
	return b
}

func bigMax(a, b *big.Int) *big.Int {
	if a.Cmp(b) >= 0 {
		return a
	}
	return b
}

// initialFees applies the caps to the ledger's suggestion: the fee cap at
// most maxFee, the tip at most maxTip and at most the fee cap.
func initialFees(s Fees, maxFee, maxTip *big.Int) Fees {
	c := bigMin(bigOr0(s.Cap), maxFee)
	t := bigMin(bigMin(bigOr0(s.Tip), maxTip), c)
	return Fees{Tip: new(big.Int).Set(t), Cap: new(big.Int).Set(c)}
}

// replacementFees returns the fees of a transaction replacing one that offers
// old: both raised by at least PriceBump percent (Bump), or to the ledger's
// current suggestion if that is higher, and neither above its ceiling. It
// returns false when the ceilings leave no room for a valid replacement, or
// when the ledger has no fees (old and suggested both zero): the loop then
// rebroadcasts the transaction it has instead.
func replacementFees(old, suggested Fees, feeCeiling, tipCeiling *big.Int) (Fees, bool) {
	if old.IsZero() && suggested.IsZero() {
		return Fees{}, false
	}
	minTip, minCap := Bump(bigOr0(old.Tip)), Bump(bigOr0(old.Cap))
	c := bigMin(bigMax(minCap, bigOr0(suggested.Cap)), feeCeiling)
	t := bigMin(bigMin(bigMax(minTip, bigOr0(suggested.Tip)), tipCeiling), c)
	if c.Cmp(minCap) < 0 || t.Cmp(minTip) < 0 {
		return Fees{}, false
	}
	return Fees{Tip: new(big.Int).Set(t), Cap: new(big.Int).Set(c)}, true
}
