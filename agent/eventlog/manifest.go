package eventlog

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/waybill-eu/waybill/agent/atomicfile"
	"github.com/waybill-eu/waybill/agent/event"
)

const manifestName = "manifest.json"

// manifest is the log directory's table of contents.
type manifest struct {
	Version  int         `json:"version"`
	Device   string      `json:"device"`
	Fleet    string      `json:"fleet"`
	ChainID  uint64      `json:"chain_id"`
	Epoch    uint32      `json:"epoch"`
	Epochs   []EpochInfo `json:"epochs"`
	Segments []segInfo   `json:"segments"` // of the current epoch, in order
	// Salvaged marks a read-only copy written by Salvage and says what it
	// was recovered from. Open refuses to write to such a log.
	Salvaged string `json:"salvaged,omitempty"`
}

// EpochInfo records one epoch of a log.
type EpochInfo struct {
	Epoch   uint32 `json:"epoch"`
	Origin  string `json:"origin"`
	Started string `json:"started"`            // RFC 3339
	Ended   string `json:"ended,omitempty"`    // RFC 3339, when it was closed
	Reason  string `json:"reason,omitempty"`   // why it was closed
	MovedTo string `json:"moved_to,omitempty"` // where its files went, relative to the log directory
	Size    uint64 `json:"size,omitempty"`     // events known at close, if known
}

type segInfo struct {
	File  string `json:"file"`  // relative to the log directory
	First uint64 `json:"first"` // sequence number of its first event
	// Pruned is set once Prune has replaced the file by one that keeps
	// the segment's hashes and checkpoints but not its leaves.
	Pruned bool `json:"pruned,omitempty"`
}

func (m *manifest) identity() (Identity, error) {
	dev, err := event.ParseAddress(m.Device)
	if err != nil {
		return Identity{}, fmt.Errorf("manifest: %w", err)
	}
	id := Identity{Device: dev, Fleet: m.Fleet, ChainID: m.ChainID}
	return id, id.Validate()
}

// errNoLog is returned by readManifest for a directory without a log.
var errNoLog = errors.New("no log in directory")

func readManifest(dir string) (*manifest, error) {
	b, err := os.ReadFile(filepath.Join(dir, manifestName))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("eventlog: %s: %w (create one by appending with --key)", dir, errNoLog)
	}
	if err != nil {
		return nil, fmt.Errorf("eventlog: %w", err)
	}
	var m manifest
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("eventlog: %s: %w", filepath.Join(dir, manifestName), err)
	}
	if m.Version != 1 {
		return nil, fmt.Errorf("eventlog: %s: unsupported version %d", filepath.Join(dir, manifestName), m.Version)
	}
	if len(m.Segments) == 0 {
		return nil, fmt.Errorf("eventlog: %s lists no segments", filepath.Join(dir, manifestName))
	}
	for i, s := range m.Segments {
		if i > 0 && s.First < m.Segments[i-1].First {
			return nil, fmt.Errorf("eventlog: %s: segments out of order", filepath.Join(dir, manifestName))
		}
	}
	return &m, nil
}

func writeManifest(dir string, m *manifest) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(dir, manifestName), append(b, '\n'), 0o644)
}

func epochDir(epoch uint32) string { return fmt.Sprintf("epoch-%d", epoch) }

func segFile(epoch uint32, k int) string {
	return filepath.Join(epochDir(epoch), fmt.Sprintf("seg-%06d.db", k))
}
