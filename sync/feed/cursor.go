package feed

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"time"

	"github.com/waybill-eu/waybill/agent/atomicfile"
	"github.com/waybill-eu/waybill/agent/event"
	"github.com/waybill-eu/waybill/agent/jcs"
)

// ErrCursor is wrapped by the error New returns when the cursor file cannot
// be read or does not fit the log.
var ErrCursor = errors.New("feed cursor")

// maxCursorFile caps what readCursor reads.
const maxCursorFile = 4 << 10

// cursor is the persisted acknowledgement cursor: Next is the first
// sequence number of log Origin that the broker has not acknowledged.
type cursor struct {
	Origin string
	Next   uint64
}

// format returns the file's bytes: the canonical JSON object
// {"next":N,"origin":"…","v":1} and a newline.
func (c cursor) format() []byte {
	b := []byte(`{"next":`)
	b = strconv.AppendUint(b, c.Next, 10)
	b = append(b, `,"origin":`...)
	b = strconv.AppendQuote(b, c.Origin) // an origin is plain ASCII: no escapes differ from RFC 8785
	return append(b, ",\"v\":1}\n"...)
}

// readCursor reads the cursor file at path. A missing file is no cursor
// (ok false, no error); anything but the exact bytes format writes is an
// error wrapping ErrCursor.
func readCursor(path string) (c cursor, ok bool, err error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return c, false, nil
	}
	if err != nil {
		return c, false, fmt.Errorf("%w: %w", ErrCursor, err)
	}
	defer f.Close()
	data := make([]byte, maxCursorFile+1)
	n, _ := f.Read(data)
	data = data[:n]
	bad := func(why string, args ...any) error {
		return fmt.Errorf("%w: %s: %s", ErrCursor, path, fmt.Sprintf(why, args...))
	}
	if n > maxCursorFile {
		return c, false, bad("larger than %d bytes", maxCursorFile)
	}
	body, found := bytes.CutSuffix(data, []byte("\n"))
	if !found || !jcs.IsCanonical(body) {
		return c, false, bad("not one line of canonical JSON")
	}
	o, err := jcs.DecodeCanonical("cursor", body, "next", "origin", "v")
	if err != nil {
		return c, false, bad("%v", err)
	}
	if v := string(o.Raw("v")); v != "1" {
		return c, false, bad("cursor member \"v\" is %s, want 1", short(v))
	}
	if c.Next, err = o.Uint("next", event.MaxSeq); err != nil {
		return c, false, bad("%v", err)
	}
	if c.Origin, err = o.String("origin"); err != nil {
		return c, false, bad("%v", err)
	}
	if _, _, _, err := parseOrigin(c.Origin); err != nil {
		return c, false, bad("%v", err)
	}
	if !bytes.Equal(c.format(), data) {
		return c, false, bad("not in the form this version writes")
	}
	return c, true, nil
}

// writeCursor replaces the cursor file atomically and durably
// (atomicfile: temporary file, fsync, rename, directory fsync).
func writeCursor(path string, c cursor) error {
	return atomicfile.WriteFile(path, c.format(), 0o644)
}

// moveAside renames a cursor file that cannot be used to
// PATH.damaged-<UTC time>, keeping its bytes for inspection, and returns
// the new path. The publisher then starts as without a cursor: it
// publishes the log again from its first event, which consumers tolerate
// as they tolerate any redelivery (FEED.md: at least once, by sequence
// number).
func moveAside(path string, now time.Time) (string, error) {
	to := path + ".damaged-" + now.UTC().Format("20060102T150405.000000000Z")
	if err := os.Rename(path, to); err != nil {
		return "", fmt.Errorf("%w: move the damaged cursor file aside: %w", ErrCursor, err)
	}
	return to, nil
}
