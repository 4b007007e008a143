package engine

import "encoding/binary"

// tableRT is an in-memory table: a list of rows in insertion order. The queries writing it
// change it when they release a row (instead of emitting it); the joins reading it probe its
// rows. A change never rewrites the row list in place: deletes and updates build a new list and
// inserts append beyond its end, so a probe iterating the list (while the rows it yields
// update the table through other queries) sees the table as it was when the probe started.
type tableRT struct {
	def  *StreamDef
	rows fifo // head is always 0; rows carry no timestamp
	f    frame
	refs [1][]Value
	tmp  []Value
}

func newTableRT(def *StreamDef) *tableRT { return &tableRT{def: def} }

// apply changes the table with one output row of a query (p is the query's table plan).
func (t *tableRT) apply(r *Runtime, p *tablePlan, ts int64, vals []Value) {
	if p.op == opInsert {
		t.rows.push(wevent{vals: r.copyVals(vals)})
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
	if next != nil {
		t.rows.items = next
	} else if p.op == opUpsert {
		t.rows.push(wevent{vals: r.copyVals(vals)})
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
	return d.err
}
