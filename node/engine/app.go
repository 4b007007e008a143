package engine

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Attr is one attribute of a stream schema.
type Attr struct {
	Name string
	Type Type
}

// SinkSpec is one @sink annotation of a stream: its type, the other options verbatim and its
// nested @map (Map.Type "" when there is none). The engine only records it; the node checks the
// options and the mapping (node/sink). Line and Col locate the annotation for error messages.
type SinkSpec struct {
	Type      string
	Options   map[string]string
	Map       MapSpec
	Line, Col int
}

// SourceSpec is one @source annotation of a stream: its type, the other options verbatim and its
// nested @map. The engine only records it; the node opens sources and checks their options
// (node/source). Line and Col locate the annotation for error messages.
type SourceSpec struct {
	Type      string
	Options   map[string]string
	Map       MapSpec
	Line, Col int
}

// MapSpec is a source's or sink's @map(type='…', …, @attributes(…)); Type is "" when there is
// no @map.
// Attributes holds @attributes(name='path', …); Positional holds @attributes('path', …).
type MapSpec struct {
	Type       string
	Options    map[string]string
	Attributes map[string]string
	Positional []string
	// Other lists the names of any other annotations nested in @map, for the checker to refuse.
	Other []string
}

// StreamDef is a stream schema. Defined is true for streams declared with 'define stream' (inputs
// users may send to); streams created by a query's 'insert into' have Defined false.
type StreamDef struct {
	Name    string
	Attrs   []Attr
	Sinks   []SinkSpec
	Sources []SourceSpec
	Defined bool
	// MissingAsNull is set by @source(..., @map(type='json', fail.on.missing.attribute='false')):
	// ingest takes an event that lacks attributes with nulls for them instead of refusing it
	// (Siddhi's JSON mapper refuses by default).
	MissingAsNull bool

	index map[string]int
	pk    []int // a table's @PrimaryKey attributes; nil without one
}

// App is a compiled stream app: immutable, shareable by any number of Runtimes.
type App struct {
	name        string
	streams     []*StreamDef
	byName      map[string]*StreamDef
	tables      []*StreamDef // 'define table', in definition order
	tableBy     map[string]*StreamDef
	queries     []*queryPlan
	parts       []*partPlan // partitions in source order
	fingerprint string
	usesTime    bool
}

// Compile parses and type-checks an app. Errors are *CompileError values giving file:line:col.
func Compile(filename, src string) (*App, error) {
	a, err := compile(src)
	if err != nil {
		var ce *CompileError
		if errors.As(err, &ce) {
			return nil, ce.locate(filename, src)
		}
		return nil, err
	}
	return a, nil
}

func compile(src string) (*App, error) {
	toks, err := tokenize(src)
	if err != nil {
		return nil, err
	}
	decl, err := parseApp(src)
	if err != nil {
		return nil, err
	}
	a, err := check(decl)
	if err != nil {
		return nil, err
	}
	h := sha256.New()
	h.Write([]byte("streamha-engine/" + strconv.Itoa(fingerprintVersion) + "\n"))
	for _, t := range toks {
		h.Write([]byte{byte(t.kind)})
		h.Write([]byte(strconv.Itoa(len(t.text))))
		h.Write([]byte{':'})
		h.Write([]byte(t.text))
	}
	a.fingerprint = hex.EncodeToString(h.Sum(nil)[:16])
	return a, nil
}

// Name is the @app:name of the app ("StreamApp" when absent); it prefixes every output id.
func (a *App) Name() string { return a.name }

// Streams lists all streams in definition order (defined ones, then those created by queries).
func (a *App) Streams() []*StreamDef { return a.streams }

// Stream looks a stream up by name.
func (a *App) Stream(name string) (*StreamDef, bool) {
	s, ok := a.byName[name]
	return s, ok
}

// Tables lists the in-memory tables ('define table') in definition order. Tables are not
// streams: they take no inputs, have no sinks and emit nothing.
func (a *App) Tables() []*StreamDef { return a.tables }

// Fingerprint is a hash of the app's token stream (comments and layout ignored); snapshots carry
// it so that Restore refuses a snapshot taken by a different app.
func (a *App) Fingerprint() string { return a.fingerprint }

// UsesTime reports whether the app has time-based windows or 'within' clauses, i.e. whether the
// node must forward clock ticks for outputs to appear without new events.
func (a *App) UsesTime() bool { return a.usesTime }

// QueryNames lists the query names (from @info or q<N>) in source order.
func (a *App) QueryNames() []string {
	out := make([]string, len(a.queries))
	for i, q := range a.queries {
		out[i] = q.name
	}
	return out
}

// CheckOptions fails on the first option (in name order) that known does not list, naming the
// supported ones: each source type checks its @source against its own option table.
func (s SourceSpec) CheckOptions(known map[string]string) error {
	for _, k := range sortedKeys(s.Options) {
		if _, ok := known[k]; !ok {
			return fmt.Errorf("unknown option %q for @source(type='%s') (supported: %s)", k, s.Type, strings.Join(sortedKeys(known), ", "))
		}
	}
	return nil
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
