package engine

import (
	"bytes"
	"hash/maphash"
	"slices"
)

// groupTable maps group-by keys to dense group indexes with no heap object per key: keys live
// in one byte arena and the index is an open-addressing table (linear probing, backward-shift
// deletion). The GC has almost nothing to scan, and snapshots read groups sequentially in a
// deterministic order (insertion order, changed only by swap-removal).
type groupTable struct {
	seed    maphash.Seed
	slots   []uint64 // 0 empty, else hash tag (high 32 bits) | index+1 into recs; len is a power of two
	recs    []groupRec
	arena   []byte
	garbage int // arena bytes of deleted keys
	dirty   dirtySet
}

// dirtySet tracks the group indexes whose key or state may differ from the last snapshot
// revision, so a delta encodes only them (and the table's new length). It is off until the
// first revision: a runtime nobody snapshots pays one branch per change. Once more than an
// eighth of the groups changed it gives up (full): a full section then costs about the same,
// and the list stays small on a runtime that never takes a delta (a hot passive).
type dirtySet struct {
	on   bool
	full bool     // too many changes: the next delta writes all groups
	bits []uint64 // one bit per group index
	list []int32  // the indexes with their bit set, in first-change order
}

// touch records that group i changed.
func (t *groupTable) touch(i int) { t.dirty.mark(i, len(t.recs)) }

func (s *dirtySet) mark(i, groups int) {
	if !s.on || s.full {
		return
	}
	w := i >> 6
	if w >= len(s.bits) {
		s.bits = append(s.bits, make([]uint64, w+1-len(s.bits))...)
	}
	if s.bits[w]&(1<<(i&63)) == 0 {
		s.bits[w] |= 1 << (i & 63)
		s.list = append(s.list, int32(i))
		if len(s.list) > 1024+groups/8 {
			s.full = true
			s.bits, s.list = nil, nil
		}
	}
}

// start begins tracking changes from now (a revision was just taken or restored).
func (s *dirtySet) start() {
	s.on, s.full = true, false
	for _, i := range s.list {
		s.bits[i>>6] = 0
	}
	s.list = s.list[:0]
}

// take returns the dirty indexes below n in ascending order.
func (s *dirtySet) take(n int) []int32 {
	out := make([]int32, 0, len(s.list))
	for _, i := range s.list {
		if int(i) < n {
			out = append(out, i)
		}
	}
	slices.Sort(out)
	return out
}

// groupRec is 24 bytes: the hash's high half is the tag in the key's slot, so only the low
// half (the home slot of tables up to 2^32 slots) is kept here.
type groupRec struct {
	lo    uint32 // low 32 bits of the key's hash
	n     uint32 // key length
	off   int    // key offset in the arena
	count int64  // events currently in the group; the group is deleted at zero
}

func newGroupTable() *groupTable {
	t := &groupTable{seed: maphash.MakeSeed()}
	t.resize(8)
	return t
}

func (t *groupTable) len() int { return len(t.recs) }

func (t *groupTable) key(i int) []byte {
	r := &t.recs[i]
	return t.arena[r.off : r.off+int(r.n)]
}

func slotOf(h uint64, i int) uint64 { return h&^0xffffffff | uint64(i+1) }
func slotIndex(s uint64) int        { return int(uint32(s)) - 1 }

func (t *groupTable) resize(n int) {
	old := t.slots
	t.slots = make([]uint64, n)
	mask := uint64(n - 1)
	for _, s := range old { // a slot carries its tag, a record its home: no rehashing
		if s == 0 {
			continue
		}
		j := uint64(t.recs[slotIndex(s)].lo) & mask
		for t.slots[j] != 0 {
			j = (j + 1) & mask
		}
		t.slots[j] = s
	}
}

// find returns the slot holding key, or the empty slot where it would go.
func (t *groupTable) find(key []byte, h uint64) (slot uint64, found bool) {
	mask := uint64(len(t.slots) - 1)
	tag := h &^ 0xffffffff
	for j := h & mask; ; j = (j + 1) & mask {
		s := t.slots[j]
		if s == 0 {
			return j, false
		}
		if s&^0xffffffff != tag { // the tag spares a look at recs and keys
			continue
		}
		r := &t.recs[slotIndex(s)]
		if r.lo == uint32(h) && bytes.Equal(t.arena[r.off:r.off+int(r.n)], key) {
			return j, true
		}
	}
}

// lookup returns the index of key's group, adding it when create is set (-1 when absent).
func (t *groupTable) lookup(key []byte, create bool) (int, bool) {
	h := maphash.Bytes(t.seed, key)
	j, found := t.find(key, h)
	if found {
		return slotIndex(t.slots[j]), false
	}
	if !create {
		return -1, false
	}
	if (len(t.recs)+1)*4 > len(t.slots)*3 {
		t.resize(len(t.slots) * 2)
		j, _ = t.find(key, h)
	}
	t.slots[j] = slotOf(h, len(t.recs))
	t.recs = append(t.recs, groupRec{lo: uint32(h), off: len(t.arena), n: uint32(len(key))})
	t.arena = append(t.arena, key...)
	t.touch(len(t.recs) - 1)
	return len(t.recs) - 1, true
}

// remove deletes group i; the last group moves to index i (the caller moves its states too).
func (t *groupTable) remove(i int) {
	t.unslot(i)
	t.garbage += int(t.recs[i].n)
	last := len(t.recs) - 1
	if i != last {
		lj := t.slotOfIndex(last)
		t.slots[lj] = t.slots[lj]&^0xffffffff | uint64(i+1)
		t.recs[i] = t.recs[last]
		t.touch(i) // index i now holds another key
	}
	t.recs = t.recs[:last]
	if t.garbage > 1<<16 && t.garbage*2 > len(t.arena) {
		t.compact()
	}
}

// slotOfIndex returns the slot holding group i: the first slot from its home that names it.
func (t *groupTable) slotOfIndex(i int) uint64 {
	mask := uint64(len(t.slots) - 1)
	j := uint64(t.recs[i].lo) & mask
	for slotIndex(t.slots[j]) != i {
		j = (j + 1) & mask
	}
	return j
}

// unslot removes group i's key from the index, leaving recs as they are.
func (t *groupTable) unslot(i int) {
	mask := uint64(len(t.slots) - 1)
	j := t.slotOfIndex(i)
	// backward-shift deletion keeps probe sequences intact without tombstones
	for {
		t.slots[j] = 0
		k := j
		for {
			k = (k + 1) & mask
			s := t.slots[k]
			if s == 0 {
				goto moved
			}
			home := uint64(t.recs[slotIndex(s)].lo) & mask
			// move s back to j unless its home lies cyclically in (j, k]
			if (j < k && (home <= j || home > k)) || (j > k && home <= j && home > k) {
				t.slots[j] = s
				j = k
				break
			}
		}
	}
moved:
}

// place applies a delta's layout: the table gets n groups, and group i of each entry gets key
// keys[k] (the other groups keep theirs). It fails on a key held by two groups.
func (t *groupTable) place(n int, idx []int32, keys [][]byte) bool {
	t.reserve(max(n, len(t.recs)))
	for i := n; i < len(t.recs); i++ {
		t.unslot(i)
		t.garbage += int(t.recs[i].n)
	}
	for _, i := range idx {
		if int(i) < min(n, len(t.recs)) {
			t.unslot(int(i))
			t.garbage += int(t.recs[i].n)
		}
	}
	if n <= len(t.recs) {
		t.recs = t.recs[:n]
	} else {
		t.recs = append(t.recs, make([]groupRec, n-len(t.recs))...)
	}
	for k, i := range idx {
		key := keys[k]
		h := maphash.Bytes(t.seed, key)
		j, found := t.find(key, h)
		if found {
			return false
		}
		t.slots[j] = slotOf(h, int(i))
		t.recs[i] = groupRec{lo: uint32(h), off: len(t.arena), n: uint32(len(key))}
		t.arena = append(t.arena, key...)
	}
	if t.garbage > 1<<16 && t.garbage*2 > len(t.arena) {
		t.compact()
	}
	return true
}

func (t *groupTable) compact() {
	arena := make([]byte, 0, len(t.arena)-t.garbage+64)
	for i := range t.recs {
		r := &t.recs[i]
		off := len(arena)
		arena = append(arena, t.arena[r.off:r.off+int(r.n)]...)
		r.off = off
	}
	t.arena, t.garbage = arena, 0
}

func (t *groupTable) reset() {
	if len(t.recs) == 0 {
		return
	}
	clear(t.slots)
	t.recs, t.arena, t.garbage = t.recs[:0], t.arena[:0], 0
}

// reserve sizes the table for n groups (used by restore).
func (t *groupTable) reserve(n int) {
	size := len(t.slots)
	for n*4 > size*3 {
		size *= 2
	}
	if size != len(t.slots) {
		t.resize(size)
	}
}
