package boltpage

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"os"
)

const (
	// maxScanExtent caps how far one page (with its overflow) is read by
	// Scan.
	maxScanExtent = 256 << 10
	// scanBlock is how much of the file Scan reads at a time.
	scanBlock = 4 << 20
)

// A Reader scans the leaf pages of one bbolt file, whatever state the file
// is in: it trusts no page header beyond the bounds of what it read.
type Reader struct {
	r        io.ReaderAt
	size     int64
	pageSize int
	known    bool
	order    binary.ByteOrder
}

// NewReader returns a Reader of the file held by r, of size bytes. It takes
// the page size and byte order from the first meta page that gives them;
// without one, it assumes the machine's page size, little-endian.
func NewReader(r io.ReaderAt, size int64) *Reader {
	pr := &Reader{r: r, size: size, pageSize: 4096, order: binary.LittleEndian}
	hdr := make([]byte, min(size, 64<<10+64))
	n, _ := r.ReadAt(hdr, 0)
	hdr = hdr[:n]
	valid := func(ps uint32) bool { return ps >= 512 && ps <= 64<<10 && ps&(ps-1) == 0 }
	for _, o := range []binary.ByteOrder{binary.LittleEndian, binary.BigEndian} {
		// The first meta page, then the second, which lies one page in.
		if len(hdr) >= 28 && o.Uint32(hdr[16:]) == magic && valid(o.Uint32(hdr[24:])) {
			pr.pageSize, pr.known, pr.order = int(o.Uint32(hdr[24:])), true, o
			return pr
		}
		for ps := 512; ps <= 64<<10; ps *= 2 {
			if len(hdr) >= ps+28 && o.Uint32(hdr[ps+16:]) == magic && int(o.Uint32(hdr[ps+24:])) == ps {
				pr.pageSize, pr.known, pr.order = ps, true, o
				return pr
			}
		}
	}
	if ps := os.Getpagesize(); valid(uint32(ps)) {
		pr.pageSize = ps
	}
	return pr
}

// PageSize returns the page size the Reader uses, and whether a meta page
// gave it.
func (pr *Reader) PageSize() (size int, known bool) { return pr.pageSize, pr.known }

// Scan calls emit with every key/value pair of every leaf page in the file,
// including stale copies in freed pages and the pages of inline buckets,
// in file order. It skips sub-bucket headers. emit must not keep k or v.
// Scan returns an error only when the file cannot be read or ctx ends.
func (pr *Reader) Scan(ctx context.Context, emit func(k, v []byte)) error {
	ps := pr.pageSize
	// Without a meta page, step by the smallest page size bbolt uses here
	// but allow overflow extents of the largest.
	extentUnit := ps
	if !pr.known {
		extentUnit = 64 << 10
	}
	buf := make([]byte, scanBlock+maxScanExtent)
	for off := int64(0); off < pr.size; off += scanBlock {
		if err := ctx.Err(); err != nil {
			return err
		}
		want := min(int64(len(buf)), pr.size-off)
		nr, err := pr.r.ReadAt(buf[:want], off)
		if err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		b := buf[:nr]
		n := int(min(int64(scanBlock), int64(nr)))
		for p := 0; p < n; p += ps {
			if p+pageHeader > len(b) {
				break
			}
			overflow := uint64(pr.order.Uint32(b[p+12:]))
			ext := min((overflow+1)*uint64(extentUnit), uint64(maxScanExtent), uint64(len(b)-p))
			pr.leafPage(b[p:p+int(ext)], 0, emit)
		}
	}
	return nil
}

// leafPage offers the elements of page p if it is a leaf page.
func (pr *Reader) leafPage(p []byte, depth int, emit func(k, v []byte)) {
	if len(p) < pageHeader || pr.order.Uint16(p[8:]) != pgLeaf {
		return
	}
	count := uint64(pr.order.Uint16(p[10:]))
	size := uint64(len(p))
	for i := uint64(0); i < count; i++ {
		e := pageHeader + i*elemSize
		if e+elemSize > size {
			return
		}
		flags := pr.order.Uint32(p[e:])
		pos, ks, vs := uint64(pr.order.Uint32(p[e+4:])), uint64(pr.order.Uint32(p[e+8:])), uint64(pr.order.Uint32(p[e+12:]))
		k0 := e + pos
		if k0+ks+vs > size {
			continue
		}
		key, val := p[k0:k0+ks], p[k0+ks:k0+ks+vs]
		if flags&bucketFlag != 0 {
			if depth < 2 && len(val) > 16 && pr.order.Uint64(val) == 0 {
				pr.leafPage(val[16:], depth+1, emit)
			}
			continue
		}
		emit(key, val)
	}
}
