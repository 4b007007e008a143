package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/streamha/streamha/internal/databridge"
	"github.com/streamha/streamha/node/engine"
	"github.com/streamha/streamha/node/tcpingest"
)

// Load is how a throughput run drives a node.
type Load struct {
	Conns    int           // TCP connections or HTTP workers
	Batch    int           // events per request or frame
	Depth    int           // TCP frames in flight per connection
	Warmup   time.Duration // not counted
	Duration time.Duration // counted
	// Busy503 retries an HTTP 503 (back-pressure: max_pending_output_bytes) after 100 ms
	// instead of failing the run.
	Busy503 bool
}

// Acked is a throughput run's acknowledged events per second, split by what the answers said:
// Held, the passive held the batch (TCP status 0, HTTP without "alone"; in async mode: it was
// sent to the passive); Alone, no passive held it (TCP status 1, HTTP "alone":true).
type Acked struct {
	Held, Alone float64
}

// measure runs send on conns workers; each calls count(n, alone) per acknowledged event batch.
// It returns events per second over Duration, after Warmup.
func measure(l Load, work func(ctx context.Context, count func(n int, alone bool)) error) (Acked, error) {
	var counting atomic.Bool
	var held, alone atomic.Int64
	count := func(k int, a bool) {
		if !counting.Load() {
			return
		}
		if a {
			alone.Add(int64(k))
		} else {
			held.Add(int64(k))
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, l.Conns)
	var wg sync.WaitGroup
	for i := 0; i < l.Conns; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); errc <- work(ctx, count) }()
	}
	time.Sleep(l.Warmup)
	counting.Store(true)
	start := time.Now()
	select {
	case <-time.After(l.Duration):
	case err := <-errc:
		cancel()
		wg.Wait()
		return Acked{}, err
	}
	counting.Store(false)
	el := time.Since(start).Seconds()
	cancel()
	wg.Wait()
	return Acked{Held: float64(held.Load()) / el, Alone: float64(alone.Load()) / el}, nil
}

func filterEvent(i int) []engine.Value {
	return []engine.Value{engine.LongValue(int64(i)), engine.StringValue(fmt.Sprintf("S%d", i%7)), engine.IntValue(1), engine.DoubleValue(1.5)}
}

// TCPThroughput drives addr's binary ingest with pipelined frames of l.Batch events.
func TCPThroughput(addr, app, stream string, l Load) (Acked, error) {
	var raw []tcpingest.RawEvent
	for i := 0; i < l.Batch; i++ {
		raw = append(raw, tcpingest.RawEvent{Values: tcpingest.EncodeEvent(filterEvent(i))})
	}
	frame := tcpingest.AppendBatch(nil, &tcpingest.Batch{ID: 1, App: app, Stream: stream, Events: raw})
	return measure(l, func(ctx context.Context, count func(int, bool)) error {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			return err
		}
		defer c.Close()
		go func() { <-ctx.Done(); c.Close() }()
		slots := make(chan struct{}, l.Depth)
		rerr := make(chan error, 1)
		go func() {
			r := bufio.NewReaderSize(c, 64<<10)
			var buf []byte
			for {
				typ, p, err := tcpingest.ReadFrame(r, &buf)
				if err != nil {
					rerr <- err
					return
				}
				if typ != tcpingest.TypeAck {
					rerr <- fmt.Errorf("tcp: unexpected frame type %d", typ)
					return
				}
				a, err := tcpingest.DecodeAck(p)
				if err != nil {
					rerr <- err
					return
				}
				if a.Status != tcpingest.StatusOK && a.Status != tcpingest.StatusOKAlone {
					rerr <- fmt.Errorf("tcp: ack status %d: %s", a.Status, a.Message)
					return
				}
				count(int(a.LastSeq-a.FirstSeq+1), a.Status == tcpingest.StatusOKAlone)
				<-slots
			}
		}()
		f := append([]byte(nil), frame...)
		for id := uint64(1); ; id++ {
			select {
			case slots <- struct{}{}:
			case err := <-rerr:
				if ctx.Err() != nil {
					return nil
				}
				return err
			}
			binary.BigEndian.PutUint64(f[5:], id)
			if _, err := c.Write(f); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return err
			}
		}
	})
}

// HTTPThroughput posts JSON batches of l.Batch events to base's ingest with l.Conns workers.
func HTTPThroughput(base, app, stream string, l Load) (Acked, error) {
	var body bytes.Buffer
	body.WriteByte('[')
	for i := 0; i < l.Batch; i++ {
		if i > 0 {
			body.WriteByte(',')
		}
		fmt.Fprintf(&body, `{"id":%d,"symbol":"S%d","qty":1,"price":1.5}`, i, i%7)
	}
	body.WriteByte(']')
	payload := body.Bytes()
	url := base + "/events/" + app + "/" + stream
	tr := &http.Transport{MaxIdleConnsPerHost: l.Conns, MaxConnsPerHost: l.Conns}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 15 * time.Second}
	return measure(l, func(ctx context.Context, count func(int, bool)) error {
		for ctx.Err() == nil {
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(payload))
			req.Header.Set("Content-Type", "application/json")
			resp, err := hc.Do(req)
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return err
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusServiceUnavailable && l.Busy503 {
				select {
				case <-ctx.Done():
				case <-time.After(100 * time.Millisecond):
				}
				continue
			}
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("http: %s: %s", resp.Status, bytes.TrimSpace(b))
			}
			count(l.Batch, bytes.Contains(b, []byte(`"alone":true`)))
		}
		return nil
	})
}

// BridgeThroughput drives a databridge receiver: l.Conns publishers, each logged in and
// publishing batches of l.Batch events of stream (version 1.0.0), one answer at a time.
// Its answer cannot say whether a passive held the events: all are counted.
func BridgeThroughput(addr, stream string, l Load) (float64, error) {
	evs := make([]databridge.Event, l.Batch)
	for i := range evs {
		evs[i] = databridge.Event{StreamID: stream + ":1.0.0", Payload: []any{int64(i), fmt.Sprintf("S%d", i%7), int32(1), 1.5}}
	}
	a, err := measure(l, func(ctx context.Context, count func(int, bool)) error {
		cl, err := databridge.Dial(addr)
		if err != nil {
			return err
		}
		defer cl.Close()
		go func() { <-ctx.Done(); cl.Close() }()
		if err := cl.Login(sourceUser, sourcePassword); err != nil {
			return err
		}
		frame := databridge.AppendPublish(nil, cl.Session, evs)
		for {
			if err := cl.WriteRaw(frame); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return err
			}
			if _, err := cl.ReadAnswer(); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return err
			}
			count(len(evs), false)
		}
	})
	return a.Held, err
}
