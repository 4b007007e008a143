package engine

import "encoding/binary"

// tableRT is an in-memory table: a list of rows in insertion order. The queries writing it
// change it when they release a row (instead of emitting it); the joins reading it probe its
// rows. A change never rewrites the row list in place: deletes and updates build a new list and
// inserts append beyond its end, so a probe iterating the list (while the rows it yields
// update the table through other queries) sees the table as it was when the probe started.
//
// With a primary key (@PrimaryKey), no two rows have the same key, as in Siddhi: an insert of a
// key the table holds is dropped, and so is an update (every row of it) that would give two rows
// one key. Rows stay in insertion order; keys holds the key of each row.
type tableRT struct {
	def  *StreamDef
	rows fifo // head is always 0; rows carry no timestamp
	f    frame
	refs [1][]Value
	tmp  []Value
	keys map[string]struct{} // primary-key tables only
	kbuf []byte
	kval []Value
	// gen counts the changes; a delta writes the table when it moved since snapGen.
	gen, snapGen uint64
}

func newTableRT(def *StreamDef) *tableRT {
	t := &tableRT{def: def}
	if def.pk != nil {
		t.keys = map[string]struct{}{}
	}
	return t
}

// key encodes the primary key of row vals into t.kbuf.
func (t *tableRT) key(vals []Value) []byte {
	t.kval = t.kval[:0]
	for _, c := range t.def.pk {
		t.kval = append(t.kval, vals[c])
	}
	t.kbuf = appendVals(t.kbuf[:0], t.kval)
	return t.kbuf
}

// insert appends a row unless its primary key is taken.
func (t *tableRT) insert(r *Runtime, vals []Value) {
	if t.keys != nil {
		k := t.key(vals)
		if _, dup := t.keys[string(k)]; dup {
			return
		}
		t.keys[string(k)] = struct{}{}
	}
	t.rows.push(wevent{vals: r.copyVals(vals)})
}

// rekey rebuilds the key set for rows; it reports false, leaving the set as it was, when two
// rows share a key.
func (t *tableRT) rekey(rows []wevent) bool {
	keys := make(map[string]struct{}, len(rows))
	for _, row := range rows {
		k := t.key(row.vals)
		if _, dup := keys[string(k)]; dup {
			return false
		}
		keys[string(k)] = struct{}{}
	}
	t.keys = keys
	return true
}

// apply changes the table with one output row of a query (p is the query's table plan).
func (t *tableRT) apply(r *Runtime, p *tablePlan, ts int64, vals []Value) {
	if p.op == opInsert {
		t.insert(r, vals)
		return
	}
	t.f.ev, t.f.ts, t.f.refs = vals, ts, t.refs[:]
	rows := t.rows.items
	var next []wevent // the new list, allocated at the first matching row
	for i, row := range rows {
		t.refs[0] = row.vals
		if !p.on(&t.f).Bool() {
			if next != nil {
				next = append(next, row)
			}
			continue
		}
		if next == nil {
			next = append(make([]wevent, 0, len(rows)), rows[:i]...)
		}
		if p.op == opDelete {
			continue
		}
		t.tmp = t.tmp[:0]
		for _, s := range p.sets {
			t.tmp = append(t.tmp, s.fn(&t.f)) // all values first: set T.a = T.b, T.b = T.a swaps
		}
		nv := append([]Value(nil), row.vals...)
		for j, s := range p.sets {
			nv[s.col] = t.tmp[j]
		}
		next = append(next, wevent{vals: nv})
	}
	t.f, t.refs = frame{}, [1][]Value{}
	switch {
	case next != nil:
		if t.keys != nil && !t.rekey(next) {
			return // the update would give two rows one primary key
		}
		t.rows.items = next
	case p.op == opUpsert:
		t.insert(r, vals)
	}
}

// encode appends the table's name and rows (values only) to a snapshot.
func (t *tableRT) encode(dst []byte) []byte {
	dst = appendStr(dst, t.def.Name)
	dst = binary.AppendUvarint(dst, uint64(len(t.rows.items)))
	for _, row := range t.rows.items {
		dst = appendVals(dst, row.vals)
	}
	return dst
}

// decode reads what encode wrote into the table, keeping its row list's identity for joins.
func (t *tableRT) decode(d *decoder) error {
	if name := d.str(); d.err == nil && name != t.def.Name {
		d.fail("snapshot table %q, want %q", name, t.def.Name)
	}
	n := d.count(1)
	rows := make([]wevent, 0, n)
	for i := 0; i < n && d.err == nil; i++ {
		rows = append(rows, wevent{vals: d.vals(t.def)})
	}
	t.rows = fifo{items: rows}
	if t.keys != nil && d.err == nil && !t.rekey(rows) {
		d.fail("snapshot table %q holds two rows with one primary key", t.def.Name)
	}
	return d.err
}
