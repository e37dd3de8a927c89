package verify

import (
	"fmt"

	"github.com/waybill-eu/waybill/agent/jcs"
	"github.com/waybill-eu/waybill/agent/merkle"
)

// Consistency is the RFC 9162 consistency proof between two sizes of one
// log that `waybill log consistency` prints. Its JSON form (see
// [Consistency.Marshal]) is
//
//	{"consistency":[…],"new_root":…,"new_size":…,"old_root":…,"old_size":…}
//
// RFC 8785 canonical JSON, hashes in standard base64.
type Consistency struct {
	OldSize, NewSize uint64        // JSON "old_size", "new_size": 0 < old_size <= new_size <= 2^53−1
	OldRoot, NewRoot merkle.Hash   // JSON "old_root", "new_root": base64
	Proof            []merkle.Hash // JSON "consistency": base64 hashes, RFC 9162 order
}

var consistencyMembers = []string{"consistency", "new_root", "new_size", "old_root", "old_size"}

type consistencyJSON struct {
	Consistency []string `json:"consistency"`
	NewRoot     string   `json:"new_root"`
	NewSize     uint64   `json:"new_size"`
	OldRoot     string   `json:"old_root"`
	OldSize     uint64   `json:"old_size"`
}

// Marshal returns the RFC 8785 canonical JSON of c (members consistency,
// new_root, new_size, old_root, old_size), with no trailing newline.
func (c *Consistency) Marshal() ([]byte, error) {
	if c.NewSize > MaxSafeInteger {
		return nil, fmt.Errorf("verify: new size %d is above 2^53-1 and cannot be written exactly in JSON", c.NewSize)
	}
	if c.OldSize > c.NewSize {
		return nil, fmt.Errorf("verify: old size %d is larger than new size %d", c.OldSize, c.NewSize)
	}
	out, err := jcs.Marshal(&consistencyJSON{
		Consistency: hashStrings(c.Proof),
		NewRoot:     c.NewRoot.String(), NewSize: c.NewSize,
		OldRoot: c.OldRoot.String(), OldSize: c.OldSize,
	})
	if err != nil {
		return nil, fmt.Errorf("verify: marshal consistency: %w", err)
	}
	return out, nil
}

// ParseConsistency parses a consistency proof as strictly as [ParseBundle]
// parses a bundle. It also requires 0 < old_size <= new_size; it verifies
// nothing else (see [Consistency.Verify]).
func ParseConsistency(data []byte) (*Consistency, error) {
	c, err := parseConsistency(data)
	if err != nil {
		return nil, malformed("%v", err)
	}
	return c, nil
}

func parseConsistency(data []byte) (*Consistency, error) {
	o, err := decode("consistency", data, consistencyMembers...)
	if err != nil {
		return nil, err
	}
	c := new(Consistency)
	if c.Proof, err = hashesMember(o, "consistency"); err != nil {
		return nil, err
	}
	if c.NewRoot, err = hashMember(o, "new_root"); err != nil {
		return nil, err
	}
	if c.NewSize, err = o.Uint("new_size", MaxSafeInteger); err != nil {
		return nil, err
	}
	if c.OldRoot, err = hashMember(o, "old_root"); err != nil {
		return nil, err
	}
	if c.OldSize, err = o.Uint("old_size", MaxSafeInteger); err != nil {
		return nil, err
	}
	if c.OldSize == 0 || c.OldSize > c.NewSize {
		return nil, fmt.Errorf("consistency needs 0 < old_size <= new_size, got %d and %d", c.OldSize, c.NewSize)
	}
	return c, nil
}

// Verify checks that the proof shows the tree of OldSize leaves with root
// OldRoot to be a prefix of the tree of NewSize leaves with root NewRoot
// (RFC 9162 §2.1.4.2). It does not check that either root was signed: pair
// it with the two checkpoints.
func (c *Consistency) Verify() error {
	if c.OldSize == 0 || c.OldSize > c.NewSize {
		return invalid("consistency needs 0 < old_size <= new_size, got %d and %d", c.OldSize, c.NewSize)
	}
	if err := merkle.CheckConsistency(c.Proof, c.OldSize, c.NewSize, c.OldRoot, c.NewRoot); err != nil {
		return invalid("consistency proof does not lead from the old root to the new root (%v)", err)
	}
	return nil
}
