// Package configs embeds the documented example configurations, so that
// `waybill demo` runs the van's configuration wherever the binary runs.
package configs

import "embed"

// FS holds gateway.yaml, van.yaml, cargo-bike.yaml and zones/.
//
//go:embed *.yaml zones
var FS embed.FS
