// Package deps holds the tests of the module's import rules: what the
// device binary must not link, and which way the layers import each other.
// It has no code of its own; `go test ./testbench/deps` checks the rules
// with `go list`, for this machine and for the armv6 Pi.
package deps
