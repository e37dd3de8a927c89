package eventlog

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/waybill-eu/waybill/agent/atomicfile"
	"github.com/waybill-eu/waybill/agent/event"
	"github.com/waybill-eu/waybill/agent/signer"
)

// ManifestFile is the name of the manifest in a log directory.
const ManifestFile = "manifest.json"

// Manifest is the log directory's table of contents (manifest.json): the
// log's identity, its epochs and the segment files of the current epoch.
// The log writes it; tools that inspect a log read it with ReadManifest.
type Manifest struct {
	Version  int           `json:"version"`
	Device   string        `json:"device"`
	Fleet    string        `json:"fleet"`
	ChainID  uint64        `json:"chain_id"`
	Epoch    uint32        `json:"epoch"`
	Epochs   []EpochInfo   `json:"epochs"`
	Segments []SegmentInfo `json:"segments"` // of the current epoch, in order
	// Salvaged marks a read-only copy written by WriteSalvaged and says
	// what it was recovered from. Open refuses to write to such a log.
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

// SegmentInfo names one segment file of the current epoch.
type SegmentInfo struct {
	File  string `json:"file"`  // relative to the log directory
	First uint64 `json:"first"` // sequence number of its first event
	// Pruned is set once Prune has replaced the file by one that keeps
	// the segment's hashes and checkpoints but not its leaves.
	Pruned bool `json:"pruned,omitempty"`
}

// Identity returns the log's identity the manifest records, validated.
func (m *Manifest) Identity() (Identity, error) {
	dev, err := event.ParseAddress(m.Device)
	if err != nil {
		return Identity{}, fmt.Errorf("manifest: %w", err)
	}
	id := Identity{Device: dev, Fleet: m.Fleet, ChainID: m.ChainID}
	return id, id.Validate()
}

// errNoLog is returned by ReadManifest for a directory without a log.
var errNoLog = errors.New("no log in directory")

// errManifest is wrapped by ReadManifest's error when manifest.json is
// missing from a directory that holds a log's files, or cannot be used:
// empty, not JSON, or naming no segments or segments out of order.
var errManifest = errors.New("manifest is missing or damaged")

// ReadManifest reads and validates the manifest of the log in dir. It does
// not lock the log; the manifest is replaced atomically, never rewritten in
// place.
func ReadManifest(dir string) (*Manifest, error) {
	_, m, err := loadManifest(dir)
	if err != nil {
		return nil, err
	}
	return m, nil
}

// loadManifest reads and parses dir's manifest. It returns the bytes read
// (nil if there was no file) with the error, which wraps errNoLog when dir
// holds no log, errManifest when the manifest is missing from a log or
// cannot be used, and neither when it could not be read.
func loadManifest(dir string) ([]byte, *Manifest, error) {
	path := filepath.Join(dir, ManifestFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		ok, xerr := Exists(dir)
		switch {
		case xerr != nil:
			return nil, nil, xerr
		case ok:
			return nil, nil, fmt.Errorf("eventlog: %s: %w: %s does not exist, but the log's files do (start the agent with its key to rebuild the manifest from the segments)", dir, errManifest, ManifestFile)
		}
		return nil, nil, fmt.Errorf("eventlog: %s: %w (create one by appending with --key)", dir, errNoLog)
	}
	if err != nil {
		if errors.Is(err, fs.ErrPermission) {
			return nil, nil, unreadable(path, err)
		}
		return nil, nil, fmt.Errorf("eventlog: %w", err)
	}
	m, err := parseManifest(b)
	if err != nil {
		// m, if the JSON decoded, still helps to rebuild the history.
		return b, m, fmt.Errorf("eventlog: %s: %w: %v", path, errManifest, err)
	}
	return b, m, nil
}

// parseManifest parses and validates a manifest's bytes. When the JSON
// decodes but does not validate, it returns the decoded manifest with the
// error.
func parseManifest(b []byte) (*Manifest, error) {
	var m Manifest
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		if err == io.EOF {
			return nil, errors.New("the file is empty")
		}
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("data after the manifest object")
	}
	if err := m.validate(); err != nil {
		return &m, err
	}
	return &m, nil
}

func (m *Manifest) validate() error {
	if m.Version != 1 {
		return fmt.Errorf("unsupported version %d", m.Version)
	}
	if _, err := m.Identity(); err != nil {
		return err
	}
	if len(m.Segments) == 0 {
		return errors.New("it lists no segments")
	}
	for i, s := range m.Segments {
		if i > 0 && s.First < m.Segments[i-1].First {
			return errors.New("segments out of order")
		}
	}
	n := 0
	seen := map[uint32]bool{}
	for _, e := range m.Epochs {
		if seen[e.Epoch] {
			return fmt.Errorf("epoch %d is recorded twice", e.Epoch)
		}
		seen[e.Epoch] = true
		if e.Epoch > m.Epoch {
			return fmt.Errorf("epoch %d is recorded, after the current epoch %d", e.Epoch, m.Epoch)
		}
		if e.Epoch == m.Epoch {
			n++
			if e.MovedTo != "" {
				return fmt.Errorf("the current epoch %d is recorded as moved to %s", e.Epoch, e.MovedTo)
			}
		}
		if e.Origin != signer.Origin(m.Fleet, mustAddr(m.Device), e.Epoch) {
			return fmt.Errorf("epoch %d has origin %q", e.Epoch, e.Origin)
		}
	}
	if n != 1 {
		return fmt.Errorf("the current epoch %d is not in the history", m.Epoch)
	}
	return nil
}

func writeManifest(dir string, m *Manifest) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(dir, ManifestFile), append(b, '\n'), 0o644)
}

// EpochDir returns the directory of epoch's files, relative to the log
// directory: epoch-N.
func EpochDir(epoch uint32) string { return fmt.Sprintf("epoch-%d", epoch) }

func segFile(epoch uint32, k int) string {
	return filepath.Join(EpochDir(epoch), fmt.Sprintf("seg-%06d.db", k))
}
