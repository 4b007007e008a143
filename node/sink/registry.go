package sink

import (
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/streamha/streamha/node/engine"
)

// Option is one annotation option a sink type accepts: checked when the apps are loaded, so a
// typo or a bad value stops the node instead of meaning the default.
type Option struct {
	Name     string
	Required bool
	Default  string             // used when the option is absent ("" = none)
	Check    func(string) error // nil: any value; its error names the problem, not the option
}

// Type is a registered sink type: its option table and how to open one.
type Type struct {
	Name    string
	Options []Option
	// Check, when set, validates the options together (after defaults), e.g. two that go in a
	// pair.
	Check func(map[string]string) error
	Open  func(Spec) (Sink, error)
}

// Common lists the options every sink type takes; the output dispatcher reads them.
var Common = []Option{
	{Name: OnErrorOption, Default: OnErrorWait, Check: OneOf(OnErrorWait, OnErrorLog, OnErrorStore)},
}

// MapOptions are the options of a sink's @map(type='json'): JSON is the only mapping, and the
// sinks always write valid JSON, so validate.json changes nothing.
var MapOptions = []Option{
	{Name: "validate.json", Check: OneOf("true", "false")},
}

// The on.error policies (Siddhi's names): what the dispatcher does with outputs a sink failed
// to write.
const (
	OnErrorOption = "on.error"
	// OnErrorWait keeps them pending and writes them again with backoff, forever; ingest is
	// held back once the pending outputs pass max_pending_output_bytes.
	OnErrorWait = "wait"
	// OnErrorLog drops them with an error log line and a counter.
	OnErrorLog = "log"
	// OnErrorStore writes them to the error store (ha_error in the persistence database) and
	// goes on; they count as handled only once the store write committed. `node errors replay`
	// sends them again.
	OnErrorStore = "store"
)

// Spec is what a sink type's Open gets: the options validated and completed with defaults.
type Spec struct {
	App, Stream string
	Options     map[string]string
	Config      Config
	Logger      *slog.Logger
}

var (
	regMu sync.RWMutex
	types = map[string]Type{}
)

// Register adds a sink type; sink type packages call it from init. A second registration of
// one name panics (a programming error).
func Register(t Type) {
	regMu.Lock()
	defer regMu.Unlock()
	if _, dup := types[t.Name]; dup {
		panic("sink: type " + t.Name + " registered twice")
	}
	types[t.Name] = t
}

func lookup(name string) (Type, bool) {
	regMu.RLock()
	defer regMu.RUnlock()
	t, ok := types[name]
	return t, ok
}

// Types lists the registered type names, sorted.
func Types() []string {
	regMu.RLock()
	defer regMu.RUnlock()
	var names []string
	for n := range types {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Validate checks a sink annotation without opening anything: a known type, no unknown option,
// required options present and every value valid. Apps are checked with it when they are loaded.
func Validate(spec engine.SinkSpec) error {
	_, err := Resolve(spec)
	return err
}

// Resolve validates spec like Validate and returns its options with the type's defaults
// filled in.
func Resolve(spec engine.SinkSpec) (map[string]string, error) {
	t, ok := lookup(spec.Type)
	if !ok {
		return nil, fmt.Errorf("unknown sink type %q (want %s): %w", spec.Type, strings.Join(Types(), ", "), ErrConfig)
	}
	table := append(append([]Option(nil), t.Options...), Common...)
	var known []string
	for _, o := range table {
		known = append(known, o.Name)
	}
	var unknown []string
	for k := range spec.Options {
		if !slices.Contains(known, k) {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return nil, fmt.Errorf("@sink(type='%s'): unknown option %s (want %s): %w", spec.Type,
			strings.Join(unknown, ", "), strings.Join(known, ", "), ErrConfig)
	}
	opts := make(map[string]string, len(table))
	for _, o := range table {
		v, set := spec.Options[o.Name]
		switch {
		case !set && o.Required:
			return nil, fmt.Errorf("@sink(type='%s'): missing option %s: %w", spec.Type, o.Name, ErrConfig)
		case !set:
			v = o.Default
		}
		if o.Check != nil && (set || v != "") {
			if err := o.Check(v); err != nil {
				return nil, fmt.Errorf("@sink(type='%s'): bad %s %q: %v: %w", spec.Type, o.Name, v, err, ErrConfig)
			}
		}
		if set || v != "" {
			opts[o.Name] = v
		}
	}
	if err := checkMap(spec); err != nil {
		return nil, err
	}
	if t.Check != nil {
		if err := t.Check(opts); err != nil {
			return nil, fmt.Errorf("@sink(type='%s'): %v: %w", spec.Type, err, ErrConfig)
		}
	}
	return opts, nil
}

// OneOf is an Option.Check accepting only the given values.
func OneOf(values ...string) func(string) error {
	return func(v string) error {
		if slices.Contains(values, v) {
			return nil
		}
		return fmt.Errorf("want %s", strings.Join(values, " or "))
	}
}

// IntRange is an Option.Check accepting a decimal integer in [lo, hi].
func IntRange(lo, hi int) func(string) error {
	return func(v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < lo || n > hi {
			return fmt.Errorf("want an integer from %d to %d", lo, hi)
		}
		return nil
	}
}

// Position is an output's place in its query's output order: input sequence, then index.
type Position struct {
	Seq   uint64
	Index int
}

// Less orders positions.
func (p Position) Less(o Position) bool {
	return p.Seq < o.Seq || (p.Seq == o.Seq && p.Index < o.Index)
}

// IDKey is ParseID's key ("<app>/<query>") of id without parsing its numbers: outputs of a
// query come in order, so a sink parses a position once per run of a query, not per output.
func IDKey(id string) (string, bool) {
	i := strings.LastIndexByte(id, '/')
	if i < 0 {
		return "", false
	}
	j := strings.LastIndexByte(id[:i], '/')
	if j < 0 {
		return "", false
	}
	return id[:j], true
}

// ParseID splits an output id "<app>/<query>/<seq>/<index>" into "<app>/<query>" and its
// position, for sinks that drop outputs they already wrote.
func ParseID(id string) (string, Position, bool) {
	i := strings.LastIndexByte(id, '/')
	if i < 0 {
		return "", Position{}, false
	}
	j := strings.LastIndexByte(id[:i], '/')
	if j < 0 {
		return "", Position{}, false
	}
	seq, err1 := strconv.ParseUint(id[j+1:i], 10, 64)
	idx, err2 := strconv.Atoi(id[i+1:])
	if err1 != nil || err2 != nil {
		return "", Position{}, false
	}
	return id[:j], Position{seq, idx}, true
}

// checkMap validates a sink's nested @map: absent or json, with known options only.
func checkMap(spec engine.SinkSpec) error {
	m := spec.Map
	if m.Type == "" {
		return nil
	}
	if m.Type != "json" {
		return fmt.Errorf("@sink(type='%s'): @map(type='%s') is not supported: outputs are written as JSON, use @map(type='json') or no @map: %w",
			spec.Type, m.Type, ErrConfig)
	}
	if len(m.Other) > 0 {
		return fmt.Errorf("@sink(type='%s'): @map(type='json') takes no nested @%s (custom payloads are not supported): %w",
			spec.Type, m.Other[0], ErrConfig)
	}
	var known []string
	for _, o := range MapOptions {
		known = append(known, o.Name)
	}
	var names []string
	for k := range m.Options {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		i := slices.IndexFunc(MapOptions, func(o Option) bool { return o.Name == k })
		if i < 0 {
			return fmt.Errorf("@sink(type='%s'): unknown @map option %s (want %s): %w", spec.Type, k, strings.Join(known, ", "), ErrConfig)
		}
		if c := MapOptions[i].Check; c != nil {
			if err := c(m.Options[k]); err != nil {
				return fmt.Errorf("@sink(type='%s'): bad @map option %s %q: %v: %w", spec.Type, k, m.Options[k], err, ErrConfig)
			}
		}
	}
	return nil
}
