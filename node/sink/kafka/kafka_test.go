package kafkasink

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamha/streamha/node/engine"
	"github.com/streamha/streamha/node/sink"
)

const app = `@app:name('K')
define stream In (sym string, n long);
@sink(type='kafka', bootstrap.servers='%s', topic='out', %s @map(type='json'))
define stream Out (sym string, n long);
from In select sym, n insert into Out;`

func spec(t *testing.T, brokers, extra string) (engine.SinkSpec, *engine.StreamDef) {
	t.Helper()
	a, err := engine.Compile("k.siddhi", fmt.Sprintf(app, brokers, extra))
	if err != nil {
		t.Fatal(err)
	}
	def, _ := a.Stream("Out")
	return def.Sinks[0], def
}

func outputs(def *engine.StreamDef, from, to int64) []*engine.Output {
	var outs []*engine.Output
	for i := from; i <= to; i++ {
		outs = append(outs, &engine.Output{Stream: "Out", ID: fmt.Sprintf("K/q1/%d/0", i), Seq: uint64(i), Attrs: def.Attrs,
			Data: []engine.Value{engine.StringValue(fmt.Sprintf("s%d", i%2)), engine.LongValue(i)}})
	}
	return outs
}

type rec struct {
	key, value, id, term, group string
	partition                   int32
}

// readAll reads every committed record of topic out (read_committed, as consumers should).
func readAll(t *testing.T, c *kfake.Cluster, want int) []rec {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.ConsumeTopics("out"),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var out []rec
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for len(out) < want {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d records of %d", len(out), want)
		}
		fs.EachRecord(func(r *kgo.Record) {
			x := rec{key: string(r.Key), value: string(r.Value), partition: r.Partition}
			for _, h := range r.Headers {
				switch h.Key {
				case OutputIDHeader:
					x.id = string(h.Value)
				case TermHeader:
					x.term = string(h.Value)
				case GroupHeader:
					x.group = string(h.Value)
				}
			}
			out = append(out, x)
		})
	}
	return out
}

func cluster(t *testing.T) *kfake.Cluster {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, "out"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func openSink(t *testing.T, sp engine.SinkSpec, term int64) sink.Sink {
	t.Helper()
	cfg := sink.DefaultConfig()
	cfg.Term, cfg.Group = term, "g"
	s, err := sink.OpenConfig(sp, "K", "Out", slog.New(slog.DiscardHandler), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestRecordsCarryIDTermAndKey: each output is one record with Siddhi's JSON event as value,
// the key template rendered, the fixed partition, and the output id, term and group headers.
func TestRecordsCarryIDTermAndKey(t *testing.T) {
	c := cluster(t)
	sp, def := spec(t, c.ListenAddrs()[0], "partition.no='1', key='k-{{sym}}',")
	if err := CheckStream(sp, def); err != nil {
		t.Fatal(err)
	}
	s := openSink(t, sp, 7)
	if err := s.Write(context.Background(), outputs(def, 1, 3)); err != nil {
		t.Fatal(err)
	}
	got := readAll(t, c, 3)
	for i, r := range got {
		n := i + 1
		want := rec{key: fmt.Sprintf("k-s%d", n%2), value: fmt.Sprintf(`{"event":{"sym":"s%d","n":%d}}`, n%2, n),
			id: fmt.Sprintf("K/q1/%d/0", n), term: "7", group: "g", partition: 1}
		if r != want {
			t.Fatalf("record %d = %+v, want %+v", i, r, want)
		}
	}
}

// TestDeposedProducerIsFenced: the sink of a deposed active (term 1) that writes after the new
// active's sink (term 2) has opened and written gets an error, and read_committed consumers
// never see a term-1 record after a term-2 one. Shown to fail by giving each sink its own
// transactional id (the term-1 write then succeeds after the term-2 records).
func TestDeposedProducerIsFenced(t *testing.T) {
	c := cluster(t)
	sp, def := spec(t, c.ListenAddrs()[0], "")
	old := openSink(t, sp, 1)
	if err := old.Write(context.Background(), outputs(def, 1, 2)); err != nil {
		t.Fatal(err)
	}
	nw := openSink(t, sp, 2)
	if err := nw.Write(context.Background(), outputs(def, 3, 4)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := old.Write(ctx, outputs(def, 5, 5)); err == nil {
		t.Fatal("the deposed term's sink wrote after the new term's")
	}
	if err := nw.Write(context.Background(), outputs(def, 6, 6)); err != nil {
		t.Fatal(err)
	}
	got := readAll(t, c, 5)
	newest := map[int32]string{}
	for _, r := range got {
		if r.term < newest[r.partition] {
			t.Fatalf("term %s record %s after a term %s record: %+v", r.term, r.id, newest[r.partition], got)
		}
		newest[r.partition] = r.term
		if r.id == "K/q1/5/0" {
			t.Fatalf("the deposed sink's record is visible: %+v", got)
		}
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct{ extra, want string }{
		{"is.binary.message='true',", "unknown option is.binary.message"},
		{"partition.no='x',", "partition.no"},
		{"key='{{nope}}',", "{{nope}}"},
		{"key='{{sym',", "without }}"},
		{"optional.configuration='security.protocol:SASL_SSL',", "SASL"},
	} {
		sp, def := spec(t, "b:9092", tc.extra)
		err := Validate(sp)
		if err == nil {
			err = CheckStream(sp, def)
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want it to say %q", tc.extra, err, tc.want)
		}
	}
	sp, _ := spec(t, "b:9092", "")
	sp.Map.Type = "xml"
	if err := Validate(sp); err == nil || !strings.Contains(err.Error(), "xml") {
		t.Errorf("@map(type='xml'): %v", err)
	}
}
