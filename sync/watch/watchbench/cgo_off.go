//go:build !cgo

package watchbench

// cgo says whether this build links libsecp256k1 through cgo, which
// go-ethereum's crypto package uses for recovery when cgo is enabled.
const cgo = false
