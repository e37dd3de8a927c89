// Package configs embeds the documented example configurations, so that
// the demo (testbench/demo) runs the van's configuration wherever its
// binary runs.
package configs

import "embed"

// FS holds gateway.yaml, van.yaml, cargo-bike.yaml and zones/.
//
//go:embed *.yaml zones
var FS embed.FS
