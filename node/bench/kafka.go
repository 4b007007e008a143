package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// kafkaApp is the filter app fed by a Kafka topic and writing one (brokers filled in).
const kafkaApp = `@app:name('KFilter')
@source(type='kafka', bootstrap.servers='%s', topic.list='bench-in', group.id='bench',
  threading.option='single.thread', @map(type='json'))
define stream In (id long, symbol string, qty int, price double);
@sink(type='kafka', bootstrap.servers='%s', topic='bench-out', @map(type='json'))
define stream Out (id long, symbol string, price double);
from In[qty > 0] select id, symbol, price insert into Out;
`

// KafkaRecords is how many records the Kafka run preloads (4 partitions).
var KafkaRecords = 1_000_000

// KafkaThroughput runs the Kafka filter app on m's deployment against an in-process Kafka
// (kfake) preloaded with KafkaRecords records: records/s that reach the output topic
// (read_committed) over l.Duration after l.Warmup, or until all are out. kfake runs in this
// process and shares the CPU with the nodes, so the figure is a floor.
func (e *Env) KafkaThroughput(m Mode, l Load, log func(string, ...any)) (float64, error) {
	kc, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(4, "bench-in", "bench-out"))
	if err != nil {
		return 0, fmt.Errorf("kfake: %w", err)
	}
	defer kc.Close()
	brokers := kc.ListenAddrs()[0]
	if err := preload(kc, KafkaRecords); err != nil {
		return 0, err
	}
	apps := filepath.Join(e.Dir, "kafka-apps-"+m.Name)
	if err := os.MkdirAll(apps, 0o755); err != nil {
		return 0, err
	}
	if err := os.WriteFile(filepath.Join(apps, "kfilter.siddhi"), fmt.Appendf(nil, kafkaApp, brokers, brokers), 0o644); err != nil {
		return 0, err
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers), kgo.ConsumeTopics("bench-out"),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	var n atomic.Int64
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		for ctx.Err() == nil {
			fs := cl.PollFetches(ctx)
			n.Add(int64(fs.NumRecords()))
		}
	}()
	c, err := e.pair("kafka-"+m.Name, apps, m.Nodes, m.Flags...)
	if err != nil {
		return 0, fmt.Errorf("kafka %s: %w", m.Name, err)
	}
	defer c.Close()
	// The pair drains the preloaded topic from its start, faster than a fixed warmup: the window
	// opens once a tenth of the records are out (the start-up is behind) and closes after
	// l.Duration or when all are out.
	warm := time.Now().Add(30 * time.Second)
	for n.Load() < int64(KafkaRecords/10) {
		if time.Now().After(warm) {
			return 0, fmt.Errorf("kafka %s: %d of %d records out after 30s", m.Name, n.Load(), KafkaRecords)
		}
		time.Sleep(time.Millisecond)
	}
	start, from := time.Now(), n.Load()
	deadline := start.Add(l.Duration)
	for time.Now().Before(deadline) && n.Load() < int64(KafkaRecords) {
		time.Sleep(5 * time.Millisecond)
	}
	got, took := n.Load()-from, time.Since(start)
	if from >= int64(KafkaRecords)/2 || got == 0 {
		return 0, fmt.Errorf("kafka %s: %d of %d records out when the window opened; preload more", m.Name, from, KafkaRecords)
	}
	return float64(got) / took.Seconds(), nil
}

func preload(kc *kfake.Cluster, total int) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(kc.ListenAddrs()...), kgo.ProducerLinger(5*time.Millisecond))
	if err != nil {
		return err
	}
	defer cl.Close()
	const batch = 5000
	for i := 0; i < total; i += batch {
		rs := make([]*kgo.Record, 0, batch)
		for j := i; j < i+batch && j < total; j++ {
			rs = append(rs, &kgo.Record{Topic: "bench-in", Partition: int32(j % 4),
				Value: fmt.Appendf(nil, `{"id":%d,"symbol":"S%d","qty":1,"price":1.5}`, j, j%7)})
		}
		if err := cl.ProduceSync(context.Background(), rs...).FirstErr(); err != nil {
			return fmt.Errorf("preload: %w", err)
		}
	}
	return nil
}
