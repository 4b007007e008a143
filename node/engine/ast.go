package engine

// The syntax tree produced by the parser and consumed by the checker (check.go).

type expr interface{ at() pos }

type exLit struct {
	p   pos
	val Value
}

type exAttr struct {
	p          pos
	qual, name string // qual is "" or a stream name / pattern alias
	indexed    bool   // e2[i].x or e2[last].x on a quantified sequence element
	index      int    // from the first event, or back from the last when fromLast
	fromLast   bool
}

type exUnary struct {
	p  pos
	op string // "-", "not"
	x  expr
}

type exBinary struct {
	p    pos
	op   string // + - * / % == != < <= > >= and or
	l, r expr
}

type exCall struct {
	p    pos
	name string
	args []expr
	star bool // count(*)
}

// exIn is "<condition> in Table": true when some row of the table satisfies the condition,
// which reads the row as Table.x.
type exIn struct {
	p      pos // the 'in' keyword
	cond   expr
	table  string
	tableP pos
}

func (e *exIn) at() pos { return e.p }

func (e *exLit) at() pos    { return e.p }
func (e *exAttr) at() pos   { return e.p }
func (e *exUnary) at() pos  { return e.p }
func (e *exBinary) at() pos { return e.p }
func (e *exCall) at() pos   { return e.p }

type annotation struct {
	p    pos
	name string // e.g. "app:name", "sink", "info"
	pos  []string
	kv   map[string]string
	kvAt map[string]pos
	sub  []*annotation // nested annotations, e.g. @map inside @source
}

type attrDecl struct {
	p    pos
	name string
	typ  Type
}

type streamDecl struct {
	p     pos
	name  string
	attrs []attrDecl
	anns  []*annotation
	table bool // 'define table'
}

type windowSpec struct {
	p    pos
	name string
	args []expr
}

type simpleInput struct {
	p           pos
	stream      string
	preFilters  []expr
	window      *windowSpec
	postFilters []expr
	alias       string // "from S as s"; "" without 'as'
	aliasP      pos
	uni         bool // 'unidirectional' (a join side)
	uniP        pos
}

type joinKind uint8

const (
	joinInner joinKind = iota
	joinLeft
	joinRight
	joinFull
)

// joinInput is "L ... [left|right|full outer | inner] join R ... [on cond]".
type joinInput struct {
	p           pos // the first join keyword
	kind        joinKind
	left, right *simpleInput
	on          expr // nil without 'on'
}

type patElem struct {
	p      pos
	alias  string
	stream string
	filter expr
	quant  byte // 0, '+', '*', '?', or '<' for a counting element
	quantP pos
	lo, hi int   // bounds of a counting element; hi is -1 without a maximum
	absent bool  // "not S[..] for <time>": no alias
	wait   int64 // the absent element's time (ms)
	every  bool  // "every not S[..] for <time>": each elapsed wait moves a match on and waits again
	logic  byte  // '&' or '|': this element and the next form "e1=A and e2=B" / "e1=A or e2=B"
	logicP pos
}

type patternInput struct {
	p        pos
	elems    []patElem
	sequence bool
	every    int // everyNone, everyFirst, everyAll, everyGroup
	// grpLo..grpHi: the elements of an 'every' group that is not the whole pattern ("every
	// (e1=A -> e2=B) -> e3=C", "e1=A -> every e2=B -> e3=C"); grpHi is -1 without one
	grpLo, grpHi int
	within       int64
	withinP      pos
}

const (
	everyNone = iota
	everyFirst
	everyAll
	// everyGroup: 'every' on a group of first elements followed by more ("every (e1=A ->
	// e2=B) -> e3=C"): a new match starts once no match waits inside the group
	everyGroup
)

type selItem struct {
	p     pos
	e     expr
	alias string
}

type outKind uint8

const (
	outCurrent outKind = iota
	outExpired
	outAll
)

type queryDecl struct {
	p       pos
	name    string
	simple  *simpleInput
	pattern *patternInput
	join    *joinInput
	star    bool
	items   []selItem
	groupBy []*exAttr
	having  expr
	orderBy []orderItem
	orderP  pos  // position of 'order'
	limit   expr // nil without 'limit'
	offset  expr // nil without 'offset'
	rate    *rateDecl
	out     outKind
	target  string
	targetP pos
	selectP pos
	anns    []*annotation
	op      tableOp   // how the output reaches target (opInsert for streams)
	opP     pos       // the output keyword (insert, delete, update)
	sets    []setItem // update ... set
	on      expr      // delete/update ... on cond; nil for insert
	part    *partDecl // the partition holding the query; nil outside partitions
}

// tableOp is a query's output operation: insert into a stream or table, or a table mutation.
type tableOp uint8

const (
	opInsert tableOp = iota
	opDelete
	opUpdate
	opUpsert // update or insert into
)

// setItem is "T.a = expr" in an update's set clause.
type setItem struct {
	attr *exAttr
	e    expr
}

type orderItem struct {
	attr *exAttr
	desc bool
}

// rateKind is the kind of an 'output ... every' clause.
type rateKind uint8

const (
	rateAll rateKind = iota
	rateFirst
	rateLast
	rateSnapshot
)

var rateNames = [...]string{"all", "first", "last", "snapshot"}

type rateDecl struct {
	p      pos
	kind   rateKind
	events int64 // 'every N events'; 0 for a time period
	dur    int64 // 'every <time>' in ms; 0 for an event count
	valP   pos
}

type appDecl struct {
	name    string
	streams []*streamDecl
	queries []*queryDecl
	order   []any // *streamDecl or *queryDecl in source order
	parts   []*partDecl
}
