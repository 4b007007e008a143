package engine

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
)

// Snapshot layout (version 1): "SHASNAP" magic, version byte, app name, fingerprint, last seq,
// clock, query count, then per query its name and a state section prefixed by its 8-byte length (window,
// aggregate groups or pattern partials, then the output rate limiter of a query that has one);
// a CRC-32 (IEEE) of everything before ends the blob. Queries without output rate limiting
// encode exactly as before that feature existed, so their snapshots are unchanged. An app with
// tables appends, after the queries, each table's name and rows in definition order; apps
// without tables encode nothing more. An app with partitions then appends its instances in
// creation order, each with its queries' states (partition.go, encodePartitions).

const (
	snapshotMagic   = "SHASNAP"
	snapshotVersion = 1
)

// Snapshot captures the runtime state at the current input boundary (call it between Applys).
// The blob is versioned, self-describing and checksummed; it includes LastSeq and the clock,
// from which pending timers follow (window deadlines are derived from window contents).
func (r *Runtime) Snapshot() ([]byte, error) {
	hint := r.snapHint
	if hint == 0 {
		for _, q := range r.queries {
			if q.sel.groups != nil {
				hint += q.sel.groups.len() * (24 + 14*len(q.sel.p.aggs))
			}
		}
	}
	b := make([]byte, 0, max(256, hint+hint/8))
	b = append(b, snapshotMagic...)
	b = append(b, snapshotVersion)
	b = appendStr(b, r.app.name)
	b = appendStr(b, r.app.fingerprint)
	b = binary.AppendUvarint(b, r.lastSeq)
	b = binary.AppendVarint(b, r.clock)
	b = binary.AppendUvarint(b, uint64(len(r.queries)))
	for _, q := range r.queries {
		b = appendStr(b, q.plan.name)
		at := len(b)
		b = append(b, make([]byte, 8)...) // section length, patched below
		if q.pat != nil {
			b = q.pat.encode(b)
		} else {
			if q.win != nil {
				b = q.win.encode(b)
			}
			b = q.sel.encode(b)
		}
		if q.stage != nil && q.stage.lim != nil {
			b = q.stage.lim.encode(b)
		}
		binary.LittleEndian.PutUint64(b[at:], uint64(len(b)-at-8))
	}
	for _, t := range r.tables {
		b = t.encode(b)
	}
	b = r.encodePartitions(b)
	b = binary.LittleEndian.AppendUint32(b, crc32.ChecksumIEEE(b))
	r.snapHint = len(b)
	return b, nil
}

// SnapshotHeader is what a blob says about itself without a full restore.
type SnapshotHeader struct {
	Version     int
	App         string
	Fingerprint string
	LastSeq     uint64
	Clock       int64
}

// ReadSnapshotHeader checks a blob's magic, version and checksum and returns its header, so
// that a node can tell which app and sequence a stored snapshot belongs to.
func ReadSnapshotHeader(blob []byte) (SnapshotHeader, error) {
	h, _, err := readHeader(blob)
	return h, err
}

func readHeader(blob []byte) (SnapshotHeader, *decoder, error) {
	var h SnapshotHeader
	if len(blob) < len(snapshotMagic)+1+4 || string(blob[:len(snapshotMagic)]) != snapshotMagic {
		return h, nil, fmt.Errorf("snapshot: not a snapshot (bad magic): %w", ErrCorrupt)
	}
	body, sum := blob[:len(blob)-4], binary.LittleEndian.Uint32(blob[len(blob)-4:])
	if crc32.ChecksumIEEE(body) != sum {
		return h, nil, fmt.Errorf("snapshot: checksum mismatch: %w", ErrCorrupt)
	}
	h.Version = int(blob[len(snapshotMagic)])
	if h.Version != snapshotVersion {
		return h, nil, fmt.Errorf("snapshot: unsupported format version %d (want %d)", h.Version, snapshotVersion)
	}
	d := &decoder{b: body[len(snapshotMagic)+1:]}
	h.App, h.Fingerprint = d.str(), d.str()
	h.LastSeq, h.Clock = d.uvarint(), d.varint()
	return h, d, d.err
}

// SnapshotSeq reads LastSeq from a blob's header without a full restore.
func SnapshotSeq(blob []byte) (uint64, error) {
	h, _, err := readHeader(blob)
	return h.LastSeq, err
}

// Restore rebuilds a Runtime of app a from a snapshot taken by the same app (same fingerprint).
// Applying the inputs after the snapshot's LastSeq then yields exactly the outputs (ids and data)
// of an uninterrupted run.
func Restore(a *App, blob []byte) (*Runtime, error) {
	h, d, err := readHeader(blob)
	if err != nil {
		return nil, err
	}
	if h.Fingerprint != a.fingerprint {
		return nil, fmt.Errorf("restore: snapshot of app %q (fingerprint %s) does not match app %q (fingerprint %s)",
			h.App, h.Fingerprint, a.name, a.fingerprint)
	}
	r := NewRuntime(a)
	r.lastSeq, r.clock = h.LastSeq, h.Clock
	if n := d.uvarint(); d.err == nil && n != uint64(len(r.queries)) {
		return nil, fmt.Errorf("restore: snapshot has %d queries, app has %d: %w", n, len(r.queries), ErrCorrupt)
	}
	for _, q := range r.queries {
		if name := d.str(); d.err == nil && name != q.plan.name {
			return nil, fmt.Errorf("restore: snapshot query %q, want %q: %w", name, q.plan.name, ErrCorrupt)
		}
		sd := &decoder{b: d.section()}
		if d.err != nil {
			break
		}
		if q.pat != nil {
			q.pat.decode(sd)
		} else {
			if q.win != nil {
				q.win.decode(sd, q.plan.inputs[0])
			}
			q.sel.decode(sd)
		}
		if q.stage != nil && q.stage.lim != nil {
			q.stage.lim.decode(sd, q.plan.out)
		}
		if sd.err == nil && len(sd.b) != 0 {
			sd.fail("query %s: %d trailing bytes", q.plan.name, len(sd.b))
		}
		if sd.err != nil {
			return nil, fmt.Errorf("restore query %s: %w", q.plan.name, sd.err)
		}
	}
	for _, t := range r.tables {
		if d.err != nil || t.decode(d) != nil {
			break
		}
	}
	r.decodePartitions(d)
	if d.err == nil && len(d.b) != 0 {
		d.fail("%d trailing bytes", len(d.b))
	}
	if d.err != nil {
		return nil, fmt.Errorf("restore: %w", d.err)
	}
	return r, nil
}
