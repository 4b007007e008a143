package eventsync

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
)

// ErrMalformed reports a frame that does not decode; the session is closed with it.
var ErrMalformed = errors.New("eventsync: malformed frame")

// MaxFrame bounds one frame so garbage on the port cannot make a node allocate without limit.
const MaxFrame = 64 << 20

// MaxHandshakeFrame bounds the frames read before the peer is authenticated (challenge, hello,
// welcome, refuse): a stranger on the port cannot make a node allocate more than this.
const MaxHandshakeFrame = 4 << 10

// enc builds a frame payload.
type enc struct{ b []byte }

func (e *enc) u16(v uint16) { e.b = binary.BigEndian.AppendUint16(e.b, v) }
func (e *enc) u32(v uint32) { e.b = binary.BigEndian.AppendUint32(e.b, v) }
func (e *enc) u64(v uint64) { e.b = binary.BigEndian.AppendUint64(e.b, v) }
func (e *enc) i64(v int64)  { e.u64(uint64(v)) }
func (e *enc) str(s string) {
	if len(s) > math.MaxUint16 {
		s = s[:math.MaxUint16]
	}
	e.u16(uint16(len(s)))
	e.b = append(e.b, s...)
}
func (e *enc) bytes(p []byte) { e.u32(uint32(len(p))); e.b = append(e.b, p...) }

// dec reads a frame payload; the first failure sticks and every later read returns zero values.
type dec struct {
	b   []byte
	err error
}

func (d *dec) need(n int) bool {
	if d.err != nil {
		return false
	}
	if len(d.b) < n {
		d.err = fmt.Errorf("%w: truncated", ErrMalformed)
		return false
	}
	return true
}

func (d *dec) u16() uint16 {
	if !d.need(2) {
		return 0
	}
	v := binary.BigEndian.Uint16(d.b)
	d.b = d.b[2:]
	return v
}

func (d *dec) u32() uint32 {
	if !d.need(4) {
		return 0
	}
	v := binary.BigEndian.Uint32(d.b)
	d.b = d.b[4:]
	return v
}

func (d *dec) u64() uint64 {
	if !d.need(8) {
		return 0
	}
	v := binary.BigEndian.Uint64(d.b)
	d.b = d.b[8:]
	return v
}

func (d *dec) i64() int64 { return int64(d.u64()) }

func (d *dec) str() string {
	n := int(d.u16())
	if !d.need(n) {
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

// rawStr is str without a copy: the bytes alias the payload.
func (d *dec) rawStr() []byte {
	n := int(d.u16())
	if !d.need(n) {
		return nil
	}
	p := d.b[:n:n]
	d.b = d.b[n:]
	return p
}

// rawBytes is bytes without a copy: the result aliases the payload.
func (d *dec) rawBytes() []byte {
	n := int(d.u32())
	if !d.need(n) {
		return nil
	}
	p := d.b[:n:n]
	d.b = d.b[n:]
	return p
}

func (d *dec) bytes() []byte {
	n := int(d.u32())
	if !d.need(n) {
		return nil
	}
	p := append([]byte(nil), d.b[:n]...)
	d.b = d.b[n:]
	return p
}

// count reads an element count and checks it against the bytes left (each element takes at
// least min bytes), so a forged count cannot trigger a huge allocation.
func (d *dec) count(min int) int {
	n := int(d.u32())
	if d.err == nil && n*min > len(d.b) {
		d.err = fmt.Errorf("%w: count %d exceeds frame", ErrMalformed, n)
		return 0
	}
	return n
}

func (d *dec) done() error {
	if d.err == nil && len(d.b) != 0 {
		d.err = fmt.Errorf("%w: %d trailing bytes", ErrMalformed, len(d.b))
	}
	return d.err
}

// writeFrame writes u32 length | u8 type | payload.
func writeFrame(w io.Writer, typ uint8, payload []byte) error {
	hdr := [5]byte{}
	binary.BigEndian.PutUint32(hdr[:4], uint32(len(payload)+1))
	hdr[4] = typ
	if _, err := w.Write(hdr[:]); err != nil {
		return err
	}
	_, err := w.Write(payload)
	return err
}

// appendFrame appends a whole frame to dst (for batching several frames into one write).
func appendFrame(dst []byte, typ uint8, payload []byte) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(payload)+1))
	dst = append(dst, typ)
	return append(dst, payload...)
}

// readFrame reads one frame into buf (grown when too small); payload aliases buf until the next call.
func readFrame(r io.Reader, buf *[]byte) (typ uint8, payload []byte, err error) {
	return readFrameMax(r, buf, MaxFrame)
}

// readFrameMax is readFrame for frames of at most max bytes: a longer one is refused from its
// header, before anything is allocated for it.
func readFrameMax(r io.Reader, buf *[]byte, max uint32) (typ uint8, payload []byte, err error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n == 0 || n > max {
		return 0, nil, fmt.Errorf("%w: frame length %d (limit %d)", ErrMalformed, n, max)
	}
	if cap(*buf) < int(n) {
		*buf = make([]byte, n)
	}
	b := (*buf)[:n]
	if _, err := io.ReadFull(r, b); err != nil {
		return 0, nil, err
	}
	return b[0], b[1:], nil
}
