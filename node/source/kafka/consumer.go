package kafkasource

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/streamha/streamha/node/ha"
	"github.com/streamha/streamha/node/kafkaconf"
)

// Node is what the kafka source needs of the HA node.
type Node interface {
	Submit(app, stream string, events []ha.Event, key string) (*ha.Pending, error)
	Positions(app string, term int64, prefix string) (map[string]int64, error)
}

// Rejected is a record that does not map to its stream: kept, never silently dropped.
type Rejected struct {
	App, Stream string
	Topic       string
	Partition   int32
	Offset      int64
	Key, Value  []byte
	Err         string
	Time        time.Time
}

// Rejects stores rejected records durably; Store returns only once they are stored.
type Rejects interface {
	Store(ctx context.Context, rs []Rejected) error
}

// Config is a consumer's node-level settings.
type Config struct {
	NodeID  string
	Logger  *slog.Logger
	Rejects Rejects
	// OnRecords counts records consumed and rejected, for metrics (may be nil).
	OnRecords func(app, stream string, consumed, rejected int)
	// Retry is the first wait after a failure (a broker unreachable, the ingest path refusing);
	// doubled per failure up to 5 s.
	Retry time.Duration
	// MaxPoll bounds the records of one poll (default 10,000).
	MaxPoll int
	// MaxBatchEvents bounds the events of one submitted batch: the node's
	// max_events_per_request (default 10,000). A partition's records of one poll are split into
	// batches under it; a single record mapping to more events is rejected.
	MaxBatchEvents int
	// Inflight bounds the batches submitted and not yet safe (default 64): past it the
	// consumer stops polling until the passive (or a snapshot) holds the older ones.
	Inflight int
}

// Consumer runs one kafka source on the active node: Start after promotion, Stop on demotion.
type Consumer struct {
	src  *Source
	node Node
	cfg  Config
	log  *slog.Logger

	mu     sync.Mutex
	cancel context.CancelFunc
	done   chan struct{}
	// seen is the last offset read per position during this Start, rejected records
	// included: a session restarted within the term does not read (and store) them again.
	seen map[string]int64
}

// NewConsumer returns a stopped consumer of src feeding node.
func NewConsumer(src *Source, node Node, cfg Config) *Consumer {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Retry <= 0 {
		cfg.Retry = 100 * time.Millisecond
	}
	if cfg.MaxPoll <= 0 {
		cfg.MaxPoll = 10_000
	}
	if cfg.Inflight <= 0 {
		cfg.Inflight = 64
	}
	if cfg.MaxBatchEvents <= 0 {
		cfg.MaxBatchEvents = 10_000
	}
	return &Consumer{src: src, node: node, cfg: cfg,
		log: cfg.Logger.With("component", "kafka-source", "app", src.App, "stream", src.Stream)}
}

// SetNode sets the node the consumer feeds, before the first Start.
func (c *Consumer) SetNode(n Node) { c.node = n }

// Start consumes for term in the background until Stop; a running consumer is left as is.
func (c *Consumer) Start(term int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cancel != nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel, c.done, c.seen = cancel, make(chan struct{}), map[string]int64{}
	go func(done chan struct{}) {
		defer close(done)
		c.run(ctx, term)
	}(c.done)
}

// Stop ends consumption and returns once no batch of this consumer is being submitted.
func (c *Consumer) Stop() {
	c.mu.Lock()
	cancel, done := c.cancel, c.done
	c.cancel, c.done = nil, nil
	c.mu.Unlock()
	if cancel == nil {
		return
	}
	cancel()
	<-done
}

func (c *Consumer) run(ctx context.Context, term int64) {
	wait := c.cfg.Retry
	for ctx.Err() == nil {
		err := c.session(ctx, term)
		if ctx.Err() != nil {
			return
		}
		var na *ha.NotActiveError
		if errors.As(err, &na) {
			// The node stopped serving this term; the source manager stops us at once.
			c.log.Info("kafka source idle: the node does not serve its term", "term", term)
		} else {
			c.log.Error("kafka source failed; reopening", "err", err, "retry_in", wait)
		}
		if !sleep(ctx, wait) {
			return
		}
		wait = min(2*wait, 5*time.Second)
	}
}

// session opens the partitions where the app's state says and consumes until ctx ends or a
// failure that needs a fresh start (positions are read again from the state then).
func (c *Consumer) session(ctx context.Context, term int64) error {
	pos, err := c.node.Positions(c.src.App, term, c.src.PositionPrefix())
	if err != nil {
		return err
	}
	base := kafkaconf.ClientOpts(c.src.Brokers, c.src.Optional, "streamha-"+c.cfg.NodeID)
	admin, err := kgo.NewClient(base...)
	if err != nil {
		return fmt.Errorf("kafka client: %w", err)
	}
	start, how, err := c.startOffsets(ctx, admin, pos)
	admin.Close()
	if err != nil {
		return err
	}
	cl, err := kgo.NewClient(append(base,
		kgo.ConsumePartitions(start),
		kgo.FetchMaxWait(200*time.Millisecond),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
	)...)
	if err != nil {
		return fmt.Errorf("kafka consumer: %w", err)
	}
	defer cl.Close()
	c.log.Info("kafka source consuming", "term", term, "partitions", how)

	pending := make(chan inflight, c.cfg.Inflight)
	waited := make(chan struct{})
	go func() { defer close(waited); c.waiter(ctx, cl, pending) }()
	err = c.poll(ctx, cl, pending)
	close(pending)
	<-waited
	return err
}

// startOffsets decides where each partition starts: right after the last record the app's
// state has applied; for a partition the state has never seen, after topic.offsets.map's
// offset, else at the group's committed offset, else at the start (or the end with
// auto.offset.reset=latest). how describes the choice per partition, for the log.
func (c *Consumer) startOffsets(ctx context.Context, cl *kgo.Client, pos map[string]int64) (map[string]map[int32]kgo.Offset, map[string]string, error) {
	parts, err := c.partitions(ctx, cl)
	if err != nil {
		return nil, nil, err
	}
	start := map[string]map[int32]kgo.Offset{}
	how := map[string]string{}
	var unknown map[string][]int32
	for tp, ps := range parts {
		start[tp] = map[int32]kgo.Offset{}
		for _, p := range ps {
			name := tp + "/" + strconv.Itoa(int(p))
			off, ok := pos[c.src.position(tp, p)]
			if s, seen := c.seen[c.src.position(tp, p)]; seen && (!ok || s > off) {
				off, ok = s, true
			}
			if ok {
				start[tp][p] = kgo.NewOffset().At(off + 1)
				how[name] = "state:" + strconv.FormatInt(off+1, 10)
				continue
			}
			if off, ok := c.src.StartAfter[tp]; ok {
				start[tp][p] = kgo.NewOffset().At(off + 1)
				how[name] = "topic.offsets.map:" + strconv.FormatInt(off+1, 10)
				continue
			}
			if unknown == nil {
				unknown = map[string][]int32{}
			}
			unknown[tp] = append(unknown[tp], p)
		}
	}
	if len(unknown) > 0 {
		committed, err := c.committed(ctx, cl, unknown)
		if err != nil {
			return nil, nil, err
		}
		for tp, ps := range unknown {
			for _, p := range ps {
				name := tp + "/" + strconv.Itoa(int(p))
				switch off, ok := committed[tp][p]; {
				case ok:
					start[tp][p] = kgo.NewOffset().At(off)
					how[name] = "group:" + strconv.FormatInt(off, 10)
				case c.src.Optional.Latest:
					start[tp][p] = kgo.NewOffset().AtEnd()
					how[name] = "latest"
				default:
					start[tp][p] = kgo.NewOffset().AtStart()
					how[name] = "earliest"
				}
			}
		}
	}
	return start, how, nil
}

// partitions lists the partitions to consume per topic: partition.no.list, or all of them.
func (c *Consumer) partitions(ctx context.Context, cl *kgo.Client) (map[string][]int32, error) {
	req := kmsg.NewPtrMetadataRequest()
	for _, tp := range c.src.Topics {
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(tp)
		req.Topics = append(req.Topics, rt)
	}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return nil, fmt.Errorf("kafka metadata: %w", err)
	}
	have := map[string]map[int32]bool{}
	for _, t := range resp.Topics {
		if t.Topic == nil {
			continue
		}
		if err := kerr.ErrorForCode(t.ErrorCode); err != nil {
			return nil, fmt.Errorf("kafka topic %s: %w", *t.Topic, err)
		}
		have[*t.Topic] = map[int32]bool{}
		for _, p := range t.Partitions {
			have[*t.Topic][p.Partition] = true
		}
	}
	out := map[string][]int32{}
	for _, tp := range c.src.Topics {
		if len(have[tp]) == 0 {
			return nil, fmt.Errorf("kafka topic %s: not found", tp)
		}
		if c.src.Partitions != nil {
			for _, p := range c.src.Partitions {
				if !have[tp][p] {
					return nil, fmt.Errorf("kafka topic %s has no partition %d (partition.no.list)", tp, p)
				}
			}
			out[tp] = append([]int32(nil), c.src.Partitions...)
			continue
		}
		for p := range have[tp] {
			out[tp] = append(out[tp], p)
		}
		sort.Slice(out[tp], func(i, j int) bool { return out[tp][i] < out[tp][j] })
	}
	return out, nil
}

// committed reads group.id's committed offsets of parts (missing: none committed).
func (c *Consumer) committed(ctx context.Context, cl *kgo.Client, parts map[string][]int32) (map[string]map[int32]int64, error) {
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Group = c.src.Group
	for tp, ps := range parts {
		rt := kmsg.NewOffsetFetchRequestTopic()
		rt.Topic, rt.Partitions = tp, ps
		req.Topics = append(req.Topics, rt)
	}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return nil, fmt.Errorf("kafka offset fetch for group %s: %w", c.src.Group, err)
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); errors.Is(err, kerr.GroupIDNotFound) {
		return nil, nil // nothing ever committed
	} else if err != nil {
		return nil, fmt.Errorf("kafka offset fetch for group %s: %w", c.src.Group, err)
	}
	out := map[string]map[int32]int64{}
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			if kerr.ErrorForCode(p.ErrorCode) != nil || p.Offset < 0 {
				continue
			}
			if out[t.Topic] == nil {
				out[t.Topic] = map[int32]int64{}
			}
			out[t.Topic][p.Partition] = p.Offset
		}
	}
	return out, nil
}

// inflight is a submitted batch and the offset after its last record, for the group commit.
type inflight struct {
	p         *ha.Pending
	topic     string
	partition int32
	next      int64
}

// poll reads records and submits them, one batch per partition and poll, in order. It blocks
// (does not poll) while the ingest path refuses or pending is full.
func (c *Consumer) poll(ctx context.Context, cl *kgo.Client, pending chan<- inflight) error {
	for {
		fs := cl.PollRecords(ctx, c.cfg.MaxPoll)
		if ctx.Err() != nil || fs.IsClientClosed() {
			return nil
		}
		for _, fe := range fs.Errors() {
			if errors.Is(fe.Err, context.Canceled) {
				return nil
			}
			// franz-go retries what is retriable by itself; the rest needs a new session.
			if !kerr.IsRetriable(fe.Err) {
				return fmt.Errorf("kafka fetch %s/%d: %w", fe.Topic, fe.Partition, fe.Err)
			}
			c.log.Warn("kafka fetch error; retrying", "topic", fe.Topic, "partition", fe.Partition, "err", fe.Err)
		}
		var err error
		fs.EachPartition(func(p kgo.FetchTopicPartition) {
			if err != nil || len(p.Records) == 0 {
				return
			}
			err = c.submitChunks(ctx, p.Topic, p.Partition, p.Records, pending)
		})
		if err != nil {
			return err
		}
	}
}

// submitChunks submits a partition's records of one poll in runs whose events stay under
// MaxBatchEvents (a record's events are never split).
func (c *Consumer) submitChunks(ctx context.Context, topic string, partition int32, recs []*kgo.Record, pending chan<- inflight) error {
	for len(recs) > 0 {
		n, events := 0, 0
		for n < len(recs) {
			k := c.src.mapper.Count(recs[n].Value)
			if n > 0 && events+k > c.cfg.MaxBatchEvents {
				break
			}
			events += k
			n++
		}
		if err := c.submitPartition(ctx, topic, partition, recs[:n], pending); err != nil {
			return err
		}
		recs = recs[n:]
	}
	return nil
}

// submitPartition maps one partition's records and submits the events as one batch keyed by
// the last record's position; records that do not map are stored as rejected first.
func (c *Consumer) submitPartition(ctx context.Context, topic string, partition int32, recs []*kgo.Record, pending chan<- inflight) error {
	var events []ha.Event
	var rejected []Rejected
	for _, r := range recs {
		evs, err := c.src.mapper.Decode(r.Value)
		if err == nil && len(evs) > c.cfg.MaxBatchEvents {
			err = fmt.Errorf("%d events in one record, over max_events_per_request (%d)", len(evs), c.cfg.MaxBatchEvents)
		}
		if err == nil {
			events = append(events, evs...)
			continue
		}
		rejected = append(rejected, Rejected{App: c.src.App, Stream: c.src.Stream, Topic: topic, Partition: partition,
			Offset: r.Offset, Key: r.Key, Value: r.Value, Err: err.Error(), Time: time.Now()})
	}
	last := recs[len(recs)-1].Offset
	defer func() { c.seen[c.src.position(topic, partition)] = last }()
	if len(rejected) > 0 {
		if err := c.storeRejected(ctx, rejected); err != nil {
			return err
		}
	}
	if c.cfg.OnRecords != nil {
		c.cfg.OnRecords(c.src.App, c.src.Stream, len(recs), len(rejected))
	}
	if len(events) == 0 {
		// Nothing to apply: the state's position stays before these records, so a promotion
		// may read (and store) them again; they are never applied.
		return nil
	}
	key := ha.PositionKey(c.src.position(topic, partition), last)
	wait := c.cfg.Retry
	for {
		p, err := c.node.Submit(c.src.App, c.src.Stream, events, key)
		switch {
		case err == nil:
			select {
			case pending <- inflight{p: p, topic: topic, partition: partition, next: last + 1}:
				return nil
			case <-ctx.Done():
				// Still waited for (the node counts batches in flight): the waiter drains.
				pending <- inflight{p: p, topic: topic, partition: partition, next: last + 1}
				return nil
			}
		case errors.Is(err, ha.ErrBacklog):
			// Back-pressure: the sinks are behind. Nothing was applied; this poll loop waits.
		case errors.Is(err, ha.ErrBadEvent):
			return c.submitOneByOne(ctx, topic, partition, recs, pending)
		default:
			return err // not active (the manager stops us), or a bug worth a new session
		}
		if !sleep(ctx, wait) {
			return nil
		}
		wait = min(2*wait, time.Second)
	}
}

// submitOneByOne is the rare path of a batch the node refused as bad: each record is submitted
// alone, and those refused are stored as rejected.
func (c *Consumer) submitOneByOne(ctx context.Context, topic string, partition int32, recs []*kgo.Record, pending chan<- inflight) error {
	for _, r := range recs {
		evs, err := c.src.mapper.Decode(r.Value)
		if err != nil {
			continue // stored already
		}
		key := ha.PositionKey(c.src.position(topic, partition), r.Offset)
		p, err := c.node.Submit(c.src.App, c.src.Stream, evs, key)
		if errors.Is(err, ha.ErrBadEvent) {
			if err := c.storeRejected(ctx, []Rejected{{App: c.src.App, Stream: c.src.Stream, Topic: topic, Partition: partition,
				Offset: r.Offset, Key: r.Key, Value: r.Value, Err: err.Error(), Time: time.Now()}}); err != nil {
				return err
			}
			if c.cfg.OnRecords != nil {
				c.cfg.OnRecords(c.src.App, c.src.Stream, 0, 1)
			}
			continue
		}
		if err != nil {
			return err
		}
		pending <- inflight{p: p, topic: topic, partition: partition, next: r.Offset + 1}
	}
	return nil
}

// storeRejected stores rejected records, retrying until stored: consumption waits rather than
// lose one.
func (c *Consumer) storeRejected(ctx context.Context, rs []Rejected) error {
	for _, r := range rs {
		c.log.Warn("kafka record does not map to the stream; stored as rejected", "topic", r.Topic, "partition", r.Partition, "offset", r.Offset, "err", r.Err)
	}
	if c.cfg.Rejects == nil {
		return errors.New("no store for rejected records")
	}
	wait := c.cfg.Retry
	for {
		err := c.cfg.Rejects.Store(ctx, rs)
		if err == nil {
			return nil
		}
		c.log.Error("cannot store rejected kafka records; consumption waits", "err", err)
		if !sleep(ctx, wait) {
			return ctx.Err()
		}
		wait = min(2*wait, 5*time.Second)
	}
}

// waiter waits for each submitted batch to be safe, in order, and commits the offsets after
// the safe ones to group.id (lag monitoring only) every commitEvery.
func (c *Consumer) waiter(ctx context.Context, cl *kgo.Client, pending <-chan inflight) {
	commit := map[string]map[int32]int64{}
	tick := time.NewTicker(commitEvery)
	defer tick.Stop()
	for {
		select {
		case in, ok := <-pending:
			if !ok {
				if len(commit) > 0 && ctx.Err() == nil {
					c.commit(ctx, cl, commit)
				}
				return
			}
			if _, err := in.p.Wait(ctx); err != nil {
				// Applied but not acknowledged: the state has it (its position moved), so it
				// is not read again while this node serves; a promoted passive without it
				// reads it again.
				if ctx.Err() == nil {
					c.log.Warn("kafka batch applied but not acknowledged as safe", "topic", in.topic, "partition", in.partition, "err", err)
				}
				continue
			}
			if c.src.Commit {
				if commit[in.topic] == nil {
					commit[in.topic] = map[int32]int64{}
				}
				commit[in.topic][in.partition] = in.next
			}
		case <-tick.C:
			if len(commit) > 0 && ctx.Err() == nil {
				c.commit(ctx, cl, commit)
				commit = map[string]map[int32]int64{}
			}
		}
	}
}

// commitEvery spaces the group commits.
const commitEvery = time.Second

// commit writes offsets to group.id as a simple (generation -1) commit; failures are logged
// only: the group's offsets are never the source of truth.
func (c *Consumer) commit(ctx context.Context, cl *kgo.Client, offs map[string]map[int32]int64) {
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Group, req.Generation = c.src.Group, -1
	for tp, ps := range offs {
		rt := kmsg.NewOffsetCommitRequestTopic()
		rt.Topic = tp
		for p, off := range ps {
			rp := kmsg.NewOffsetCommitRequestTopicPartition()
			rp.Partition, rp.Offset, rp.LeaderEpoch = p, off, -1
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
	}
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	resp, err := req.RequestWith(cctx, cl)
	if err == nil {
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				if e := kerr.ErrorForCode(p.ErrorCode); e != nil && err == nil {
					err = fmt.Errorf("%s/%d: %w", t.Topic, p.Partition, e)
				}
			}
		}
	}
	if err != nil && ctx.Err() == nil {
		c.log.Warn("kafka offset commit for lag monitoring failed", "group", c.src.Group, "err", err)
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
