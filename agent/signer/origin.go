package signer

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/waybill-eu/waybill/agent/event"
)

// ParseOrigin splits a checkpoint origin as Origin writes it,
// "waybill/<fleet>/<device>/<epoch>", and refuses any other spelling: the
// fleet must be valid (ValidFleet), the device 0x and 40 lowercase hex
// digits, the epoch decimal from 0 to 2^32−1 without leading zeros. Its
// errors say what is wrong with the origin; the caller names the origin.
func ParseOrigin(origin string) (fleet string, device event.Address, epoch uint32, err error) {
	parts := strings.Split(origin, "/")
	if len(parts) != 4 || parts[0] != "waybill" {
		return "", device, 0, errors.New("not waybill/<fleet>/<device>/<epoch>")
	}
	if !ValidFleet(parts[1]) {
		return "", device, 0, fmt.Errorf("fleet %q is not a valid fleet identifier", parts[1])
	}
	if device, err = event.ParseAddress(parts[2]); err != nil {
		return "", device, 0, fmt.Errorf("device %w", err)
	}
	e, err := strconv.ParseUint(parts[3], 10, 32)
	if err != nil || strconv.FormatUint(e, 10) != parts[3] {
		return "", device, 0, fmt.Errorf("epoch %q is not a decimal number from 0 to 4294967295 without leading zeros", parts[3])
	}
	return parts[1], device, uint32(e), nil
}
