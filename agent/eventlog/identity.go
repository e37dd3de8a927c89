package eventlog

import (
	"errors"
	"fmt"

	"github.com/waybill-eu/waybill/agent/event"
	"github.com/waybill-eu/waybill/agent/signer"
)

// Identity is who a log belongs to. It is fixed when the log is created.
type Identity struct {
	Device  event.Address
	Fleet   string
	ChainID uint64
}

// Domain returns the EIP-712 domain the device signs in.
func (id Identity) Domain() signer.Domain { return signer.Domain{ChainID: id.ChainID, Fleet: id.Fleet} }

// KeyName returns the signed-note key name of the device's checkpoint keys:
// "waybill/<fleet>/<device>". It is the same in every epoch.
func (id Identity) KeyName() string { return KeyName(id.Fleet, id.Device) }

// KeyName returns "waybill/<fleet>/<device>" (signer.KeyName).
func KeyName(fleet string, device event.Address) string { return signer.KeyName(fleet, device) }

// Origin returns the checkpoint origin of epoch e: "<key name>/<e>".
func (id Identity) Origin(epoch uint32) string { return signer.Origin(id.Fleet, id.Device, epoch) }

// ReadIdentity returns the identity recorded in the log directory dir,
// without opening (or locking) the log. When the manifest is missing or
// damaged, it reads the identity its segments record.
func ReadIdentity(dir string) (Identity, error) {
	_, m, err := loadManifest(dir)
	if errors.Is(err, errManifest) {
		inv, serr := scanLog(dir, true)
		if serr != nil {
			return Identity{}, serr
		}
		id, _, ierr := inv.identity(nil)
		if ierr != nil {
			return Identity{}, fmt.Errorf("%w; the log's identity cannot be read from its segments: %v", err, ierr)
		}
		return id, nil
	}
	if err != nil {
		return Identity{}, err
	}
	return m.Identity()
}

// Validate checks the identity's fields.
func (id Identity) Validate() error {
	if id.Device == (event.Address{}) {
		return fmt.Errorf("eventlog: identity has no device address")
	}
	return id.Domain().Validate()
}

// RecoverIdentity returns the identity of the log in dir as its segments
// record it, without the manifest. chainID, if not 0, is the chain ID to
// confirm against the signatures of segments that do not record theirs.
func RecoverIdentity(dir string, chainID uint64) (Identity, error) {
	inv, err := scanLog(dir, true)
	if err != nil {
		return Identity{}, err
	}
	var cands []Identity
	if chainID != 0 {
		cands = append(cands, Identity{ChainID: chainID})
	}
	id, _, err := inv.identity(cands)
	if err != nil {
		return Identity{}, fmt.Errorf("eventlog: %s: %w", dir, err)
	}
	return id, nil
}
