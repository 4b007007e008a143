package kafkasource

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/streamha/streamha/node/cluster"
	"github.com/streamha/streamha/node/config"
	"github.com/streamha/streamha/node/engine"
	"github.com/streamha/streamha/node/ha"
	"github.com/streamha/streamha/node/kafkaconf"
	"github.com/streamha/streamha/node/sink"
	"github.com/streamha/streamha/node/store"
)

const testApp = `@app:name('K')
@source(type='kafka', bootstrap.servers='%s', topic.list='in', group.id='g1', threading.option='single.thread',
  %s @map(type='json'))
define stream Orders (id long, qty int);
@sink(type='file', path='out.jsonl')
define stream Out (id long, qty int);
from Orders select id, qty insert into Out;
`

func compile(t *testing.T, src string) *engine.App {
	t.Helper()
	a, err := engine.Compile("k.siddhi", src)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func source(t *testing.T, a *engine.App) *Source {
	t.Helper()
	def, _ := a.Stream("Orders")
	s, err := Check(a.Name(), def, def.Sources[0])
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// node is one HA node in the test process, on embedded SQLite, with its own output directory.
type node struct {
	n      *ha.Node
	out    string
	cancel context.CancelFunc
	done   chan struct{}
}

func startNode(t *testing.T, dbURL, id string, app *engine.App, tune ...func(*config.Config)) *node {
	t.Helper()
	db, err := store.Open(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	syncLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tok := make([]byte, 24)
	_, _ = rand.Read(tok)
	c := config.Default()
	c.NodeID, c.AuthToken, c.PersistInterval = id, hex.EncodeToString(tok), time.Hour
	for _, f := range tune {
		f(&c)
	}
	sc := sink.DefaultConfig()
	sc.BaseDir = t.TempDir()
	n, err := ha.New(ha.Options{
		Config: c, Apps: []*engine.App{app}, Cluster: db, Snapshots: db, Registry: prometheus.NewRegistry(), Sinks: sc,
		Logger: slog.New(slog.DiscardHandler), SyncListener: syncLn,
		Node: cluster.NodeInfo{Group: c.Group, NodeID: id, Properties: map[string]string{cluster.PropSyncAddr: syncLn.Addr().String()}},
	})
	if err != nil {
		t.Fatal(err)
	}
	p := &node{n: n, out: sc.BaseDir, done: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	go func() { defer close(p.done); n.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-p.done })
	waitFor(t, id+" active", func() bool { _, ok := n.Runner().Serving(); return ok })
	return p
}

func (p *node) term() int64 { t, _ := p.n.Runner().Serving(); return t }

// outputs reads the ids of the file sink's outputs.
func (p *node) outputs(t *testing.T) []int64 {
	t.Helper()
	f, err := os.Open(filepath.Join(p.out, "out.jsonl"))
	if err != nil {
		return nil
	}
	defer f.Close()
	var ids []int64
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var o struct {
			Data struct{ ID int64 } `json:"data"`
		}
		if err := json.Unmarshal(sc.Bytes(), &o); err != nil {
			t.Fatalf("output line %q: %v", sc.Text(), err)
		}
		ids = append(ids, o.Data.ID)
	}
	return ids
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func newCluster(t *testing.T, partitions int32, topics ...string) *kfake.Cluster {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(partitions, topics...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func produce(t *testing.T, c *kfake.Cluster, topic string, partition int32, values ...string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var rs []*kgo.Record
	for _, v := range values {
		rs = append(rs, &kgo.Record{Topic: topic, Partition: partition, Value: []byte(v)})
	}
	if err := cl.ProduceSync(context.Background(), rs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

func commitGroup(t *testing.T, c *kfake.Cluster, group, topic string, partition int32, offset int64) {
	t.Helper()
	cl, err := kgo.NewClient(kafkaconf.ClientOpts(c.ListenAddrs(), kafkaconf.Optional{}, "test")...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Group, req.Generation = group, -1
	rt := kmsg.NewOffsetCommitRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewOffsetCommitRequestTopicPartition()
	rp.Partition, rp.Offset, rp.LeaderEpoch = partition, offset, -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	if _, err := req.RequestWith(context.Background(), cl); err != nil {
		t.Fatal(err)
	}
}

// groupOffset reads group's committed offset of topic/partition (-1: none).
func groupOffset(t *testing.T, c *kfake.Cluster, group, topic string, partition int32) int64 {
	t.Helper()
	cl, err := kgo.NewClient(kafkaconf.ClientOpts(c.ListenAddrs(), kafkaconf.Optional{}, "test")...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Group = group
	rt := kmsg.NewOffsetFetchRequestTopic()
	rt.Topic, rt.Partitions = topic, []int32{partition}
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(context.Background(), cl)
	if err != nil {
		t.Fatal(err)
	}
	for _, tp := range resp.Topics {
		for _, p := range tp.Partitions {
			if tp.Topic == topic && p.Partition == partition {
				return p.Offset
			}
		}
	}
	return -1
}

func orders(from, to int) []string {
	var out []string
	for i := from; i <= to; i++ {
		out = append(out, fmt.Sprintf(`{"id":%d,"qty":1}`, i))
	}
	return out
}

// TestMappingAndRejectedRecords: records in Siddhi's JSON forms are applied in partition order;
// records that do not map (malformed JSON, unknown attribute, wrong type) are not applied, are
// counted and stored with their topic, partition, offset and error, and the state's position
// reaches the last record read.
func TestMappingAndRejectedRecords(t *testing.T) {
	kc := newCluster(t, 1, "in")
	app := compile(t, fmt.Sprintf(testApp, kc.ListenAddrs()[0], ""))
	nd := startNode(t, "sqlite://"+filepath.Join(t.TempDir(), "ha.db"), "a", app)
	produce(t, kc, "in", 0,
		`{"id":1,"qty":1}`,
		`{"event":{"id":2,"qty":2}}`,
		`{"id":3,`,                  // offset 2: malformed
		`{"id":4,"qty":1,"x":true}`, // offset 3: unknown attribute
		`[{"id":5,"qty":1},{"id":6,"qty":1}]`,
		`{"id":"seven","qty":1}`, // offset 5: wrong type
	)
	rejects := &FileRejects{Path: filepath.Join(t.TempDir(), "rejected.jsonl")}
	var consumed, rejected int
	done := make(chan struct{}, 16)
	c := NewConsumer(source(t, app), nd.n, Config{NodeID: "a", Rejects: rejects, OnRecords: func(_, _ string, c, r int) {
		consumed += c
		rejected += r
		done <- struct{}{}
	}})
	c.Start(nd.term())
	defer c.Stop()
	waitFor(t, "outputs 1,2,5,6", func() bool { return len(nd.outputs(t)) >= 4 })
	if got := fmt.Sprint(nd.outputs(t)); got != "[1 2 5 6]" {
		t.Fatalf("outputs %s, want [1 2 5 6]", got)
	}
	pos, err := nd.n.Positions("K", nd.term(), "kafka:")
	if err != nil || pos["kafka:Orders/in/0"] != 5 {
		t.Fatalf("positions %v %v, want kafka:Orders/in/0 at 5 (the last record read)", pos, err)
	}
	c.Stop()
	if consumed != 6 || rejected != 3 {
		t.Fatalf("consumed %d rejected %d, want 6 and 3", consumed, rejected)
	}
	b, err := os.ReadFile(rejects.Path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 3 {
		t.Fatalf("rejected records file:\n%s", b)
	}
	for i, off := range []int64{2, 3, 5} {
		var l rejectLine
		if err := json.Unmarshal([]byte(lines[i]), &l); err != nil {
			t.Fatal(err)
		}
		if l.Topic != "in" || l.Partition != 0 || l.Offset != off || l.Error == "" || l.Value == "" || l.App != "K" {
			t.Fatalf("rejected line %d = %+v, want offset %d with its value and error", i, l, off)
		}
	}
}

// TestResumesFromTheStateNotTheGroup: the group's committed offset is behind (records 1-10 read
// before, group says 3) and ahead (another partition, group at 50 while the state has applied
// nothing past 4): a restarted source resumes each partition right after the last record the
// state has applied. A partition the state has never seen starts at the group's offset. The
// applied offsets are committed to the group afterwards, for lag monitoring. Shown to fail by
// starting every partition at the group's committed offset when it has one (records 4-10
// applied twice, and 5-9 of partition 1 skipped).
func TestResumesFromTheStateNotTheGroup(t *testing.T) {
	kc := newCluster(t, 3, "in")
	app := compile(t, fmt.Sprintf(testApp, kc.ListenAddrs()[0], ""))
	nd := startNode(t, "sqlite://"+filepath.Join(t.TempDir(), "ha.db"), "a", app)
	produce(t, kc, "in", 0, orders(1, 10)...)
	produce(t, kc, "in", 1, orders(101, 105)...)
	src := source(t, app)
	c := NewConsumer(src, nd.n, Config{NodeID: "a", Rejects: &FileRejects{Path: filepath.Join(t.TempDir(), "r.jsonl")}})
	c.Start(nd.term())
	waitFor(t, "15 outputs", func() bool { return len(nd.outputs(t)) >= 15 })
	c.Stop()
	commitGroup(t, kc, "g1", "in", 0, 3)
	commitGroup(t, kc, "g1", "in", 1, 50)
	commitGroup(t, kc, "g1", "in", 2, 2) // never seen by the state: starts here
	produce(t, kc, "in", 0, orders(11, 12)...)
	produce(t, kc, "in", 1, orders(106, 109)...)
	produce(t, kc, "in", 2, orders(200, 204)...) // 200, 201 skipped (group at 2)
	c = NewConsumer(src, nd.n, Config{NodeID: "a", Rejects: &FileRejects{Path: filepath.Join(t.TempDir(), "r.jsonl")}})
	c.Start(nd.term())
	defer c.Stop()
	want := 15 + 2 + 4 + 3
	waitFor(t, fmt.Sprintf("%d outputs", want), func() bool { return len(nd.outputs(t)) >= want })
	seen := map[int64]int{}
	for _, id := range nd.outputs(t) {
		seen[id]++
	}
	for id, n := range seen {
		if n > 1 {
			t.Errorf("record %d applied %d times", id, n)
		}
	}
	for _, id := range []int64{12, 106, 109, 202, 204} {
		if seen[id] != 1 {
			t.Errorf("record %d applied %d times, want once", id, seen[id])
		}
	}
	if seen[200]+seen[201] != 0 {
		t.Errorf("records before the group's offset of a partition the state never saw were applied")
	}
	if len(nd.outputs(t)) != want {
		t.Fatalf("%d outputs, want %d", len(nd.outputs(t)), want)
	}
	waitFor(t, "group offsets committed for lag", func() bool {
		return groupOffset(t, kc, "g1", "in", 0) == 12 && groupOffset(t, kc, "g1", "in", 1) == 9
	})
}

// TestCheckOptions: options are Siddhi's; anything else is an error naming it, and ${NAME}
// takes the environment's value.
func TestCheckOptions(t *testing.T) {
	t.Setenv("KAFKA_TEST_BROKERS", "b1:9092,b2:9092")
	ok := fmt.Sprintf(testApp, "${KAFKA_TEST_BROKERS}", "partition.no.list='0,2', topic.offsets.map='in=41', optional.configuration='security.protocol:SSL',")
	s := source(t, compile(t, ok))
	if strings.Join(s.Brokers, " ") != "b1:9092 b2:9092" || fmt.Sprint(s.Partitions) != "[0 2]" || s.StartAfter["in"] != 41 || !s.Optional.TLS {
		t.Fatalf("source = %+v", s)
	}
	for _, tc := range []struct{ opts, want string }{
		{"seq.enabled='true',", `unknown option "seq.enabled"`},
		{"partition.no.list='0,x',", `partition.no.list: "x"`},
		{"topic.offsets.map='other=3',", "topic.offsets.map"},
		{"optional.configuration='fetch.max.bytes:1',", `key "fetch.max.bytes" is not supported`},
		{"enable.offsets.commit='maybe',", "enable.offsets.commit"},
	} {
		a := compile(t, fmt.Sprintf(testApp, "b:9092", tc.opts))
		def, _ := a.Stream("Orders")
		if _, err := Check("K", def, def.Sources[0]); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want it to say %q", tc.opts, err, tc.want)
		}
	}
	a := compile(t, fmt.Sprintf(testApp, "${KAFKA_TEST_UNSET_VAR}", ""))
	def, _ := a.Stream("Orders")
	if _, err := Check("K", def, def.Sources[0]); err == nil || !strings.Contains(err.Error(), "KAFKA_TEST_UNSET_VAR") {
		t.Errorf("unset variable: %v", err)
	}
	missing := strings.Replace(fmt.Sprintf(testApp, "b:9092", ""), "threading.option='single.thread',", "", 1)
	a = compile(t, missing)
	def, _ = a.Stream("Orders")
	if _, err := Check("K", def, def.Sources[0]); err == nil || !strings.Contains(err.Error(), "threading.option") {
		t.Errorf("missing threading.option: %v", err)
	}
}

// TestBatchesStayUnderTheEventLimit: a poll's records are submitted in batches under the node's
// max_events_per_request, and a record mapping to more events than that is rejected, not
// retried forever. Shown to fail by submitting each partition's poll as one batch (the node
// refuses it as too large and the source reopens in a loop: no output).
func TestBatchesStayUnderTheEventLimit(t *testing.T) {
	kc := newCluster(t, 1, "in")
	app := compile(t, fmt.Sprintf(testApp, kc.ListenAddrs()[0], ""))
	nd := startNode(t, "sqlite://"+filepath.Join(t.TempDir(), "ha.db"), "a", app, func(c *config.Config) { c.MaxEventsPerRequest = 3 })
	recs := orders(1, 10)
	recs = append(recs, `[{"id":11,"qty":1},{"id":12,"qty":1},{"id":13,"qty":1},{"id":14,"qty":1}]`)
	recs = append(recs, `[{"id":15,"qty":1},{"id":16,"qty":1}]`)
	produce(t, kc, "in", 0, recs...)
	rejects := &FileRejects{Path: filepath.Join(t.TempDir(), "rejected.jsonl")}
	c := NewConsumer(source(t, app), nd.n, Config{NodeID: "a", Rejects: rejects, MaxBatchEvents: 3})
	c.Start(nd.term())
	defer c.Stop()
	waitFor(t, "12 outputs", func() bool { return len(nd.outputs(t)) >= 12 })
	if got := fmt.Sprint(nd.outputs(t)); got != "[1 2 3 4 5 6 7 8 9 10 15 16]" {
		t.Fatalf("outputs %s", got)
	}
	waitFor(t, "the 4-event record rejected", func() bool {
		b, _ := os.ReadFile(rejects.Path)
		return strings.Contains(string(b), `"offset":10`) && strings.Contains(string(b), "max_events_per_request")
	})
}

// TestRejectedRecordsGoToTheErrorStore: with the node's error store, a record that does not map
// is a "source" row of ha_error (endpoint kafka, ref topic/partition/offset, the raw value and
// the error), and storing it again (a new active reading it after a failover) updates that row
// instead of adding one.
func TestRejectedRecordsGoToTheErrorStore(t *testing.T) {
	kc := newCluster(t, 1, "in")
	app := compile(t, fmt.Sprintf(testApp, kc.ListenAddrs()[0], ""))
	nd := startNode(t, "sqlite://"+filepath.Join(t.TempDir(), "ha.db"), "a", app)
	produce(t, kc, "in", 0, `{"id":1,"qty":1}`, `not json`)
	rejects := &StoreRejects{Node: nd.n}
	c := NewConsumer(source(t, app), nd.n, Config{NodeID: "a", Rejects: rejects})
	c.Start(nd.term())
	defer c.Stop()
	ctx := context.Background()
	var rows []store.ErrorRecord
	waitFor(t, "the rejected record in the error store", func() bool {
		var err error
		rows, err = nd.n.ListErrors(ctx, store.ErrorFilter{Kind: store.ErrorSource})
		if err != nil {
			t.Fatal(err)
		}
		return len(rows) > 0
	})
	r := rows[0]
	if len(rows) != 1 || r.App != "K" || r.Stream != "Orders" || r.Endpoint != "kafka" || r.Ref != "in/0/1" ||
		string(r.Payload) != "not json" || !strings.Contains(r.Error, "malformed JSON") {
		t.Fatalf("error store rows = %+v", rows)
	}
	if err := rejects.Store(ctx, []Rejected{{App: "K", Stream: "Orders", Topic: "in", Partition: 0, Offset: 1,
		Value: []byte("not json"), Err: "again", Time: time.Now()}}); err != nil {
		t.Fatal(err)
	}
	rows, _ = nd.n.ListErrors(ctx, store.ErrorFilter{Kind: store.ErrorSource})
	if len(rows) != 1 || rows[0].Attempts != 2 {
		t.Fatalf("after storing it again: %+v", rows)
	}
}
