package engine

import (
	"slices"
	"strings"
)

// Checks of in-memory tables: their definitions and the queries that write them.

// checkTableAnns checks a table's annotations: @PrimaryKey('a', ...) sets def's key and
// @Index('a', ...) names attributes (the table is scanned either way); the rest are refused.
func checkTableAnns(s *streamDecl, def *StreamDef) error {
	seen := map[string]bool{}
	for _, an := range s.anns {
		switch an.name {
		case "sink", "source":
			return errAt(an.p, "@%s is not applicable to a table (tables take no inputs and emit nothing)", an.name)
		case "store":
			return errAt(an.p, "@store on a table is not supported (tables are in memory)")
		case "primarykey", "index":
			name := map[string]string{"primarykey": "PrimaryKey", "index": "Index"}[an.name]
			if seen[an.name] {
				return errAt(an.p, "@%s is given twice on table %s", name, def.Name)
			}
			seen[an.name] = true
			if len(an.pos) == 0 || len(an.kv) > 0 {
				return errAt(an.p, "@%s needs attribute names, e.g. @%s('symbol')", name, name)
			}
			var cols []int
			for _, a := range an.pos {
				i := def.attrIndex(a)
				switch {
				case i < 0:
					return errAt(an.p, "@%s names %q, which table %s does not have", name, a, def.Name)
				case slices.Contains(cols, i):
					return errAt(an.p, "@%s names %s twice", name, a)
				}
				cols = append(cols, i)
			}
			if an.name == "primarykey" {
				def.pk = cols
			}
		}
	}
	return nil
}

// tablePlan is how a query's output rows change a table.
type tablePlan struct {
	def  *StreamDef
	op   tableOp
	on   evalFn     // delete/update: over the table row (f.refs[0]) and the output row (f.ev)
	sets []tableSet // update: the assignments, in order
}

type tableSet struct {
	col int    // the table attribute
	fn  evalFn // its new value, in the scope of on
}

// bindTable binds a query whose output goes to table t (nil when the target is not a table).
// The query's output schema stays the select's (qp.out is not registered as a stream).
func (a *App) bindTable(q *queryDecl, qp *queryPlan, t *StreamDef, attrs []Attr) error {
	if t == nil {
		return errAt(q.targetP, "%s is not a table: delete, update and update or insert into need a 'define table'", q.target)
	}
	out := &StreamDef{Name: t.Name, Attrs: attrs, index: map[string]int{}}
	for i, at := range attrs {
		out.index[at.Name] = i
	}
	qp.out = out
	tp := &tablePlan{def: t, op: q.op}
	qp.tbl = tp
	if q.op == opInsert || q.op == opUpsert {
		if !sameAttrs(t.Attrs, attrs) {
			return errAt(q.targetP, "table %s has attributes (%s), the query selects (%s): inserted rows must match by name, type and order",
				t.Name, attrList(t.Attrs), attrList(attrs))
		}
	}
	if q.op == opInsert {
		return nil
	}
	sc := tableScope{table: t, out: out}
	fn, err := a.compileBool(sc, q.on, "on condition")
	if err != nil {
		return err
	}
	tp.on = fn
	if q.op == opDelete {
		return nil
	}
	for _, s := range q.sets {
		if s.attr.qual != "" && s.attr.qual != t.Name {
			return errAt(s.attr.p, "set assigns attributes of table %s: write %s.%s", t.Name, t.Name, s.attr.name)
		}
		col := t.attrIndex(s.attr.name)
		if col < 0 {
			return errAt(s.attr.p, "table %s has no attribute %s", t.Name, s.attr.name)
		}
		c := &exprCompiler{sc: sc, where: "set"}
		ce, err := c.compile(s.e)
		if err != nil {
			return err
		}
		to := t.Attrs[col].Type
		if ce.t != to && ce.t != TypeNull && !(ce.t.numeric() && to.numeric() && ce.t.rank() < to.rank()) {
			return errAt(s.e.at(), "table %s attribute %s is %s, the value is %s", t.Name, s.attr.name, to, ce.t)
		}
		// a narrower number is widened (set T.price = 10 on a float price), as Siddhi accepts it
		tp.sets = append(tp.sets, tableSet{col: col, fn: widen(ce, to)})
	}
	if q.sets != nil {
		return nil
	}
	// without set: every table attribute the query selects (by name) is updated
	for col, ta := range t.Attrs {
		i := out.attrIndex(ta.Name)
		if i < 0 {
			continue
		}
		if attrs[i].Type != ta.Type {
			return errAt(q.targetP, "table %s attribute %s is %s, the query selects %s %s", t.Name, ta.Name, ta.Type, ta.Name, attrs[i].Type)
		}
		tp.sets = append(tp.sets, tableSet{col: col, fn: func(f *frame) Value { return f.ev[i] }})
	}
	if len(tp.sets) == 0 {
		return errAt(q.targetP, "update of table %s without set: the query selects none of its attributes", t.Name)
	}
	return nil
}

func sameAttrs(a, b []Attr) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// attrList renders a schema as "a string, b int".
func attrList(as []Attr) string {
	parts := make([]string, len(as))
	for i, at := range as {
		parts[i] = at.Name + " " + at.Type.String()
	}
	return strings.Join(parts, ", ")
}

// tableScope resolves the on condition and set values of a table mutation: T.x is the table
// row's attribute (f.refs[0]), an unqualified name is the query's output attribute (f.ev).
type tableScope struct {
	table, out *StreamDef
}

func (s tableScope) resolve(e *exAttr) (evalFn, Type, error) {
	if e.indexed {
		return nil, 0, errAt(e.p, "indexed references (%s[i].%s) are only for pattern sequences", e.qual, e.name)
	}
	switch e.qual {
	case s.table.Name:
		i := s.table.attrIndex(e.name)
		if i < 0 {
			return nil, 0, errAt(e.p, "table %s has no attribute %s", s.table.Name, e.name)
		}
		return func(f *frame) Value { return f.refs[0][i] }, s.table.Attrs[i].Type, nil
	case "":
		i := s.out.attrIndex(e.name)
		if i < 0 {
			return nil, 0, errAt(e.p, "%s is not an output attribute of the query (table attributes are written %s.%s)", e.name, s.table.Name, e.name)
		}
		return func(f *frame) Value { return f.ev[i] }, s.out.Attrs[i].Type, nil
	}
	return nil, 0, errAt(e.p, "unknown %s in %s.%s: write table attributes as %s.x and output attributes unqualified", e.qual, e.qual, e.name, s.table.Name)
}
