package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamha/streamha/internal/hatest"
	"github.com/streamha/streamha/internal/kafkatest"
	"github.com/streamha/streamha/internal/pgtest"
)

// kafkaApp reads topic in and writes topic out; the brokers and the partitions of each pair
// come from the environment (${…} in option values).
const kafkaApp = `@app:name('KF')
@source(type='kafka', bootstrap.servers='${KAFKA_BROKERS}', topic.list='in', group.id='streamha-kf',
  threading.option='single.thread', partition.no.list='${KAFKA_PARTITIONS}', @map(type='json'))
define stream In (id long, v double);
@sink(type='kafka', bootstrap.servers='${KAFKA_BROKERS}', topic='out', key='{{id}}', @map(type='json'))
define stream Out (id long, v double);
from In[v >= 0] select id, v insert into Out;
`

// kafkaPair starts a pair of node processes of group reading partitions of in.
func kafkaPair(t *testing.T, kc *kfake.Cluster, dbURL, group, partitions string) *hatest.Cluster {
	t.Helper()
	apps := t.TempDir()
	if err := os.WriteFile(filepath.Join(apps, "kf.siddhi"), []byte(kafkaApp), 0o644); err != nil {
		t.Fatal(err)
	}
	return startClusterPair(t, hatest.Options{
		Bin: nodeBin, Dir: t.TempDir(), N: 2, AppsDir: apps, ClusterDB: dbURL,
		Extra: []string{"--persist_interval", "1s", "--group", group},
		Env:   []string{"KAFKA_BROKERS=" + strings.Join(kc.ListenAddrs(), ","), "KAFKA_PARTITIONS=" + partitions},
	})
}

// producer writes numbered records {"id":n,"v":1} to in, spread over its partitions, until
// stopped; produced holds the ids the broker acknowledged.
type producer struct {
	mu       sync.Mutex
	produced map[int64]bool
	n        atomic.Int64
}

func (p *producer) run(ctx context.Context, t *testing.T, kc *kfake.Cluster, partitions int32) {
	cl, err := kafkatest.Producer(kc)
	if err != nil {
		t.Error(err)
		return
	}
	defer cl.Close()
	tick := time.NewTicker(10 * time.Millisecond) // load shaping: about 2,000 records/s
	defer tick.Stop()
	next := int64(1)
	for ctx.Err() == nil {
		var rs []*kgo.Record
		for i := 0; i < 20; i++ {
			rs = append(rs, &kgo.Record{Topic: "in", Partition: int32(next % int64(partitions)),
				Value: []byte(fmt.Sprintf(`{"id":%d,"v":1}`, next))})
			next++
		}
		if err := cl.ProduceSync(context.Background(), rs...).FirstErr(); err != nil {
			t.Errorf("produce: %v", err)
			return
		}
		p.mu.Lock()
		for _, r := range rs {
			var v struct{ ID int64 }
			_ = json.Unmarshal(r.Value, &v)
			p.produced[v.ID] = true
		}
		p.mu.Unlock()
		p.n.Add(int64(len(rs)))
		select {
		case <-ctx.Done():
		case <-tick.C:
		}
	}
}

// outReader reads topic out as a consumer should (read_committed) and checks as it goes: per
// partition, a record's term never falls below one seen before (no output of a deposed term
// after its successor's), and each input id is applied once (its outputs all carry one input
// sequence; the same output id may repeat).
type outReader struct {
	mu     sync.Mutex
	seqs   map[int64]map[string]bool // input id → "<group>/<input seq>" of its outputs
	lines  int
	dupIDs int
	ids    map[string]bool  // "<group>/<output id>"
	newest map[string]int64 // newest term per "<group>/<partition>"

	deposed []string
	n       atomic.Int64
}

func (o *outReader) run(ctx context.Context, t *testing.T, kc *kfake.Cluster) {
	cl, err := kafkatest.Reader(kc)
	if err != nil {
		t.Error(err)
		return
	}
	defer cl.Close()
	for ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		fs.EachRecord(func(r *kgo.Record) {
			out, err := kafkatest.ParseOutput(r)
			if err != nil {
				t.Error(err)
			}
			id, tm, group := out.ID, out.Term, out.Group
			o.mu.Lock()
			o.lines++
			if o.ids[group+"/"+id] {
				o.dupIDs++
			}
			o.ids[group+"/"+id] = true
			gp := group + "/" + strconv.Itoa(int(r.Partition))
			if tm < o.newest[gp] {
				o.deposed = append(o.deposed, fmt.Sprintf("group %s term %d output %s after term %d", group, tm, id, o.newest[gp]))
			}
			o.newest[gp] = max(o.newest[gp], tm)
			if out.InputSeq != "" {
				if o.seqs[out.EventID] == nil {
					o.seqs[out.EventID] = map[string]bool{}
				}
				o.seqs[out.EventID][group+"/"+out.InputSeq] = true
			}
			o.mu.Unlock()
			o.n.Add(1)
		})
	}
}

func newOutReader() *outReader {
	return &outReader{seqs: map[int64]map[string]bool{}, ids: map[string]bool{}, newest: map[string]int64{}}
}

// verdict compares the outputs with the produced ids: lost (no output), applied twice.
func (o *outReader) verdict(p *producer) (lost, twice int, summary string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	o.mu.Lock()
	defer o.mu.Unlock()
	for id := range p.produced {
		if o.seqs[id] == nil {
			lost++
		}
	}
	for _, s := range o.seqs {
		if len(s) > 1 {
			twice++
		}
	}
	return lost, twice, fmt.Sprintf("produced=%d output_lines=%d duplicate_output_ids=%d lost=%d applied_twice=%d deposed_term_outputs=%d",
		len(p.produced), o.lines, o.dupIDs, lost, twice, len(o.deposed))
}

func waitGrow(t *testing.T, what string, n *atomic.Int64, more int64) {
	t.Helper()
	target := n.Load() + more
	deadline := time.Now().Add(60 * time.Second)
	for n.Load() < target {
		if time.Now().After(deadline) {
			t.Fatalf("%s stalled at %d (want %d)", what, n.Load(), target)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// kafkaLoad is a producer of numbered records into topic in (4 partitions) and a reader of
// topic out, running until the test ends.
type kafkaLoad struct {
	prod          *producer
	out           *outReader
	stopProducing context.CancelFunc
}

// startKafkaLoad starts the producer and the reader; the test's cleanup stops both and waits.
func startKafkaLoad(t *testing.T, kc *kfake.Cluster) *kafkaLoad {
	ctx, stop := context.WithCancel(context.Background())
	pctx, stopProducing := context.WithCancel(ctx)
	l := &kafkaLoad{prod: &producer{produced: map[int64]bool{}}, out: newOutReader(), stopProducing: stopProducing}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); l.prod.run(pctx, t, kc, 4) }()
	go func() { defer wg.Done(); l.out.run(ctx, t, kc) }()
	t.Cleanup(func() { stop(); wg.Wait() })
	return l
}

// finish stops producing and checks that every produced record has its output (waitAll).
func (l *kafkaLoad) finish(t *testing.T) {
	t.Helper()
	l.stopProducing()
	waitAll(t, l.out, l.prod)
}

// waitAll waits until every produced id has an output, then checks the verdict.
func waitAll(t *testing.T, out *outReader, p *producer) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		lost, twice, summary := out.verdict(p)
		if lost == 0 || time.Now().After(deadline) {
			t.Log(summary)
			out.mu.Lock()
			deposed := append([]string(nil), out.deposed...)
			out.mu.Unlock()
			if lost+twice+len(deposed) != 0 {
				t.Fatalf("records lost or applied twice, or outputs of a deposed term: %s %v", summary, deposed)
			}
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestKafkaExactlyOnceAcrossFailovers: a pair fed by a Kafka topic of 4 partitions and writing
// to another, while a producer writes numbered records. The active is SIGKILLed, then
// SIGSTOPped (frozen past its lease, then woken: it must demote and rejoin), twice each way.
// Every produced record has its output, none is applied twice (all outputs of an input carry
// one input sequence), and no output of a deposed term follows one of its successor. Shown to
// fail (records applied twice) by resuming every partition at the group's committed offset
// instead of the state's position.
func TestKafkaExactlyOnceAcrossFailovers(t *testing.T) {
	url := pgtest.Shared(t).NewDatabase(t)
	kc, err := kafkatest.NewCluster(4)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kc.Close)
	c := kafkaPair(t, kc, url, "kf", "0,1,2,3")
	ctx := context.Background()
	load := startKafkaLoad(t, kc)
	out := load.out
	for round := 0; round < 4; round++ {
		waitGrow(t, "outputs", &out.n, 300)
		old := c.Active()
		if old == nil {
			t.Fatalf("round %d: no active", round)
		}
		if round%2 == 0 {
			if err := old.Kill(); err != nil {
				t.Fatal(err)
			}
			if _, err := c.WaitActive(ctx, 30*time.Second, old); err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
			waitGrow(t, "outputs after the kill", &out.n, 300)
			if err := old.Start(); err != nil {
				t.Fatal(err)
			}
		} else {
			if err := old.Pause(); err != nil {
				t.Fatal(err)
			}
			if _, err := c.WaitActive(ctx, 30*time.Second, old); err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
			waitGrow(t, "outputs after the freeze", &out.n, 300)
			if err := old.Resume(); err != nil {
				t.Fatal(err)
			}
		}
		if err := c.WaitPeerConnected(ctx, 30*time.Second); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
	}
	load.finish(t)
}

// TestKafkaScaleOutPairs: two pairs (cluster groups) on one cluster database share a topic of
// 4 partitions, each with its own partition.no.list (0,1 and 2,3, through ${KAFKA_PARTITIONS}).
// Every record has exactly one output; the active of one pair is killed meanwhile without
// touching the other; each pair consumed only its partitions.
func TestKafkaScaleOutPairs(t *testing.T) {
	url := pgtest.Shared(t).NewDatabase(t)
	kc, err := kafkatest.NewCluster(4)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kc.Close)
	p1 := kafkaPair(t, kc, url, "kf-1", "0,1")
	p2 := kafkaPair(t, kc, url, "kf-2", "2,3")
	ctx := context.Background()
	load := startKafkaLoad(t, kc)
	out := load.out
	waitGrow(t, "outputs", &out.n, 500)
	old := p1.Active()
	if err := old.Kill(); err != nil {
		t.Fatal(err)
	}
	if _, err := p1.WaitActive(ctx, 30*time.Second, old); err != nil {
		t.Fatal(err)
	}
	waitGrow(t, "outputs after the kill", &out.n, 500)
	load.finish(t)
	// Each pair's state holds positions of its own partitions only.
	for _, pc := range []struct {
		c    *hatest.Cluster
		want []string
	}{{p1, []string{"0", "1"}}, {p2, []string{"2", "3"}}} {
		st, err := pc.c.Active().Status()
		if err != nil {
			t.Fatal(err)
		}
		apps, _ := st["apps"].(map[string]any)
		kf, _ := apps["KF"].(map[string]any)
		pos, _ := kf["source_positions"].(map[string]any)
		var got []string
		for k := range pos {
			got = append(got, strings.TrimPrefix(k, "kafka:In/in/"))
		}
		sort.Strings(got)
		if strings.Join(got, ",") != strings.Join(pc.want, ",") {
			t.Fatalf("group %v: positions %v, want partitions %v", st["group"], pos, pc.want)
		}
	}
}
