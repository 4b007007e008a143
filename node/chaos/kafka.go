package chaos

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamha/streamha/internal/hatest"
	"github.com/streamha/streamha/internal/kafkatest"
)

// Sources the suite can feed the pair from (Config.Source).
const (
	SourceHTTP  = "http"  // numbered OrderStream events POSTed to the active (the demo app)
	SourceKafka = "kafka" // numbered records produced to an in-process Kafka cluster
)

// kafkaPartitions is the input topic's partition count; the output topic has 2.
const kafkaPartitions = 4

// kafkaApp reads topic in, filters, and writes topic out with the transactional Kafka sink.
const kafkaApp = `@app:name('KF')
@source(type='kafka', bootstrap.servers='${KAFKA_BROKERS}', topic.list='in', group.id='streamha-chaos',
  threading.option='single.thread', partition.no.list='0,1,2,3', @map(type='json'))
define stream In (id long, v double);
@sink(type='kafka', bootstrap.servers='${KAFKA_BROKERS}', topic='out', key='{{id}}', @map(type='json'))
define stream Out (id long, v double);
from In[v >= 0] select id, v insert into Out;
`

// kafkaPos is where the broker stored a produced record.
type kafkaPos struct {
	Partition int32
	Offset    int64
}

// KafkaLoad is the Kafka-fed run's load and observer: a kfake cluster in this process, a
// producer of numbered records at a steady rate, and a read_committed reader of the output
// topic that checks as it goes.
type KafkaLoad struct {
	Cluster *kfake.Cluster

	mu       sync.Mutex
	produced map[int64]kafkaPos // acknowledged: produced and committed by the broker
	prodErr  error
	// Output side.
	seqs    map[int64]map[string]bool // input id → input sequences of its outputs
	outIDs  map[string]bool           // output ids seen
	newest  map[int32]int64           // newest term seen per output partition
	lines   int
	dupIDs  int
	deposed []string
	arrived []hatest.AckRecord // one per non-empty fetch: when outputs reached the reader
	outputs atomic.Int64
}

// newKafkaLoad starts the cluster with topics in (4 partitions) and out (2).
func newKafkaLoad() (*KafkaLoad, error) {
	kc, err := kafkatest.NewCluster(kafkaPartitions)
	if err != nil {
		return nil, err
	}
	return &KafkaLoad{Cluster: kc, produced: map[int64]kafkaPos{}, seqs: map[int64]map[string]bool{},
		outIDs: map[string]bool{}, newest: map[int32]int64{}}, nil
}

// writeKafkaApp writes the Kafka-fed app into dir/apps and returns that folder.
func writeKafkaApp(dir string) (string, error) {
	apps := filepath.Join(dir, "apps")
	if err := os.MkdirAll(apps, 0o755); err != nil {
		return "", err
	}
	return apps, os.WriteFile(filepath.Join(apps, "kf.siddhi"), []byte(kafkaApp), 0o644)
}

// env is what the nodes need to reach the cluster.
func (k *KafkaLoad) env() []string {
	return []string{"KAFKA_BROKERS=" + strings.Join(k.Cluster.ListenAddrs(), ",")}
}

// produce writes batches of batch records {"id":n,"v":1}, spread over the input partitions,
// one batch per interval, until ctx ends. A record counts as acknowledged once ProduceSync
// returned without error for its batch.
func (k *KafkaLoad) produce(ctx context.Context, batch int, interval time.Duration) {
	cl, err := kafkatest.Producer(k.Cluster)
	if err != nil {
		k.setErr(fmt.Errorf("producer: %w", err))
		return
	}
	defer cl.Close()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	next := int64(1)
	for ctx.Err() == nil {
		rs := make([]*kgo.Record, 0, batch)
		ids := make(map[*kgo.Record]int64, batch) // results need not come back in order
		for i := 0; i < batch; i++ {
			r := &kgo.Record{Topic: "in", Partition: int32(next % kafkaPartitions),
				Value: []byte(fmt.Sprintf(`{"id":%d,"v":1}`, next))}
			rs = append(rs, r)
			ids[r] = next
			next++
		}
		// Not ctx: a batch in flight when the load stops still completes, so what the broker
		// stored is known.
		pctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		res := cl.ProduceSync(pctx, rs...)
		cancel()
		if err := res.FirstErr(); err != nil {
			k.setErr(fmt.Errorf("produce: %w", err))
			return
		}
		k.mu.Lock()
		for _, r := range res {
			k.produced[ids[r.Record]] = kafkaPos{Partition: r.Record.Partition, Offset: r.Record.Offset}
		}
		k.mu.Unlock()
		select {
		case <-ctx.Done():
		case <-tick.C:
		}
	}
}

func (k *KafkaLoad) setErr(err error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.prodErr == nil {
		k.prodErr = err
	}
}

// read consumes topic out from its start with read_committed until ctx ends.
func (k *KafkaLoad) read(ctx context.Context) {
	cl, err := kafkatest.Reader(k.Cluster)
	if err != nil {
		k.setErr(fmt.Errorf("output reader: %w", err))
		return
	}
	defer cl.Close()
	for ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		at := time.Now()
		n := 0
		fs.EachRecord(func(r *kgo.Record) { k.observe(r); n++ })
		if n > 0 {
			k.mu.Lock()
			k.arrived = append(k.arrived, hatest.AckRecord{At: at, Sent: at, N: int64(n)})
			k.mu.Unlock()
			k.outputs.Add(int64(n))
		}
	}
}

// observe checks one output record: a repeated output id is a re-emission (identifiable); an
// input id under two input sequences was applied twice; a term below one already seen on the
// partition is output of a deposed active committed after its successor's.
func (k *KafkaLoad) observe(r *kgo.Record) {
	o, _ := kafkatest.ParseOutput(r)
	id, tm := o.ID, o.Term
	k.mu.Lock()
	defer k.mu.Unlock()
	k.lines++
	if k.outIDs[id] {
		k.dupIDs++
	}
	k.outIDs[id] = true
	if tm < k.newest[r.Partition] {
		k.deposed = append(k.deposed, fmt.Sprintf("output %s of term %d on out/%d at offset %d after term %d",
			id, tm, r.Partition, r.Offset, k.newest[r.Partition]))
	}
	k.newest[r.Partition] = max(k.newest[r.Partition], tm)
	seq := o.InputSeq
	if seq == "" {
		seq = id
	}
	if k.seqs[o.EventID] == nil {
		k.seqs[o.EventID] = map[string]bool{}
	}
	k.seqs[o.EventID][seq] = true
}

// missing counts acknowledged records without an output yet.
func (k *KafkaLoad) missing() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	n := 0
	for id := range k.produced {
		if k.seqs[id] == nil {
			n++
		}
	}
	return n
}

// waitDrained waits until every acknowledged record has an output (or timeout).
func (k *KafkaLoad) waitDrained(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		n := k.missing()
		if n == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d acknowledged records still without output after %s", n, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// report is the verdict in the HTTP run's terms: Acked = records the broker committed, Lost
// = those without an output, DupEvents = inputs (one partition offset each) whose outputs
// carry two input sequences; and the outputs of a deposed term.
func (k *KafkaLoad) report() (hatest.Report, []string, []string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	rep := hatest.Report{Acked: len(k.produced), OutputLines: k.lines, DupOutputIDs: k.dupIDs}
	var twice []string
	for id, s := range k.seqs {
		if len(s) > 1 {
			rep.DupEvents++
			p := k.produced[id]
			twice = append(twice, fmt.Sprintf("in/%d offset %d (id %d) applied %d times", p.Partition, p.Offset, id, len(s)))
		}
		if _, ok := k.produced[id]; ok {
			rep.Reflected++
		}
	}
	for id := range k.produced {
		if k.seqs[id] == nil {
			rep.Lost = append(rep.Lost, id)
		}
	}
	sort.Slice(rep.Lost, func(i, j int) bool { return rep.Lost[i] < rep.Lost[j] })
	sort.Strings(twice)
	return rep, twice, append([]string(nil), k.deposed...)
}

// counts is the records acknowledged so far and the load's first error.
func (k *KafkaLoad) counts() (int64, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return int64(len(k.produced)), k.prodErr
}

// arrivals are the output arrivals, the Kafka run's stand-in for acknowledgements when
// measuring how long a fault left the pipeline without progress.
func (k *KafkaLoad) arrivals() []hatest.AckRecord {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]hatest.AckRecord(nil), k.arrived...)
}
