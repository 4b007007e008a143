// Package kafkasource is @source(type='kafka'): the active node consumes assigned partitions of
// Kafka topics and feeds each record, mapped by @map(type='json'), through the node's ingest
// path. Exactly once across failovers: every batch of one partition is ingested with the
// position key of its last record (ha.PositionKey), so the app's state (snapshot + replayed
// inputs) knows per partition the offset of the last record it has applied, and a source opened
// after a promotion resumes each partition right after it. The consumer group is written to for
// lag monitoring only, never read back while the state knows the partition.
package kafkasource

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/streamha/streamha/node/engine"
	"github.com/streamha/streamha/node/ha"
	"github.com/streamha/streamha/node/kafkaconf"
	"github.com/streamha/streamha/node/source/jsonmap"
)

// Options is the option table of @source(type='kafka') (Siddhi's names); any other option is an
// error. Values may reference environment variables as ${NAME}.
var Options = map[string]string{
	"bootstrap.servers":      "host:port[,host:port…] (required)",
	"topic.list":             "topics to consume, comma-separated (required)",
	"group.id":               "consumer group the consumed offsets are committed to, for lag monitoring (required, as in Siddhi)",
	"threading.option":       "single.thread, topic.wise or partition.wise (required, as in Siddhi; every partition is read in order either way)",
	"partition.no.list":      "partitions to consume, comma-separated (default: all partitions of each topic at open)",
	"topic.offsets.map":      "topic=offset,…: where a partition the state has never seen starts (after offset)",
	"enable.offsets.commit":  "true (default) or false: commit applied offsets to group.id for lag monitoring",
	"optional.configuration": "key:value,… with security.protocol (PLAINTEXT, SSL) and auto.offset.reset (earliest, latest)",
}

// Source is one checked @source(type='kafka') of a stream.
type Source struct {
	App, Stream string
	Brokers     []string
	Topics      []string
	Group       string
	Threading   string
	Partitions  []int32          // nil: all partitions of each topic
	StartAfter  map[string]int64 // topic.offsets.map
	Commit      bool
	Optional    kafkaconf.Optional
	mapper      *jsonmap.Mapper
}

// Check validates a @source(type='kafka') of stream def in app, ${NAME} references expanded.
func Check(app string, def *engine.StreamDef, spec engine.SourceSpec) (*Source, error) {
	if err := spec.CheckOptions(Options); err != nil {
		return nil, err
	}
	opts, err := kafkaconf.ExpandAll(spec.Options)
	if err != nil {
		return nil, err
	}
	for _, k := range []string{"bootstrap.servers", "topic.list", "group.id", "threading.option"} {
		if strings.TrimSpace(opts[k]) == "" {
			return nil, fmt.Errorf("missing option %s", k)
		}
	}
	s := &Source{App: app, Stream: def.Name, Group: strings.TrimSpace(opts["group.id"]), Commit: true, StartAfter: map[string]int64{}}
	if s.Brokers, err = kafkaconf.Brokers(opts["bootstrap.servers"]); err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, tp := range strings.Split(opts["topic.list"], ",") {
		tp = strings.TrimSpace(tp)
		if tp == "" {
			continue
		}
		if !validTopic(tp) {
			return nil, fmt.Errorf("topic.list: %q is not a Kafka topic name (letters, digits, '.', '_', '-')", tp)
		}
		if seen[tp] {
			return nil, fmt.Errorf("topic.list names %s twice", tp)
		}
		seen[tp] = true
		s.Topics = append(s.Topics, tp)
	}
	if len(s.Topics) == 0 {
		return nil, fmt.Errorf("topic.list is empty")
	}
	switch s.Threading = opts["threading.option"]; s.Threading {
	case "single.thread", "topic.wise", "partition.wise":
	default:
		return nil, fmt.Errorf("threading.option %q: want single.thread, topic.wise or partition.wise", s.Threading)
	}
	if v := strings.TrimSpace(opts["partition.no.list"]); v != "" {
		ps := map[int32]bool{}
		for _, p := range strings.Split(v, ",") {
			n, err := strconv.ParseInt(strings.TrimSpace(p), 10, 32)
			if err != nil || n < 0 {
				return nil, fmt.Errorf("partition.no.list: %q is not a partition number", p)
			}
			if ps[int32(n)] {
				return nil, fmt.Errorf("partition.no.list names partition %d twice", n)
			}
			ps[int32(n)] = true
			s.Partitions = append(s.Partitions, int32(n))
		}
	}
	if v := strings.TrimSpace(opts["topic.offsets.map"]); v != "" {
		for _, kv := range strings.Split(v, ",") {
			tp, off, ok := strings.Cut(strings.TrimSpace(kv), "=")
			n, err := strconv.ParseInt(strings.TrimSpace(off), 10, 64)
			if !ok || err != nil || n < 0 || !seen[strings.TrimSpace(tp)] {
				return nil, fmt.Errorf("topic.offsets.map: %q is not topic=offset for a topic of topic.list", kv)
			}
			s.StartAfter[strings.TrimSpace(tp)] = n
		}
	}
	if v, ok := opts["enable.offsets.commit"]; ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return nil, fmt.Errorf("enable.offsets.commit=%q: want true or false", v)
		}
		s.Commit = b
	}
	if s.Optional, err = kafkaconf.ParseOptional(opts["optional.configuration"], "security.protocol", "auto.offset.reset"); err != nil {
		return nil, err
	}
	for _, tp := range s.Topics {
		// The longest position key of this topic must fit an idempotency key.
		if k := ha.PositionKey(s.position(tp, 1<<31-1), 1<<63-1); len(k) > ha.MaxIdempotencyKeyBytes {
			return nil, fmt.Errorf("topic %s: stream and topic names too long for a position key (%d bytes, the limit is %d)", tp, len(k), ha.MaxIdempotencyKeyBytes)
		}
	}
	if s.mapper, err = jsonmap.New(def, spec.Map, "kafka"); err != nil {
		return nil, err
	}
	return s, nil
}

func validTopic(t string) bool {
	if len(t) > 249 || t == "." || t == ".." {
		return false
	}
	for _, c := range t {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// PositionPrefix is the prefix of this source's position names in its app's state.
func (s *Source) PositionPrefix() string { return "kafka:" + s.Stream + "/" }

// position names a partition's position in the app's state: kafka:<stream>/<topic>/<partition>.
func (s *Source) position(topic string, partition int32) string {
	return s.PositionPrefix() + topic + "/" + strconv.FormatInt(int64(partition), 10)
}

// Overlaps reports whether s and o would read the same partition onto the same stream.
func (s *Source) Overlaps(o *Source) bool {
	if s.App != o.App || s.Stream != o.Stream {
		return false
	}
	for _, t := range s.Topics {
		for _, u := range o.Topics {
			if t != u {
				continue
			}
			if s.Partitions == nil || o.Partitions == nil {
				return true
			}
			for _, p := range s.Partitions {
				for _, q := range o.Partitions {
					if p == q {
						return true
					}
				}
			}
		}
	}
	return false
}
