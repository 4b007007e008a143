package ha

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/streamha/streamha/node/engine"
	"github.com/streamha/streamha/node/store"
)

// envelopeMagic starts every snapshot payload the node writes: the engine's state plus the
// node's own per-app state that must survive a failover with it.
var envelopeMagic = [4]byte{'S', 'H', 'A', 'E'}

// envelopeVersion 2 adds the source positions, 3 a flags byte after the version (envIdemDelta);
// version 1 and 2 payloads still decode.
const envelopeVersion = 3

// envIdemDelta (flags bit) marks a delta revision's envelope whose idempotency records are only
// the keys answered after its parent revision's sequence, not the whole window.
const envIdemDelta = 1

// errEnvelope reports a snapshot payload that does not decode.
var errEnvelope = errors.New("snapshot envelope corrupt")

// envelope is an app's persisted state: engine state at LastSeq, the idempotency window, and the
// outputs produced but not yet confirmed written by the sinks (re-emitted after a restore; their
// ids let the sinks drop the ones already written).
type envelope struct {
	Engine []byte
	Idem   []idemRecord
	Outbox []*engine.Output
	// Positions are the sources' offsets of the last applied batches (PositionKey).
	Positions []positionRecord
	Version   uint32
	// IdemDelta: Idem holds only the keys answered after the parent revision (a delta's
	// envelope); restoring a chain appends them to the window of the revisions before.
	IdemDelta bool
}

// foldIdem gives the newest envelope of a chain (oldest first) with the full idempotency window
// restored: a delta's keys are appended to those of the revisions before, once, from the newest
// revision carrying a whole window on, and the oldest beyond the window's size fall out, as they
// did live.
func foldIdem(envs []*envelope) *envelope {
	last := envs[len(envs)-1]
	if !last.IdemDelta {
		return last
	}
	from := len(envs) - 1
	for from > 0 && envs[from].IdemDelta {
		from--
	}
	n := 0
	for _, e := range envs[from:] {
		n += len(e.Idem)
	}
	merged := make([]idemRecord, 0, n)
	for _, e := range envs[from:] {
		merged = append(merged, e.Idem...)
	}
	if over := len(merged) - idemWindowSize; over > 0 {
		merged = merged[over:]
	}
	out := *last
	out.Idem, out.IdemDelta = merged, false
	return &out
}

// encode writes the payload into one buffer sized for it up front: the engine's state is most
// of it, and growing by doubling would leave copies of up to twice its size to the collector.
func (e *envelope) encode() []byte {
	b := make([]byte, 0, e.size())
	b = append(b, envelopeMagic[:]...)
	b = binary.BigEndian.AppendUint32(b, envelopeVersion)
	flags := byte(0)
	if e.IdemDelta {
		flags |= envIdemDelta
	}
	b = append(b, flags)
	b = appendBytes(b, e.Engine)
	b = binary.BigEndian.AppendUint32(b, uint32(len(e.Idem)))
	for _, r := range e.Idem {
		b = appendBytes(b, []byte(r.Key))
		b = binary.BigEndian.AppendUint32(b, uint32(r.Answer.Accepted))
		b = binary.BigEndian.AppendUint64(b, r.Answer.FirstSeq)
		b = binary.BigEndian.AppendUint64(b, r.Answer.LastSeq)
	}
	b = binary.BigEndian.AppendUint32(b, uint32(len(e.Outbox)))
	for _, o := range e.Outbox {
		b = appendOutput(b, o)
	}
	b = binary.BigEndian.AppendUint32(b, uint32(len(e.Positions)))
	for _, p := range e.Positions {
		b = appendBytes(b, []byte(p.Source))
		b = binary.BigEndian.AppendUint64(b, uint64(p.Offset))
	}
	return b
}

// appendOutput encodes one outbox entry: the envelope's outbox and the error store's stored
// outputs share this format.
func appendOutput(b []byte, o *engine.Output) []byte {
	b = appendBytes(b, []byte(o.Stream))
	b = appendBytes(b, []byte(o.ID))
	b = appendBytes(b, []byte(o.Query))
	b = binary.BigEndian.AppendUint64(b, o.Seq)
	b = binary.BigEndian.AppendUint32(b, uint32(o.Index))
	b = binary.BigEndian.AppendUint64(b, uint64(o.TS))
	exp := byte(0)
	if o.Expired {
		exp = 1
	}
	b = append(b, exp)
	return appendBytes(b, engine.AppendValues(nil, o.Data))
}

// output reads appendOutput's bytes back: the output without its data, and the encoded values
// to decode with the stream's schema. r.err tells a short read.
func (r *reader) output() (*engine.Output, []byte) {
	o := &engine.Output{Stream: string(r.bytes()), ID: string(r.bytes()), Query: string(r.bytes())}
	o.Seq = r.u64()
	o.Index = int(r.u32())
	o.TS = int64(r.u64())
	if p := r.take(1); p != nil {
		o.Expired = p[0] == 1
	}
	return o, r.bytes()
}

func appendBytes(b, p []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(p)))
	return append(b, p...)
}

type reader struct {
	b   []byte
	err error
}

func (r *reader) take(n int) []byte {
	if r.err != nil || n < 0 || len(r.b) < n {
		r.err = errEnvelope
		return nil
	}
	p := r.b[:n]
	r.b = r.b[n:]
	return p
}

func (r *reader) u32() uint32 {
	if p := r.take(4); p != nil {
		return binary.BigEndian.Uint32(p)
	}
	return 0
}

func (r *reader) u64() uint64 {
	if p := r.take(8); p != nil {
		return binary.BigEndian.Uint64(p)
	}
	return 0
}

func (r *reader) bytes() []byte { return r.take(int(r.u32())) }

// envelopeEngine returns the engine blob of a payload written by encode without decoding the
// rest (the idempotency window, the outbox): what reading a revision's identity needs.
func envelopeEngine(p []byte) ([]byte, error) {
	r := &reader{b: p}
	if m := r.take(4); r.err != nil || [4]byte(m) != envelopeMagic {
		return nil, fmt.Errorf("%w: bad magic", errEnvelope)
	}
	v := r.u32()
	if v < 1 || v > envelopeVersion {
		return nil, fmt.Errorf("%w: version %d, this node reads 1 to %d", errEnvelope, v, envelopeVersion)
	}
	if v >= 3 {
		r.take(1)
	}
	blob := r.bytes()
	if r.err != nil {
		return nil, fmt.Errorf("%w: %v", errEnvelope, r.err)
	}
	return blob, nil
}

// decodeEnvelope reads a payload written by encode; app resolves output streams' schemas.
func decodeEnvelope(app *engine.App, p []byte) (*envelope, error) {
	r := &reader{b: p}
	if m := r.take(4); r.err != nil || [4]byte(m) != envelopeMagic {
		return nil, fmt.Errorf("%w: bad magic", errEnvelope)
	}
	e := &envelope{Version: r.u32()}
	if e.Version < 1 || e.Version > envelopeVersion {
		return nil, fmt.Errorf("%w: version %d, this node reads 1 to %d", errEnvelope, e.Version, envelopeVersion)
	}
	if e.Version >= 3 {
		flags := r.take(1)
		if r.err == nil {
			e.IdemDelta = flags[0]&envIdemDelta != 0
		}
	}
	e.Engine = r.bytes()
	n := int(r.u32())
	if n > len(r.b)/24 {
		return nil, fmt.Errorf("%w: idempotency count", errEnvelope)
	}
	for i := 0; i < n && r.err == nil; i++ {
		rec := idemRecord{Key: string(r.bytes())}
		rec.Answer.Accepted = int(r.u32())
		rec.Answer.FirstSeq = r.u64()
		rec.Answer.LastSeq = r.u64()
		e.Idem = append(e.Idem, rec)
	}
	n = int(r.u32())
	if n > len(r.b)/41 {
		return nil, fmt.Errorf("%w: outbox count", errEnvelope)
	}
	for i := 0; i < n && r.err == nil; i++ {
		o, vals := r.output()
		if r.err != nil {
			break
		}
		def, ok := app.Stream(o.Stream)
		if !ok {
			return nil, fmt.Errorf("%w: output stream %q not in app", errEnvelope, o.Stream)
		}
		data, _, err := def.DecodeValues(vals)
		if err != nil {
			return nil, fmt.Errorf("%w: output %s: %v", errEnvelope, o.ID, err)
		}
		o.Attrs, o.Data = def.Attrs, data
		e.Outbox = append(e.Outbox, o)
	}
	if e.Version >= 2 {
		n = int(r.u32())
		if n > len(r.b)/12 {
			return nil, fmt.Errorf("%w: position count", errEnvelope)
		}
		for i := 0; i < n && r.err == nil; i++ {
			e.Positions = append(e.Positions, positionRecord{Source: string(r.bytes()), Offset: int64(r.u64())})
		}
	}
	if r.err != nil {
		return nil, r.err
	}
	return e, nil
}

// VerifyPayload checks that a stored snapshot payload decodes and restores for app, as a
// promotion would (the checksum is checked separately, by store.Snapshot.Verify).
func VerifyPayload(app *engine.App, payload []byte) error {
	env, err := decodeEnvelope(app, payload)
	if err != nil {
		return err
	}
	if _, err := engine.Restore(app, env.Engine); err != nil {
		return fmt.Errorf("engine restore: %w", err)
	}
	return nil
}

// VerifyChain checks that a revision chain (store.ReadChain: a base, then its deltas up to the
// revision) decodes and restores for app, as a promotion would.
func VerifyChain(app *engine.App, chain []store.Snapshot) error {
	if len(chain) == 0 {
		return fmt.Errorf("empty revision chain")
	}
	_, err := restoreChain(app, chain)
	return err
}

// size is about the bytes encode writes (exact without outbox data).
func (e *envelope) size() int {
	size := len(envelopeMagic) + 4 + 1 + 4 + len(e.Engine) + 4 + 4 + 4
	for _, r := range e.Idem {
		size += 4 + len(r.Key) + 4 + 8 + 8
	}
	for _, o := range e.Outbox {
		size += 4*4 + len(o.Stream) + len(o.ID) + len(o.Query) + 8 + 4 + 8 + 1 + 16*len(o.Data)
	}
	for _, p := range e.Positions {
		size += 4 + len(p.Source) + 8
	}
	return size
}
