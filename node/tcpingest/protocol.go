// Package tcpingest is the binary TCP ingest transport for high event rates: length-prefixed
// frames carrying batches of events, pipelined, each acknowledged in order once safe. The byte
// layout is documented in the README ("Binary TCP ingest").
package tcpingest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/streamha/streamha/node/engine"
)

// Frame types.
const (
	TypeBatch uint8 = 1 // client → server
	TypeAck   uint8 = 2 // server → client
)

// Ack status codes.
const (
	StatusOK              uint8 = 0 // safe per sync_mode
	StatusOKAlone         uint8 = 1 // applied on the active, no passive holds it
	StatusDuplicate       uint8 = 2 // idempotency key seen before: first answer repeated, nothing applied
	StatusNotActive       uint8 = 3 // message: the active's TCP address when known; nothing applied
	StatusBadRequest      uint8 = 4 // message: the reason; nothing applied
	StatusNotAcknowledged uint8 = 5 // may or may not be applied: retry with the same key
)

// MaxFrame is the protocol's bound of a frame; the server's own, smaller one is
// tcp_max_frame_bytes (ReadFrameLimit).
const MaxFrame = 32 << 20

// ErrMalformed reports a frame that does not decode.
var ErrMalformed = errors.New("tcpingest: malformed frame")

// ErrTooLarge reports a frame or batch over the server's limits; nothing of it is applied.
var ErrTooLarge = errors.New("tcpingest: over the limit")

// Batch is one client frame: events of one stream of one app.
type Batch struct {
	ID     uint64
	App    string
	Stream string
	Key    string // idempotency key, optional
	Events []RawEvent
}

// RawEvent is an event before decoding against its stream's schema: TS 0 means "stamp on arrival".
type RawEvent struct {
	TS     int64
	Values []byte // engine value encoding
}

// Ack answers one batch.
type Ack struct {
	ID                uint64
	Status            uint8
	FirstSeq, LastSeq uint64
	Message           string
}

// AppendBatch encodes b as a whole frame onto dst.
func AppendBatch(dst []byte, b *Batch) []byte {
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0, TypeBatch)
	dst = binary.BigEndian.AppendUint64(dst, b.ID)
	dst = appendStr(dst, b.App)
	dst = appendStr(dst, b.Stream)
	dst = appendStr(dst, b.Key)
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(b.Events)))
	for _, e := range b.Events {
		dst = binary.BigEndian.AppendUint64(dst, uint64(e.TS))
		dst = binary.BigEndian.AppendUint32(dst, uint32(len(e.Values)))
		dst = append(dst, e.Values...)
	}
	binary.BigEndian.PutUint32(dst[start:], uint32(len(dst)-start-4))
	return dst
}

// AppendAck encodes a as a whole frame onto dst.
func AppendAck(dst []byte, a *Ack) []byte {
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0, TypeAck)
	dst = binary.BigEndian.AppendUint64(dst, a.ID)
	dst = append(dst, a.Status)
	dst = binary.BigEndian.AppendUint64(dst, a.FirstSeq)
	dst = binary.BigEndian.AppendUint64(dst, a.LastSeq)
	dst = appendStr(dst, a.Message)
	binary.BigEndian.PutUint32(dst[start:], uint32(len(dst)-start-4))
	return dst
}

func appendStr(dst []byte, s string) []byte {
	if len(s) > math.MaxUint16 {
		s = s[:math.MaxUint16]
	}
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(s)))
	return append(dst, s...)
}

// ReadFrame reads one frame of at most MaxFrame bytes into *buf (grown as needed) and returns
// its type and payload.
func ReadFrame(r io.Reader, buf *[]byte) (uint8, []byte, error) {
	return ReadFrameLimit(r, buf, MaxFrame, nil)
}

// ReadFrameLimit is ReadFrame for frames of at most max bytes. Before the payload is read,
// reserve (when set) is called with the frame's length and may refuse it: the payload is then
// skipped without being buffered (the stream stays in step) and the error is returned with
// the frame's type and the first 8 bytes of its payload (a batch's id), when it has them.
func ReadFrameLimit(r io.Reader, buf *[]byte, max uint32, reserve func(n uint32) error) (uint8, []byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n == 0 {
		return 0, nil, fmt.Errorf("%w: frame length 0", ErrMalformed)
	}
	if n > max || n > MaxFrame {
		return 0, nil, fmt.Errorf("%w: frame of %d bytes, the limit is %d (tcp_max_frame_bytes)", ErrTooLarge, n, min(max, MaxFrame))
	}
	if reserve != nil {
		if rerr := reserve(n); rerr != nil {
			head := make([]byte, min(n, 9))
			if _, err := io.ReadFull(r, head); err != nil {
				return 0, nil, err
			}
			if _, err := io.CopyN(io.Discard, r, int64(n)-int64(len(head))); err != nil {
				return 0, nil, err
			}
			return head[0], head[1:], rerr
		}
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

type rd struct {
	b   []byte
	err error
}

func (r *rd) take(n int) []byte {
	if r.err != nil || n < 0 || len(r.b) < n {
		if r.err == nil {
			r.err = fmt.Errorf("%w: truncated", ErrMalformed)
		}
		return nil
	}
	p := r.b[:n]
	r.b = r.b[n:]
	return p
}

func (r *rd) u16() uint16 {
	if p := r.take(2); p != nil {
		return binary.BigEndian.Uint16(p)
	}
	return 0
}

func (r *rd) u32() uint32 {
	if p := r.take(4); p != nil {
		return binary.BigEndian.Uint32(p)
	}
	return 0
}

func (r *rd) u64() uint64 {
	if p := r.take(8); p != nil {
		return binary.BigEndian.Uint64(p)
	}
	return 0
}

func (r *rd) str() string { return string(r.take(int(r.u16()))) }

// DecodeBatch decodes a batch payload. Values alias p.
func DecodeBatch(p []byte) (*Batch, error) { return DecodeBatchLimit(p, 0) }

// DecodeBatchLimit is DecodeBatch for batches of at most maxEvents events (0: no limit). A
// batch over it is refused before its events are read, with an error wrapping ErrTooLarge and
// the batch (id, app, stream and key only) so it can be answered.
func DecodeBatchLimit(p []byte, maxEvents int) (*Batch, error) {
	r := &rd{b: p}
	b := &Batch{ID: r.u64(), App: r.str(), Stream: r.str(), Key: r.str()}
	n := int(r.u32())
	if r.err == nil && n > len(r.b)/12 {
		return nil, fmt.Errorf("%w: %d events cannot fit in %d bytes", ErrMalformed, n, len(r.b))
	}
	if r.err == nil && maxEvents > 0 && n > maxEvents {
		return b, fmt.Errorf("%w: %d events in one batch, the limit is %d (max_events_per_request)", ErrTooLarge, n, maxEvents)
	}
	b.Events = make([]RawEvent, 0, n)
	for i := 0; i < n && r.err == nil; i++ {
		ts := int64(r.u64())
		b.Events = append(b.Events, RawEvent{TS: ts, Values: r.take(int(r.u32()))})
	}
	if r.err == nil && len(r.b) != 0 {
		r.err = fmt.Errorf("%w: %d trailing bytes", ErrMalformed, len(r.b))
	}
	if r.err != nil {
		return nil, r.err
	}
	return b, nil
}

// DecodeAck decodes an ack payload.
func DecodeAck(p []byte) (*Ack, error) {
	r := &rd{b: p}
	a := &Ack{ID: r.u64()}
	if s := r.take(1); s != nil {
		a.Status = s[0]
	}
	a.FirstSeq, a.LastSeq, a.Message = r.u64(), r.u64(), r.str()
	if r.err != nil {
		return nil, r.err
	}
	return a, nil
}

// EncodeEvent is a helper for clients: the value encoding of one event.
func EncodeEvent(vals []engine.Value) []byte { return engine.AppendValues(nil, vals) }
