package boltstore

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"

	bolt "go.etcd.io/bbolt"

	"github.com/heraldhq/herald/outbox"
)

// The page check Open makes before bbolt reads a file for writing.
//
// The store does not write bbolt's list of free pages at each commit
// (NoFreelistSync): that list grows with every page a drained backlog
// leaves free, and writing it made every commit cost as much as the free
// space in the file. Instead bbolt rebuilds the list at Open by walking
// every page of every bucket, in a goroutine of its own, where a damaged
// page cannot be recovered from: it crashes the process, or recurses
// without end. So Open first walks the same pages itself, with ReadAt
// rather than through the memory map, and checks everything that walk
// relies on: every page it reaches is in the file, says it is the page it
// was reached as, is a branch or a leaf, is reached once, and holds its
// elements and keys within its bounds, in bbolt's key order. A file that
// passes gives bbolt's walk nothing to trip on.

// bbolt's page layout (go.etcd.io/bbolt/internal/common), in the byte
// order of the machine that wrote it.
const (
	pageHeaderSize  = 16 // id uint64, flags uint16, count uint16, overflow uint32
	pageElementSize = 16 // branch: pos, ksize uint32, pgid uint64; leaf: flags, pos, ksize, vsize uint32
	bucketHeaderLen = 16 // root pgid uint64, sequence uint64

	branchPage     = 0x01
	leafPage       = 0x02
	bucketLeafFlag = 0x01
)

// pageWalk reads the pages of a bbolt file below its high water mark.
type pageWalk struct {
	r        io.ReaderAt
	pageSize uint64
	hwm      uint64   // pages [0, hwm) are in use
	seen     []uint64 // a bit per page reached
	buf      []byte   // the page being read, reused for pages without children
}

// checkPages walks every page reachable from the root bucket whose tree
// starts at root, in a file read through r, with pages of pageSize bytes
// of which hwm are in use. It returns an error wrapping
// [outbox.ErrCorrupt] for the first fault it finds.
func checkPages(r io.ReaderAt, pageSize int, hwm, root uint64) error {
	w := &pageWalk{r: r, pageSize: uint64(pageSize), hwm: hwm, seen: make([]uint64, (hwm+63)/64)}
	_, err := w.tree(root, nil, nil)
	return err
}

// page is one page, and its overflow pages, as far as the walk read it.
type page struct {
	id    uint64
	flags uint16
	count int
	span  uint64 // bytes, overflow included
	data  []byte // the first bytes of the span: the header and elements at least
}

// read reads the header and elements of page id into w.buf and marks its
// pages seen.
func (w *pageWalk) read(id uint64) (*page, error) {
	if id < 2 || id >= w.hwm {
		return nil, pageFault(id, "is outside the file's %d pages", w.hwm)
	}
	// The first page, header included, in one read: most pages have no
	// overflow and their elements fit in it.
	if uint64(cap(w.buf)) < w.pageSize {
		w.buf = make([]byte, w.pageSize)
	}
	first, err := w.at(id*w.pageSize, w.buf[:w.pageSize])
	if err != nil {
		return nil, err
	}
	p := &page{
		id:    binary.NativeEndian.Uint64(first[0:]),
		flags: binary.NativeEndian.Uint16(first[8:]),
		count: int(binary.NativeEndian.Uint16(first[10:])),
		data:  first,
	}
	overflow := uint64(binary.NativeEndian.Uint32(first[12:]))
	switch {
	case p.id != id:
		return nil, pageFault(id, "calls itself page %d", p.id)
	case p.flags != branchPage && p.flags != leafPage:
		return nil, pageFault(id, "has type %#x, not a branch or a leaf", p.flags)
	case overflow >= w.hwm-id:
		return nil, pageFault(id, "runs %d pages past the end of the file", overflow)
	}
	for i := id; i <= id+overflow; i++ {
		if w.seen[i/64]&(1<<(i%64)) != 0 {
			return nil, pageFault(i, "is reached twice")
		}
		w.seen[i/64] |= 1 << (i % 64)
	}
	p.span = (overflow + 1) * w.pageSize
	n := pageHeaderSize + uint64(p.count)*pageElementSize
	if n > p.span {
		return nil, pageFault(id, "has %d elements, more than it can hold", p.count)
	}
	if n > w.pageSize {
		// An element table that runs into the overflow pages.
		buf := make([]byte, n)
		copy(buf, first)
		if _, err := w.at(id*w.pageSize+w.pageSize, buf[w.pageSize:]); err != nil {
			return nil, err
		}
		w.buf, p.data = buf, buf
	}
	return p, nil
}

// at fills buf with the bytes at off.
func (w *pageWalk) at(off uint64, buf []byte) ([]byte, error) {
	if _, err := w.r.ReadAt(buf, int64(off)); err != nil {
		return nil, fmt.Errorf("%w: reading page data at byte %d: %w", outbox.ErrCorrupt, off, err)
	}
	return buf, nil
}

// within checks that the n bytes at offset off of p lie within it.
func within(p *page, off, n uint64) error {
	if off > p.span || n > p.span-off {
		return pageFault(p.id, "has an element outside its %d bytes", p.span)
	}
	return nil
}

// bytes returns the n bytes at offset off of p, checked to lie within it.
// It reads keys and bucket headers only, so n is at most bbolt's longest
// key: a damaged length does not make it read a page's worth of overflow.
func (w *pageWalk) bytes(p *page, off, n uint64) ([]byte, error) {
	if n > bolt.MaxKeySize {
		return nil, pageFault(p.id, "has a key or bucket entry of %d bytes", n)
	}
	if err := within(p, off, n); err != nil {
		return nil, err
	}
	if off+n <= uint64(len(p.data)) {
		return p.data[off : off+n], nil
	}
	return w.at(p.id*w.pageSize+off, make([]byte, n))
}

// element returns the key of p's i-th element and, for a branch, the page
// it points to or, for a leaf's bucket entry, its value.
func (w *pageWalk) element(p *page, i int) (key []byte, child uint64, bucket []byte, err error) {
	off := pageHeaderSize + uint64(i)*pageElementSize
	e := p.data[off : off+pageElementSize]
	if p.flags == branchPage {
		key, err = w.bytes(p, off+uint64(binary.NativeEndian.Uint32(e[0:])), uint64(binary.NativeEndian.Uint32(e[4:])))
		return key, binary.NativeEndian.Uint64(e[8:]), nil, err
	}
	pos, ksize, vsize := uint64(binary.NativeEndian.Uint32(e[4:])), uint64(binary.NativeEndian.Uint32(e[8:])), uint64(binary.NativeEndian.Uint32(e[12:]))
	if key, err = w.bytes(p, off+pos, ksize); err != nil {
		return nil, 0, nil, err
	}
	if binary.NativeEndian.Uint32(e[0:])&bucketLeafFlag == 0 {
		return key, 0, nil, within(p, off+pos+ksize, vsize) // read by others, not here
	}
	bucket, err = w.bytes(p, off+pos+ksize, vsize)
	return key, 0, bucket, err
}

// holdsBuckets reports whether leaf p has a bucket entry.
func (p *page) holdsBuckets() bool {
	for i := range p.count {
		off := pageHeaderSize + i*pageElementSize
		if binary.NativeEndian.Uint32(p.data[off:])&bucketLeafFlag != 0 {
			return true
		}
	}
	return false
}

// tree checks the tree whose root is page id, with every key at least min
// (when not nil) and below max (when not nil), and the trees of the buckets
// its leaves hold. It returns the greatest key it found, like bbolt's
// check, against which the next subtree's keys are ordered; that key is
// valid until the walk reads another page.
func (w *pageWalk) tree(id uint64, min, max []byte) (last []byte, err error) {
	p, err := w.read(id)
	if err != nil {
		return nil, err
	}
	kind := "leaf"
	if p.flags == branchPage {
		kind = "branch"
	}
	if p.flags == branchPage || (p.flags == leafPage && p.holdsBuckets()) {
		p.data = bytes.Clone(p.data) // the pages below are read into w.buf
	}
	running := min
	for i := range p.count {
		key, child, bucket, err := w.element(p, i)
		if err != nil {
			return nil, err
		}
		if err := keyOrder(p.id, kind, i, key, running, max); err != nil {
			return nil, err
		}
		running, last = key, key
		switch {
		case p.flags == branchPage:
			next := max
			if i+1 < p.count {
				if next, _, _, err = w.element(p, i+1); err != nil {
					return nil, err
				}
			}
			if last, err = w.tree(child, key, next); err != nil {
				return nil, err
			}
			running = last
		case bucket != nil:
			if err := w.bucket(p.id, bucket); err != nil {
				return nil, err
			}
		}
	}
	return last, nil
}

// bucket checks a bucket entry's value, found on page id: the tree it
// roots, or the page it holds inline.
func (w *pageWalk) bucket(id uint64, v []byte) error {
	if len(v) < bucketHeaderLen {
		return pageFault(id, "has a bucket entry of %d bytes", len(v))
	}
	if root := binary.NativeEndian.Uint64(v); root != 0 {
		_, err := w.tree(root, nil, nil)
		return err
	}
	// An inline bucket: a leaf page within the value, which bbolt's walk
	// skips but every later read of the bucket relies on.
	in := v[bucketHeaderLen:]
	if len(in) < pageHeaderSize {
		return pageFault(id, "has an inline bucket of %d bytes", len(in))
	}
	p := &page{id: id, flags: binary.NativeEndian.Uint16(in[8:]), count: int(binary.NativeEndian.Uint16(in[10:])), span: uint64(len(in)), data: in}
	if p.flags != leafPage || pageHeaderSize+uint64(p.count)*pageElementSize > p.span {
		return pageFault(id, "has a damaged inline bucket")
	}
	var prev []byte
	for i := range p.count {
		key, _, sub, err := w.element(p, i)
		if err != nil {
			return err
		}
		if sub != nil {
			return pageFault(id, "has a bucket within an inline bucket")
		}
		if err := keyOrder(id, "inline bucket", i, key, prev, nil); err != nil {
			return err
		}
		prev = key
	}
	return nil
}

// keyOrder checks key, the i-th on its page, against the key before it
// (for the first, the least its parent allows) and the bound max: bbolt's
// own rule, so that what passes here passes bbolt's walk.
func keyOrder(id uint64, kind string, i int, key, prev, max []byte) error {
	switch c := bytes.Compare(prev, key); {
	case prev != nil && i == 0 && c > 0:
		return pageFault(id, "has its first %s key below its parent's", kind)
	case i > 0 && c >= 0:
		return pageFault(id, "has %s key %d out of order", kind, i)
	case max != nil && bytes.Compare(key, max) >= 0:
		return pageFault(id, "has %s key %d beyond its parent's next", kind, i)
	}
	return nil
}

// pageFault reports a damaged page.
func pageFault(id uint64, format string, args ...any) error {
	return fmt.Errorf("%w: page %d %s", outbox.ErrCorrupt, id, fmt.Sprintf(format, args...))
}
