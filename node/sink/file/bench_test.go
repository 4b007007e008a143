package filesink_test

import (
	"context"
	"strconv"
	"testing"

	"github.com/streamha/streamha/node/engine"
	"github.com/streamha/streamha/node/sink"
)

// BenchmarkFileSinkWrite measures the file sink's cost per output (ns/op is per output) on the
// end-to-end bench's output shape, in writes of 500 with fsync='none': the id checks, encoding
// and the write, without the disk's sync. go test -run x -bench FileSinkWrite ./node/sink/file
func BenchmarkFileSinkWrite(b *testing.B) {
	cfg := sink.DefaultConfig()
	cfg.BaseDir = b.TempDir()
	s, err := sink.OpenConfig(engine.SinkSpec{Type: "file", Options: map[string]string{"path": "out.jsonl", "fsync": "none"}}, "Filter", "Out", quiet(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	attrs := []engine.Attr{{Name: "id", Type: engine.TypeLong}, {Name: "symbol", Type: engine.TypeString}, {Name: "price", Type: engine.TypeDouble}}
	const n = 500
	outs := make([]*engine.Output, n)
	seq := 0
	b.ResetTimer()
	for i := 0; i < b.N; i += n {
		b.StopTimer()
		for j := range outs {
			seq++
			outs[j] = &engine.Output{ID: "Filter/query1/" + strconv.Itoa(seq) + "/0", Stream: "Out", TS: 1700000000000 + int64(seq), Attrs: attrs,
				Data: []engine.Value{engine.LongValue(int64(seq)), engine.StringValue("S" + strconv.Itoa(seq%7)), engine.DoubleValue(1.5)}}
		}
		b.StartTimer()
		if err := s.Write(context.Background(), outs); err != nil {
			b.Fatal(err)
		}
	}
}
