// Package kafkasink is @sink(type='kafka'): outputs produced to a Kafka topic, each record
// carrying its output id and the writing active's term as headers. Each Write is one Kafka
// transaction of an idempotent producer (acks=all) whose transactional id is the same on both
// nodes of a pair: the broker fences the deposed active's producer when the new active's sink
// opens, so a frozen old active can never add records once its successor writes (read_committed
// consumers see none of them), and Write returns only once the transaction is committed.
package kafkasink

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamha/streamha/node/engine"
	"github.com/streamha/streamha/node/kafkaconf"
	"github.com/streamha/streamha/node/sink"
)

// Record headers of every output.
const (
	// OutputIDHeader is the output id: a consumer drops a record whose id it has seen.
	OutputIDHeader = "streamha-output-id"
	// TermHeader is the writing active's lease term (decimal).
	TermHeader = "streamha-term"
	// GroupHeader is the writing pair's cluster group: pairs scaled out on one topic number
	// their outputs independently, so a consumer keys repeats by group and output id, and
	// compares terms within a group.
	GroupHeader = "streamha-group"
)

// Options is the option table of @sink(type='kafka') (Siddhi's names), besides the common
// on.error; values may reference environment variables as ${NAME}.
var Options = []sink.Option{
	{Name: "bootstrap.servers", Required: true}, // host:port[,host:port…]
	{Name: "topic", Required: true},
	{Name: "partition.no"},           // default: by key, or spread when there is no key
	{Name: "key"},                    // {{attr}} takes an output attribute, e.g. '{{symbol}}'
	{Name: "optional.configuration"}, // key:value,… with security.protocol (PLAINTEXT, SSL)
}

func init() {
	sink.Register(sink.Type{
		Name:    "kafka",
		Options: Options,
		Check:   func(opts map[string]string) error { _, err := parseOpts(opts); return err },
		Open:    open,
	})
}

// config is a checked annotation.
type config struct {
	brokers   []string
	topic     string
	partition int32 // -1: by key
	key       []keyPart
	optional  kafkaconf.Optional
}

// keyPart is a literal, or an attribute reference when attr is set.
type keyPart struct {
	lit  string
	attr string
}

// parseOpts reads the options (validated for names by the sink registry), ${NAME} expanded.
func parseOpts(raw map[string]string) (*config, error) {
	in := map[string]string{}
	for _, o := range Options {
		if v, ok := raw[o.Name]; ok {
			in[o.Name] = v
		}
	}
	opts, err := kafkaconf.ExpandAll(in)
	if err != nil {
		return nil, err
	}
	c := &config{topic: strings.TrimSpace(opts["topic"]), partition: -1}
	if c.topic == "" {
		return nil, errors.New("topic is empty")
	}
	if c.brokers, err = kafkaconf.Brokers(opts["bootstrap.servers"]); err != nil {
		return nil, err
	}
	if v := strings.TrimSpace(opts["partition.no"]); v != "" {
		n, err := strconv.ParseInt(v, 10, 32)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("partition.no %q is not a partition number", v)
		}
		c.partition = int32(n)
	}
	if c.key, err = parseKey(opts["key"]); err != nil {
		return nil, fmt.Errorf("key: %w", err)
	}
	if c.optional, err = kafkaconf.ParseOptional(opts["optional.configuration"], "security.protocol"); err != nil {
		return nil, err
	}
	return c, nil
}

func parseKey(v string) ([]keyPart, error) {
	var parts []keyPart
	for v != "" {
		i := strings.Index(v, "{{")
		if i < 0 {
			parts = append(parts, keyPart{lit: v})
			break
		}
		if i > 0 {
			parts = append(parts, keyPart{lit: v[:i]})
		}
		j := strings.Index(v[i:], "}}")
		if j < 0 {
			return nil, fmt.Errorf("%q: {{ without }}", v)
		}
		name := strings.TrimSpace(v[i+2 : i+j])
		if name == "" {
			return nil, fmt.Errorf("%q: empty {{}}", v)
		}
		parts = append(parts, keyPart{attr: name})
		v = v[i+j+2:]
	}
	return parts, nil
}

// Validate checks a @sink(type='kafka') annotation without connecting: its options and its
// @map (json only), through the sink registry.
func Validate(spec engine.SinkSpec) error { return sink.Validate(spec) }

// CheckStream checks a @sink(type='kafka') like Validate, and its key template's attributes
// against the stream the sink is on.
func CheckStream(spec engine.SinkSpec, def *engine.StreamDef) error {
	if err := Validate(spec); err != nil {
		return err
	}
	c, err := parseOpts(spec.Options)
	if err != nil {
		return err
	}
	for _, p := range c.key {
		if p.attr != "" && def.AttrIndex(p.attr) < 0 {
			return fmt.Errorf("@sink(type='kafka'): key names {{%s}}, which stream %s does not have", p.attr, def.Name)
		}
	}
	return nil
}

// kafkaSink produces outputs in transactions; the client is made at the first Write (and again
// after a failed one), so opening never blocks the dispatcher on a broker.
type kafkaSink struct {
	c       *config
	txnID   string
	term    int64
	logger  *slog.Logger
	mu      sync.Mutex
	cl      *kgo.Client
	buf     []byte
	termHdr []byte
	group   []byte
}

// open returns a kafka sink; Config.Group and Config.Term name and stamp it.
func open(sp sink.Spec) (sink.Sink, error) {
	c, err := parseOpts(sp.Options)
	if err != nil {
		return nil, err
	}
	group := sp.Config.Group
	if group == "" {
		group = "default"
	}
	return &kafkaSink{c: c, term: sp.Config.Term, logger: sp.Logger,
		txnID:   TransactionalID(group, sp.App, sp.Stream, c.topic),
		termHdr: []byte(strconv.FormatInt(sp.Config.Term, 10)), group: []byte(group)}, nil
}

// TransactionalID is the producer's transactional id: one per pair, app, stream and topic, so
// both nodes of a pair share it (the broker fences the older) and pairs never fence each other.
func TransactionalID(group, app, stream, topic string) string {
	return "streamha/" + group + "/" + app + "/" + stream + "/" + topic
}

func (s *kafkaSink) client() (*kgo.Client, error) {
	if s.cl != nil {
		return s.cl, nil
	}
	opts := append(kafkaconf.ClientOpts(s.c.brokers, s.c.optional, "streamha-sink"),
		kgo.TransactionalID(s.txnID),
		kgo.TransactionTimeout(30*time.Second),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(0),
		kgo.DefaultProduceTopic(s.c.topic),
	)
	if s.c.partition >= 0 {
		opts = append(opts, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("kafka sink %s: %w", s.c.topic, err)
	}
	s.cl = cl
	return cl, nil
}

// Write produces outs in one transaction and returns nil once it is committed. On an error the
// transaction is aborted (read_committed consumers see none of it) and the client dropped; the
// dispatcher writes the same outputs again.
func (s *kafkaSink) Write(ctx context.Context, outs []*engine.Output) error {
	if len(outs) == 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cl, err := s.client()
	if err != nil {
		return err
	}
	recs := make([]*kgo.Record, len(outs))
	for i, o := range outs {
		r := &kgo.Record{Topic: s.c.topic, Headers: []kgo.RecordHeader{
			{Key: OutputIDHeader, Value: []byte(o.ID)},
			{Key: TermHeader, Value: s.termHdr},
			{Key: GroupHeader, Value: s.group},
		}}
		if s.c.partition >= 0 {
			r.Partition = s.c.partition
		}
		if len(s.c.key) > 0 {
			r.Key = s.renderKey(o)
		}
		start := len(s.buf)
		s.buf = appendEvent(s.buf, o)
		r.Value = s.buf[start:len(s.buf):len(s.buf)]
		recs[i] = r
	}
	defer func() { s.buf = s.buf[:0] }()
	if err := s.transact(ctx, cl, recs); err != nil {
		s.cl = nil
		go cl.Close() // aborts what is left; may wait on the broker
		return fmt.Errorf("kafka sink %s: %w", s.c.topic, err)
	}
	return nil
}

func (s *kafkaSink) transact(ctx context.Context, cl *kgo.Client, recs []*kgo.Record) error {
	if err := cl.BeginTransaction(); err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = cl.AbortBufferedRecords(actx)
		_ = cl.EndTransaction(actx, kgo.TryAbort)
		return fmt.Errorf("produce: %w", err)
	}
	if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
		return fmt.Errorf("commit transaction: %w", err)
	}
	return nil
}

func (s *kafkaSink) renderKey(o *engine.Output) []byte {
	var b []byte
	for _, p := range s.c.key {
		if p.attr == "" {
			b = append(b, p.lit...)
			continue
		}
		for i, a := range o.Attrs {
			if a.Name == p.attr && i < len(o.Data) {
				b = appendText(b, o.Data[i])
			}
		}
	}
	return b
}

// appendText appends v as key text: strings as they are, other values as in JSON.
func appendText(b []byte, v engine.Value) []byte {
	j := v.AppendJSON(nil)
	if len(j) >= 2 && j[0] == '"' {
		if s, err := strconv.Unquote(string(j)); err == nil {
			return append(b, s...)
		}
	}
	return append(b, j...)
}

// appendEvent appends Siddhi's JSON event: {"event":{"attr":value,…}}.
func appendEvent(b []byte, o *engine.Output) []byte {
	b = append(b, `{"event":{`...)
	for i, v := range o.Data {
		if i > 0 {
			b = append(b, ',')
		}
		name := "_" + strconv.Itoa(i)
		if i < len(o.Attrs) {
			name = o.Attrs[i].Name
		}
		b = strconv.AppendQuote(b, name)
		b = append(b, ':')
		b = v.AppendJSON(b)
	}
	return append(b, "}}"...)
}

// Close closes the producer (a transaction under way is aborted by the broker).
func (s *kafkaSink) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cl != nil {
		s.cl.Close()
		s.cl = nil
	}
	return nil
}
