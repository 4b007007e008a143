package ha_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/streamha/streamha/node/engine"
	"github.com/streamha/streamha/node/ha"
)

// BenchmarkSwitchover measures a planned switchover to a hot passive with 0 and 100,000
// idempotency keys in the state: nothing is persisted on the way, so its time does not grow
// with the keys (before, the hand-over snapshot carried them all).
func BenchmarkSwitchover(b *testing.B) {
	for _, keys := range []int{0, 100_000} {
		b.Run(fmt.Sprintf("keys=%d", keys), func(b *testing.B) {
			url := "sqlite://" + filepath.Join(b.TempDir(), "ha.db")
			nodes := []*rnode{startRestoreNode(b, url, "a")}
			waitFor(b, "a active", nodes[0].serving)
			nodes = append(nodes, startRestoreNode(b, url, "b"))
			pend := make([]*ha.Pending, 0, 1024)
			for i := 0; i < keys; i++ {
				p, err := nodes[0].node.Submit("T", "S", []ha.Event{{Data: []engine.Value{engine.LongValue(int64(i)), engine.DoubleValue(1)}}}, "key-"+strconv.Itoa(i))
				if err != nil {
					b.Fatal(err)
				}
				if pend = append(pend, p); len(pend) == cap(pend) || i == keys-1 {
					for _, p := range pend {
						if _, err := p.Wait(context.Background()); err != nil {
							b.Fatal(err)
						}
					}
					pend = pend[:0]
				}
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				from, to := nodes[i%2], nodes[(i+1)%2]
				b.StopTimer()
				waitFor(b, "passive hot and in sync", func() bool { return from.node.Status().Peer.Synced && to.hot() })
				b.StartTimer()
				start := time.Now()
				if err := from.node.Switchover(context.Background()); err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(float64(time.Since(start).Microseconds())/1000, "handover_ms")
				b.StopTimer()
				waitFor(b, "the other node active", to.serving)
				b.StartTimer()
			}
		})
	}
}
