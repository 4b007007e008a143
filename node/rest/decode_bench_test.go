package rest

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

func batchBody(n int) []byte {
	var sb strings.Builder
	sb.WriteByte('[')
	for i := 0; i < n; i++ {
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, `{"id":%d,"symbol":"S%d","qty":%d,"price":%d.25}`, i, i%7, i%5, i)
	}
	sb.WriteByte(']')
	return []byte(sb.String())
}

// BenchmarkDecodeEvents is the ingest decoder on a batch of 100 events.
func BenchmarkDecodeEvents(b *testing.B) {
	def, body := orderStream(b), batchBody(100)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeEvents(def, body, 0); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(100*b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkDecodeEventsStdlib is the baseline: encoding/json into raw messages, then the
// engine's own per-object decoder.
func BenchmarkDecodeEventsStdlib(b *testing.B) {
	def, body := orderStream(b), batchBody(100)
	b.ReportAllocs()
	for b.Loop() {
		var raws []json.RawMessage
		if err := json.Unmarshal(body, &raws); err != nil {
			b.Fatal(err)
		}
		for _, r := range raws {
			if _, _, _, err := def.DecodeJSON(r); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(100*b.N)/b.Elapsed().Seconds(), "events/s")
}
