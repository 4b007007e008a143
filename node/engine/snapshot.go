package engine

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// Snapshot layout (version 2): "SHASNAP" magic, version byte, app name, fingerprint, last seq,
// clock, the revision id (8 bytes), query count, then per query its name and a state section
// prefixed by its 8-byte length (window, aggregate groups or pattern partials, then the output
// rate limiter of a query that has one); an app with tables appends each table's name and rows
// in definition order, an app with partitions then its instances in creation order, each with
// its queries' states (partition.go, encodePartitions); a CRC-32 (IEEE) of everything before
// ends the blob. Version 1 is the
// same without the revision id (still restored).
//
// A delta revision ("SHADLTA", version 1) has the same header plus the id of the revision it
// applies on (its parent), then per query its name and a kind byte: unchanged, a full section
// as above, or for a query keeping group-by aggregates its window, the changed groups only
// (group count, then index and group of each changed index) and its limiter. Then per table a
// kind byte (unchanged, or the table in full), and the CRC.

const (
	snapshotMagic   = "SHASNAP"
	deltaMagic      = "SHADLTA"
	snapshotVersion = 2
	deltaVersion    = 1
	// fingerprintVersion is the engine state format generation in an app's fingerprint; the
	// revision id and delta revisions did not change it, so older snapshots still restore.
	fingerprintVersion = 1
)

// Kinds of a query or table section in a delta revision.
const (
	deltaUnchanged byte = iota
	deltaFull
	deltaGroups
)

// ErrNoBase is returned by SnapshotDelta before any full snapshot or restore: a delta needs a
// revision to apply on.
var ErrNoBase = errors.New("no base revision for a delta")

// ErrNoDelta is returned by SnapshotDelta for an app whose state it cannot capture as a delta
// yet (partitions): take a full Snapshot.
var ErrNoDelta = errors.New("app has no delta revisions (partitions): take a full snapshot")

// DeltaSupported says whether SnapshotDelta can capture this app: not yet for apps with
// partitions, whose instances are only in full snapshots.
func (r *Runtime) DeltaSupported() bool { return r.part == nil }

// ErrWrongBase reports a delta revision restored onto a revision other than its parent.
var ErrWrongBase = errors.New("delta revision on the wrong base")

// Snapshot captures the runtime state at the current input boundary (call it between Applys).
// The blob is versioned, self-describing and checksummed; it includes LastSeq and the clock,
// from which pending timers follow (window deadlines are derived from window contents). It is a
// base revision: later SnapshotDelta calls encode only what changed since it.
func (r *Runtime) Snapshot() ([]byte, error) {
	return r.encodeFull(0)
}

// Revision is the identity of the runtime's newest revision (taken or restored), which a delta
// taken now would name as its parent; 0 before any.
func (r *Runtime) Revision() uint64 { return r.revID }

// Rebase makes the runtime's next delta name revision id (at input seq) as its parent instead of
// the revision it was restored to or last captured. It serves a hot passive that was restored to
// an earlier revision of the same history and then applied every input the active applied: its
// changes tracked since that earlier revision cover those since id, so a delta taken after
// Rebase applies on id. The caller vouches that id is a later revision of that same history
// (same chain of inputs); Rebase checks what the runtime can: it tracks changes since a
// revision, has taken none since, and seq lies between that revision's input and its own.
func (r *Runtime) Rebase(id, seq uint64) error {
	switch {
	case r.revID == 0:
		return fmt.Errorf("rebase: %w", ErrNoBase)
	case id == 0:
		return errors.New("rebase: no revision id")
	case seq < r.revSeq || seq > r.lastSeq:
		return fmt.Errorf("rebase onto the revision at input %d: the runtime tracks changes since input %d and has applied up to %d", seq, r.revSeq, r.lastSeq)
	}
	r.revID, r.revSeq = id, seq
	return nil
}

// BaseSnapshot encodes the full state as a base that keeps the identity of the revision the
// runtime was restored to, so the deltas that continue that chain apply on it. Compaction uses
// it on a runtime restored from a base and its deltas; it fails once inputs were applied.
func (r *Runtime) BaseSnapshot() ([]byte, error) {
	if r.revID == 0 || r.moved {
		return nil, fmt.Errorf("base snapshot: the runtime is not at a restored revision (applied inputs since)")
	}
	return r.encodeFull(r.revID)
}

// encodeFull writes the full state under id (0: an id derived from the content) and starts a
// new revision.
func (r *Runtime) encodeFull(id uint64) ([]byte, error) {
	b := make([]byte, 0, r.fullSizeHint())
	b, idAt := r.appendHeader(b, snapshotMagic, snapshotVersion)
	b = binary.AppendUvarint(b, uint64(len(r.queries)))
	for _, q := range r.queries {
		b = appendStr(b, q.plan.name)
		at := len(b)
		b = append(b, make([]byte, 8)...) // section length, patched below
		b = encodeQueryState(b, q)
		binary.LittleEndian.PutUint64(b[at:], uint64(len(b)-at-8))
	}
	for _, t := range r.tables {
		b = t.encode(b)
	}
	b = r.encodePartitions(b)
	b = r.seal(b, idAt, id)
	r.snapHint, r.snapGroups = len(b), r.groupCount()
	return b, nil
}

// fullSizeHint is the capacity for a full snapshot: the last one's size plus what the group keys
// added since then take, or an estimate from the group keys before the first, with a 3% margin.
// A regrown buffer would copy the whole state; an oversized one holds memory for nothing.
func (r *Runtime) fullSizeHint() int {
	keyBytes, perGroup := 0, 0
	for _, q := range r.queries {
		if t := q.sel.groups; t != nil {
			keyBytes += len(t.arena) - t.garbage
			perGroup += t.len() * (4 + 13*len(q.sel.p.aggs))
		}
	}
	hint := keyBytes + perGroup + 256
	if r.snapHint > 0 {
		hint = r.snapHint
		if groups := r.groupCount(); r.snapGroups > 0 && groups > r.snapGroups {
			hint += (groups - r.snapGroups) * (r.snapHint / r.snapGroups)
		}
	}
	return hint + hint/32
}

// groupCount is the number of group-by keys of the runtime's queries.
func (r *Runtime) groupCount() int {
	n := 0
	for _, q := range r.queries {
		if q.sel.groups != nil {
			n += q.sel.groups.len()
		}
	}
	return n
}

// SnapshotDelta captures what changed since the previous revision (full or delta): for
// group-by aggregates the changed groups only, for any other query or table its state in full
// when it changed at all, else nothing. Restore(base, deltas...) applies the chain. Its cost
// follows the change, not the state size. ErrNoBase before the first Snapshot or Restore;
// ErrNoDelta for an app with partitions (see DeltaSupported).
func (r *Runtime) SnapshotDelta() ([]byte, error) {
	if r.revID == 0 {
		return nil, fmt.Errorf("snapshot delta: %w", ErrNoBase)
	}
	if !r.DeltaSupported() {
		return nil, fmt.Errorf("snapshot delta of app %s: %w", r.app.name, ErrNoDelta)
	}
	b := make([]byte, 0, 256)
	b, idAt := r.appendHeader(b, deltaMagic, deltaVersion)
	b = binary.LittleEndian.AppendUint64(b, r.revID)
	b = binary.AppendUvarint(b, uint64(len(r.queries)))
	for _, q := range r.queries {
		b = appendStr(b, q.plan.name)
		switch {
		case q.gen == q.snapGen:
			b = append(b, deltaUnchanged)
			continue
		case q.pat == nil && q.sel.groups != nil && !q.sel.groups.dirty.full:
			b = append(b, deltaGroups)
		default:
			b = append(b, deltaFull)
		}
		at := len(b)
		b = append(b, make([]byte, 8)...)
		if b[at-1] == deltaGroups {
			if q.win != nil {
				b = q.win.encode(b)
			}
			b = q.sel.encodeDelta(b)
			if q.stage != nil && q.stage.lim != nil {
				b = q.stage.lim.encode(b)
			}
		} else {
			b = encodeQueryState(b, q)
		}
		binary.LittleEndian.PutUint64(b[at:], uint64(len(b)-at-8))
	}
	for _, t := range r.tables {
		if t.gen == t.snapGen {
			b = append(b, deltaUnchanged)
			continue
		}
		b = t.encode(append(b, deltaFull))
	}
	return r.seal(b, idAt, 0), nil
}

func (r *Runtime) appendHeader(b []byte, magic string, version byte) ([]byte, int) {
	b = append(b, magic...)
	b = append(b, version)
	b = appendStr(b, r.app.name)
	b = appendStr(b, r.app.fingerprint)
	b = binary.AppendUvarint(b, r.lastSeq)
	b = binary.AppendVarint(b, r.clock)
	return append(b, make([]byte, 8)...), len(b)
}

// seal writes the revision id at idAt (derived from the content when id is 0), appends the CRC
// and makes the blob the runtime's current revision: dirty tracking restarts from here.
func (r *Runtime) seal(b []byte, idAt int, id uint64) []byte {
	if id == 0 {
		id = contentID(crc32.ChecksumIEEE(b), r.lastSeq)
	}
	binary.LittleEndian.PutUint64(b[idAt:], id)
	b = binary.LittleEndian.AppendUint32(b, crc32.ChecksumIEEE(b))
	r.revID, r.revSeq = id, r.lastSeq
	r.markClean()
	return b
}

// contentID makes a revision id from a checksum of its content and its seq (never 0).
func contentID(sum uint32, seq uint64) uint64 {
	id := uint64(sum)<<32 | seq&0xffffffff
	if id == 0 {
		id = 1
	}
	return id
}

// markClean starts change tracking from the current state, the newest revision.
func (r *Runtime) markClean() {
	r.moved = false
	for _, q := range r.queries {
		q.snapGen = q.gen
		if q.sel.groups != nil {
			q.sel.groups.dirty.start()
		}
	}
	for _, t := range r.tables {
		t.snapGen = t.gen
	}
}

// SnapshotHeader is what a blob says about itself without a full restore.
type SnapshotHeader struct {
	Version     int
	App         string
	Fingerprint string
	LastSeq     uint64
	Clock       int64
	// Delta is set for a delta revision, which applies on the revision Parent.
	Delta  bool
	ID     uint64 // the revision's identity, which a delta names as its Parent
	Parent uint64
}

// ReadSnapshotHeader checks a blob's magic, version and checksum and returns its header, so
// that a node can tell which app, sequence and revision chain a stored snapshot belongs to.
func ReadSnapshotHeader(blob []byte) (SnapshotHeader, error) {
	h, _, err := readHeader(blob)
	return h, err
}

func readHeader(blob []byte) (SnapshotHeader, *decoder, error) {
	var h SnapshotHeader
	if len(blob) < len(snapshotMagic)+1+4 {
		return h, nil, fmt.Errorf("snapshot: not a snapshot (too short): %w", ErrCorrupt)
	}
	magic := string(blob[:len(snapshotMagic)])
	if magic != snapshotMagic && magic != deltaMagic {
		return h, nil, fmt.Errorf("snapshot: not a snapshot (bad magic): %w", ErrCorrupt)
	}
	h.Delta = magic == deltaMagic
	body, sum := blob[:len(blob)-4], binary.LittleEndian.Uint32(blob[len(blob)-4:])
	if crc32.ChecksumIEEE(body) != sum {
		return h, nil, fmt.Errorf("snapshot: checksum mismatch: %w", ErrCorrupt)
	}
	h.Version = int(blob[len(snapshotMagic)])
	switch {
	case h.Delta && h.Version != deltaVersion:
		return h, nil, fmt.Errorf("snapshot: unsupported delta format version %d (want %d)", h.Version, deltaVersion)
	case !h.Delta && h.Version != 1 && h.Version != snapshotVersion:
		return h, nil, fmt.Errorf("snapshot: unsupported format version %d (want %d)", h.Version, snapshotVersion)
	}
	d := &decoder{b: body[len(snapshotMagic)+1:]}
	h.App, h.Fingerprint = d.str(), d.str()
	h.LastSeq, h.Clock = d.uvarint(), d.varint()
	if h.Version == 1 && !h.Delta {
		h.ID = contentID(sum, h.LastSeq)
	} else {
		h.ID = d.u64()
	}
	if h.Delta {
		h.Parent = d.u64()
	}
	return h, d, d.err
}

// SnapshotSeq reads LastSeq from a blob's header without a full restore.
func SnapshotSeq(blob []byte) (uint64, error) {
	h, _, err := readHeader(blob)
	return h.LastSeq, err
}

// Restore rebuilds a Runtime of app a from a snapshot taken by the same app (same fingerprint)
// and then the delta revisions after it, in order; each delta must apply on the revision
// before it (ErrWrongBase otherwise). Applying the inputs after the last revision's LastSeq
// then yields exactly the outputs (ids and data) of an uninterrupted run.
func Restore(a *App, blob []byte, deltas ...[]byte) (*Runtime, error) {
	h, d, err := readHeader(blob)
	if err != nil {
		return nil, err
	}
	if h.Delta {
		return nil, fmt.Errorf("restore: a delta revision (seq %d) is not a base: %w", h.LastSeq, ErrWrongBase)
	}
	if err := checkApp(a, h); err != nil {
		return nil, err
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
		decodeQueryState(sd, q)
		if err := sd.end("query " + q.plan.name); err != nil {
			return nil, fmt.Errorf("restore query %s: %w", q.plan.name, err)
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
	r.revID, r.revSeq = h.ID, h.LastSeq
	r.markClean()
	for i, delta := range deltas {
		if err := r.ApplyDelta(delta); err != nil {
			return nil, fmt.Errorf("restore delta %d of %d: %w", i+1, len(deltas), err)
		}
	}
	return r, nil
}

func checkApp(a *App, h SnapshotHeader) error {
	if h.Fingerprint != a.fingerprint {
		return fmt.Errorf("restore: snapshot of app %q (fingerprint %s) does not match app %q (fingerprint %s)",
			h.App, h.Fingerprint, a.name, a.fingerprint)
	}
	return nil
}

// end fails on bytes left in a section after decoding it.
func (d *decoder) end(what string) error {
	if d.err == nil && len(d.b) != 0 {
		d.fail("%s: %d trailing bytes", what, len(d.b))
	}
	return d.err
}

// ApplyDelta applies a delta revision onto a runtime that is at the delta's parent revision
// (restored, or the one that took the parent). It is for restores and compaction, not for a
// runtime that applied inputs since; on error the runtime must be discarded.
func (r *Runtime) ApplyDelta(blob []byte) error {
	h, d, err := readHeader(blob)
	if err != nil {
		return err
	}
	if !h.Delta {
		return fmt.Errorf("apply delta: a base revision (seq %d) is not a delta: %w", h.LastSeq, ErrWrongBase)
	}
	if !r.DeltaSupported() {
		return fmt.Errorf("apply delta to app %s: %w", r.app.name, ErrNoDelta)
	}
	if err := checkApp(r.app, h); err != nil {
		return err
	}
	if r.moved || h.Parent != r.revID || h.LastSeq < r.lastSeq {
		return fmt.Errorf("apply delta: revision %016x (seq %d) applies on revision %016x, but the runtime is at revision %016x (seq %d): %w",
			h.ID, h.LastSeq, h.Parent, r.revID, r.lastSeq, ErrWrongBase)
	}
	if n := d.uvarint(); d.err == nil && n != uint64(len(r.queries)) {
		return fmt.Errorf("apply delta: it has %d queries, app has %d: %w", n, len(r.queries), ErrCorrupt)
	}
	var tables map[string]*tableRT
	for _, q := range r.queries {
		if name := d.str(); d.err == nil && name != q.plan.name {
			return fmt.Errorf("apply delta: query %q, want %q: %w", name, q.plan.name, ErrCorrupt)
		}
		kind := d.byte1()
		if d.err != nil || kind == deltaUnchanged {
			continue
		}
		sd := &decoder{b: d.section()}
		if d.err != nil {
			break
		}
		if tables == nil {
			tables = make(map[string]*tableRT, len(r.tables))
			for _, t := range r.tables {
				tables[t.def.Name] = t
			}
		}
		switch kind {
		case deltaFull:
			r.initQuery(q, tables, false)
			decodeQueryState(sd, q)
		case deltaGroups:
			if q.pat != nil || q.sel.groups == nil {
				return fmt.Errorf("apply delta: query %s has no group-by aggregates: %w", q.plan.name, ErrCorrupt)
			}
			sel := q.sel
			r.initQuery(q, tables, false) // fresh window and limiter, the groups stay
			q.sel = sel
			if q.stage != nil && q.stage.snapshot() {
				q.sel.snap = q.stage.lim
			}
			if q.win != nil {
				q.win.decode(sd, q.plan.inputs[0])
			}
			q.sel.applyDelta(sd)
			if q.stage != nil && q.stage.lim != nil {
				q.stage.lim.decode(sd, q.plan.out)
			}
		default:
			return fmt.Errorf("apply delta: query %s: section kind %d: %w", q.plan.name, kind, ErrCorrupt)
		}
		if err := sd.end("query " + q.plan.name); err != nil {
			return fmt.Errorf("apply delta: query %s: %w", q.plan.name, err)
		}
	}
	for _, t := range r.tables {
		if d.err != nil {
			break
		}
		switch kind := d.byte1(); kind {
		case deltaUnchanged:
		case deltaFull:
			t.decode(d)
		default:
			d.fail("table %s: section kind %d", t.def.Name, kind)
		}
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail("%d trailing bytes", len(d.b))
	}
	if d.err != nil {
		return fmt.Errorf("apply delta: %w", d.err)
	}
	r.lastSeq, r.clock = h.LastSeq, h.Clock
	r.revID, r.revSeq = h.ID, h.LastSeq
	r.markClean()
	return nil
}
