// Package boltpage reads the pages of a bbolt file directly, with
// bounds-checked reads, without mapping it: Check verifies the structure
// bbolt trusts before a file is opened, and Scan yields the key/value pairs
// of every leaf page, including stale copies in freed pages, for recovery
// from a file bbolt refuses to open.
//
// bbolt trusts its file: a zeroed or flipped page makes it panic, a page
// past the end of a truncated file faults, and a branch page that points
// back at one of its ancestors makes its cursor recurse until the stack is
// exhausted, which no recover survives. Check makes the last impossible and
// names the page of the others.
//
// The layout is bbolt's (go.etcd.io/bbolt v1.5.0, internal/common), in the
// machine's byte order (little-endian on every platform Waybill runs on):
//
//	page header, 16 bytes: id uint64, flags uint16, count uint16, overflow uint32
//	  (a page with overflow n occupies n+1 contiguous pages)
//	flags: 0x01 branch, 0x02 leaf, 0x04 meta, 0x10 freelist
//	meta, after the header: magic uint32 0xED0CDAED, version uint32,
//	  pageSize uint32, flags uint32, root {pgid uint64, sequence uint64},
//	  freelist uint64, pgid uint64 (high-water mark), txid uint64,
//	  checksum uint64 (FNV-64a of the 56 bytes before it)
//	branch element, 16 bytes: pos uint32, ksize uint32, pgid uint64
//	leaf element, 16 bytes: flags uint32, pos uint32, ksize uint32, vsize uint32;
//	  the key starts pos bytes after the element's own address, the value follows it
//	leaf element flag 0x01: the value is a bucket header {root uint64, sequence uint64};
//	  root 0 means the bucket's page follows inline in the value
//	freelist page: count ids of uint64 (count 0xFFFF: the first id is the count)
package boltpage

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"io"
)

const (
	pgBranch   = 0x01
	pgLeaf     = 0x02
	pgFreelist = 0x10

	pageHeader = 16
	elemSize   = 16
	bucketFlag = 0x01
	magic      = 0xED0CDAED

	pgNoFreelist = ^uint64(0)
	metaVersion  = 2
	// maxPageExtent caps one page with its overflow pages.
	maxPageExtent = 64 << 20
	// maxTreeDepth caps the depth of a bucket's tree; bbolt's are a few
	// levels deep.
	maxTreeDepth = 32
)

// Problem is damage Check found, and where.
type Problem struct {
	Page   uint64
	Bucket string // the bucket whose tree holds the page ("" for the root)
	Key    []byte // the lowest key the page may hold, when known
	Msg    string
}

func (p *Problem) Error() string {
	where := fmt.Sprintf("page %d", p.Page)
	if p.Bucket != "" {
		where += " of bucket " + p.Bucket
	}
	return where + ": " + p.Msg
}

type pageWalker struct {
	r     io.ReaderAt
	size  int64
	ps    uint64
	hwm   uint64
	full  bool
	order binary.ByteOrder
	seen  map[uint64]bool
}

// Check checks the bbolt file held by r, of size bytes, as bbolt needs it
// before it maps the file. It always checks that a valid meta page exists
// and that every branch page of every bucket is well formed (its id, its
// type, its elements within the page, its keys in order, its children
// below the high-water mark and reached once): what bbolt needs to never
// loop and to fail only in ways a recover catches. With full set it also
// checks every leaf page the same way, the sub-bucket headers, that no page
// lies past the end of the file, and that the freelist is well formed and
// frees no page in use: what a writer needs to append to the file without
// harming what it holds.
//
// Damage in a page is returned as a *Problem naming it; a file without a
// valid meta page, or cut short, as another error.
func Check(r io.ReaderAt, size int64, full bool) error {
	w := &pageWalker{r: r, size: size, full: full, order: binary.LittleEndian, seen: map[uint64]bool{}}
	m, err := w.meta()
	if err != nil {
		return err
	}
	w.ps, w.hwm = m.pageSize, m.pgid
	if err := w.tree(m.root, "", nil, nil, 0, true); err != nil {
		return err
	}
	if !full {
		return nil
	}
	if uint64(size)/w.ps < w.hwm {
		return fmt.Errorf("the file is %d bytes, but its meta page says it holds %d pages of %d bytes: it was truncated", size, w.hwm, w.ps)
	}
	if m.freelist == pgNoFreelist {
		return nil
	}
	return w.freelist(m.freelist)
}

type metaPage struct {
	pageSize, root, freelist, pgid, txid uint64
}

// meta returns the meta page bbolt would use: of the two that verify, the
// one with the higher transaction id.
func (w *pageWalker) meta() (metaPage, error) {
	var best metaPage
	found := false
	var why []string
	try := func(off int64) {
		var b [16 + 64]byte
		if n, _ := w.r.ReadAt(b[:], off); n < len(b) {
			why = append(why, fmt.Sprintf("meta page at %d: cut short", off))
			return
		}
		o := w.order
		mb := b[16:]
		if o.Uint32(mb) != magic || o.Uint32(mb[4:]) != metaVersion {
			why = append(why, fmt.Sprintf("meta page at %d: not a bbolt meta page", off))
			return
		}
		h := fnv.New64a()
		h.Write(mb[:56])
		if h.Sum64() != o.Uint64(mb[56:]) {
			why = append(why, fmt.Sprintf("meta page at %d: checksum does not match", off))
			return
		}
		m := metaPage{pageSize: uint64(o.Uint32(mb[8:])), root: o.Uint64(mb[16:]), freelist: o.Uint64(mb[32:]),
			pgid: o.Uint64(mb[40:]), txid: o.Uint64(mb[48:])}
		if m.pageSize < 512 || m.pageSize > 64<<10 || m.pageSize&(m.pageSize-1) != 0 {
			why = append(why, fmt.Sprintf("meta page at %d: page size %d", off, m.pageSize))
			return
		}
		if int64(off) != 0 && uint64(off) != m.pageSize {
			why = append(why, fmt.Sprintf("meta page at %d: page size %d", off, m.pageSize))
			return
		}
		if m.pgid < 3 || m.root < 2 || m.root >= m.pgid || m.freelist != pgNoFreelist && (m.freelist < 2 || m.freelist >= m.pgid) {
			why = append(why, fmt.Sprintf("meta page at %d: high-water mark %d, root page %d, freelist page %d", off, m.pgid, m.root, m.freelist))
			return
		}
		if !found || m.txid > best.txid {
			best, found = m, true
		}
	}
	try(0)
	for ps := int64(512); ps <= 64<<10; ps *= 2 {
		if !found || uint64(ps) == best.pageSize {
			try(ps)
		}
	}
	if !found {
		return best, fmt.Errorf("invalid file: no valid meta page (%s)", joinFirst(why, 3))
	}
	return best, nil
}

func joinFirst(s []string, n int) string {
	if len(s) > n {
		s = s[:n]
	}
	var b bytes.Buffer
	for i, x := range s {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(x)
	}
	return b.String()
}

// page reads page id with its overflow pages and checks its header: a
// branch or leaf page, or with freelist set a freelist page.
func (w *pageWalker) page(id uint64, bucket string, lo []byte, freelist bool) ([]byte, *Problem) {
	bad := func(format string, args ...any) *Problem {
		return &Problem{Page: id, Bucket: bucket, Key: lo, Msg: fmt.Sprintf(format, args...)}
	}
	if id < 2 || id >= w.hwm {
		return nil, bad("referenced, but outside pages 2 to %d", w.hwm-1)
	}
	off := id * w.ps
	if off+w.ps > uint64(w.size) {
		return nil, bad("lies past the end of the file (%d bytes): the file was truncated", w.size)
	}
	var h [16]byte
	if _, err := w.r.ReadAt(h[:], int64(off)); err != nil {
		return nil, bad("unreadable: %v", err)
	}
	if got := w.order.Uint64(h[:]); got != id {
		return nil, bad("its header names page %d", got)
	}
	switch flags := w.order.Uint16(h[8:]); {
	case freelist && flags != pgFreelist:
		return nil, bad("has type %#x, not a freelist page", flags)
	case !freelist && flags != pgBranch && flags != pgLeaf:
		return nil, bad("has type %#x, not a branch or leaf page", flags)
	}
	overflow := uint64(w.order.Uint32(h[12:]))
	if overflow >= w.hwm-id || (overflow+1)*w.ps > maxPageExtent {
		return nil, bad("claims %d overflow pages, past the high-water mark %d", overflow, w.hwm)
	}
	ext := (overflow + 1) * w.ps
	if off+ext > uint64(w.size) {
		return nil, bad("its overflow pages lie past the end of the file (%d bytes): the file was truncated", w.size)
	}
	for i := uint64(0); i <= overflow; i++ {
		if w.seen[id+i] {
			return nil, bad("is reached twice")
		}
		w.seen[id+i] = true
	}
	buf := make([]byte, ext)
	if _, err := w.r.ReadAt(buf, int64(off)); err != nil {
		return nil, bad("unreadable: %v", err)
	}
	return buf, nil
}

// tree walks the subtree of page id of bucket, whose keys lie in [lo, hi)
// (nil: unbounded). root is set for the root bucket, whose leaf pages name
// the buckets and are always read.
func (w *pageWalker) tree(id uint64, bucket string, lo, hi []byte, depth int, root bool) error {
	if depth > maxTreeDepth {
		return &Problem{Page: id, Bucket: bucket, Key: lo, Msg: fmt.Sprintf("lies deeper than %d levels", maxTreeDepth)}
	}
	p, prob := w.page(id, bucket, lo, false)
	if prob != nil {
		return prob
	}
	bad := func(format string, args ...any) error {
		return &Problem{Page: id, Bucket: bucket, Key: lo, Msg: fmt.Sprintf(format, args...)}
	}
	flags, count := w.order.Uint16(p[8:]), int(w.order.Uint16(p[10:]))
	if count == 0 && flags == pgBranch {
		return bad("is a branch page without elements")
	}
	if 16+16*count > len(p) {
		return bad("claims %d elements, more than the page holds", count)
	}
	type child struct {
		id     uint64
		lo, hi []byte
	}
	var kids []child
	var prev []byte
	for i := 0; i < count; i++ {
		e := 16 + 16*i
		var pos, ks, vs uint64
		var elemFlags uint32
		var pg uint64
		if flags == pgBranch {
			pos, ks, pg = uint64(w.order.Uint32(p[e:])), uint64(w.order.Uint32(p[e+4:])), w.order.Uint64(p[e+8:])
		} else {
			elemFlags = w.order.Uint32(p[e:])
			pos, ks, vs = uint64(w.order.Uint32(p[e+4:])), uint64(w.order.Uint32(p[e+8:])), uint64(w.order.Uint32(p[e+12:]))
		}
		k0 := uint64(e) + pos
		if k0+ks+vs > uint64(len(p)) {
			return bad("element %d lies outside the page", i)
		}
		key := p[k0 : k0+ks]
		if ks == 0 {
			return bad("element %d has an empty key", i)
		}
		if prev != nil && bytes.Compare(prev, key) >= 0 || i == 0 && lo != nil && bytes.Compare(key, lo) < 0 ||
			hi != nil && bytes.Compare(key, hi) >= 0 {
			return bad("element %d has key %x out of order", i, key)
		}
		prev = key
		if flags == pgBranch {
			kids = append(kids, child{id: pg, lo: key})
			if i > 0 {
				kids[i-1].hi = key
			}
			continue
		}
		if elemFlags&bucketFlag == 0 {
			continue
		}
		if !root && !w.full {
			continue
		}
		val := p[k0+ks : k0+ks+vs]
		if len(val) < 16 {
			return bad("element %d is a bucket with a %d-byte header", i, len(val))
		}
		sub := string(key)
		if sr := w.order.Uint64(val); sr != 0 {
			if err := w.tree(sr, sub, nil, nil, 0, false); err != nil {
				return err
			}
		} else if w.full {
			if err := w.inline(val[16:], sub); err != nil {
				return err
			}
		}
	}
	if len(kids) == 0 {
		return nil
	}
	kids[len(kids)-1].hi = hi
	// Without full, the leaf pages of the buckets are left to bbolt, which
	// reads them behind a recover: a leaf page cannot lead bbolt anywhere
	// else. The leaves of a bbolt tree all lie at one depth, so the first
	// child tells whether this page's children are leaves. Pages past the
	// end of a truncated file are left to bbolt too: reading them faults,
	// which the recover also catches.
	if !w.full && !root && w.isLeaf(kids[0].id) {
		return nil
	}
	for _, k := range kids {
		if !w.full && (k.id+1)*w.ps > uint64(w.size) && k.id < w.hwm {
			continue
		}
		if err := w.tree(k.id, bucket, k.lo, k.hi, depth+1, root); err != nil {
			return err
		}
	}
	return nil
}

// isLeaf reports whether page id reads as a leaf page.
func (w *pageWalker) isLeaf(id uint64) bool {
	if id < 2 || id >= w.hwm || (id+1)*w.ps > uint64(w.size) {
		return false
	}
	var h [16]byte
	if _, err := w.r.ReadAt(h[:], int64(id*w.ps)); err != nil {
		return false
	}
	return w.order.Uint64(h[:]) == id && w.order.Uint16(h[8:]) == pgLeaf
}

// inline checks the leaf page of an inline bucket, held in its header's value.
func (w *pageWalker) inline(p []byte, bucket string) error {
	bad := func(format string, args ...any) error {
		return &Problem{Bucket: bucket, Msg: "inline bucket: " + fmt.Sprintf(format, args...)}
	}
	if len(p) < 16 {
		return bad("%d bytes", len(p))
	}
	if w.order.Uint16(p[8:]) != pgLeaf {
		return bad("not a leaf page")
	}
	count := int(w.order.Uint16(p[10:]))
	if 16+16*count > len(p) {
		return bad("claims %d elements, more than it holds", count)
	}
	var prev []byte
	for i := 0; i < count; i++ {
		e := 16 + 16*i
		flags := w.order.Uint32(p[e:])
		pos, ks, vs := uint64(w.order.Uint32(p[e+4:])), uint64(w.order.Uint32(p[e+8:])), uint64(w.order.Uint32(p[e+12:]))
		k0 := uint64(e) + pos
		if k0+ks+vs > uint64(len(p)) || ks == 0 {
			return bad("element %d lies outside it", i)
		}
		key := p[k0 : k0+ks]
		if prev != nil && bytes.Compare(prev, key) >= 0 {
			return bad("element %d has key %x out of order", i, key)
		}
		if flags&bucketFlag != 0 {
			return bad("element %d is a bucket", i)
		}
		prev = key
	}
	return nil
}

// freelist checks the freelist page: well formed, and freeing only pages
// below the high-water mark that the trees do not use.
func (w *pageWalker) freelist(id uint64) error {
	p, prob := w.page(id, "", nil, true)
	if prob != nil {
		prob.Msg = "freelist: " + prob.Msg
		return prob
	}
	bad := func(format string, args ...any) error {
		return &Problem{Page: id, Msg: "freelist: " + fmt.Sprintf(format, args...)}
	}
	count, start := uint64(w.order.Uint16(p[10:])), uint64(16)
	if count == 0xFFFF {
		if len(p) < 24 {
			return bad("cut short")
		}
		count, start = w.order.Uint64(p[16:]), 24
	}
	if count > (uint64(len(p))-start)/8 {
		return bad("claims %d pages, more than the page holds", count)
	}
	free := make(map[uint64]bool, count)
	for i := uint64(0); i < count; i++ {
		pg := w.order.Uint64(p[start+8*i:])
		if pg < 2 || pg >= w.hwm {
			return bad("frees page %d, outside pages 2 to %d", pg, w.hwm-1)
		}
		if free[pg] {
			return bad("frees page %d twice", pg)
		}
		if w.seen[pg] {
			return bad("frees page %d, which is in use", pg)
		}
		free[pg] = true
	}
	return nil
}
