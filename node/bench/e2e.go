package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/streamha/streamha/internal/procstat"
)

// E2ERow is one sink's end-to-end figure: outputs the receiver got per second while the client
// drove HTTP ingest at full rate on an HA ack pair, beside that run's acknowledged events/s.
type E2ERow struct {
	Sink      string  // "http (batch.size=500)" or "file (fsync=batch)"
	OutEPS    float64 // outputs received (http) or written as whole lines (file) per second
	IngestEPS float64 // events the passive held, per second, in the same window
}

// RSSRow is the RSS scenario: a receiver answering each request after Delay, full-rate HTTP
// ingest for Duration; the largest VmRSS seen per node and the rates that went through.
type RSSRow struct {
	Delay, Duration time.Duration
	MaxRSS          map[string]int64 // node id → bytes
	IngestEPS       float64
	OutEPS          float64
}

// receiver counts the outputs an http sink posts (X-Output-Count, else one per request),
// answering each request after delay.
type receiver struct {
	n     atomic.Int64
	delay time.Duration
	srv   *http.Server
	url   string
}

func newReceiver(delay time.Duration) (*receiver, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("receiver: %w", err)
	}
	r := &receiver{delay: delay, url: "http://" + l.Addr().String() + "/in"}
	r.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		_, _ = io.Copy(io.Discard, req.Body)
		if r.delay > 0 {
			time.Sleep(r.delay)
		}
		k, err := strconv.Atoi(req.Header.Get("X-Output-Count"))
		if err != nil || k < 1 {
			k = 1
		}
		r.n.Add(int64(k))
		w.WriteHeader(http.StatusOK)
	})}
	go func() { _ = r.srv.Serve(l) }()
	return r, nil
}

func (r *receiver) close() { _ = r.srv.Close() }

// sinkApps writes the filter app with Out going to sink into a fresh folder.
func (e *Env) sinkApps(name, sink string) (string, error) {
	dir := filepath.Join(e.Dir, name+"-apps")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	app := "@app:name('Filter')\n\n@source(type='wso2event')\ndefine stream In (id long, symbol string, qty int, price double);\n\n" +
		sink + "\ndefine stream Out (id long, symbol string, price double);\n\nfrom In[qty > 0]\nselect id, symbol, price\ninsert into Out;\n"
	return dir, os.WriteFile(filepath.Join(dir, "filter.siddhi"), []byte(app), 0o644)
}

// lineCounter counts the complete lines of a growing file, reading only what is new.
type lineCounter struct {
	path  string
	off   int64
	lines int64
}

func (lc *lineCounter) count() (int64, error) {
	f, err := os.Open(lc.path)
	if os.IsNotExist(err) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	defer f.Close()
	if _, err := f.Seek(lc.off, io.SeekStart); err != nil {
		return 0, err
	}
	buf := make([]byte, 1<<20)
	for {
		n, err := f.Read(buf)
		lc.lines += int64(bytes.Count(buf[:n], []byte{'\n'}))
		lc.off += int64(n)
		if err == io.EOF {
			return lc.lines, nil
		}
		if err != nil {
			return 0, err
		}
	}
}

// EndToEnd drives HTTP ingest (l) on an HA ack pair whose filter app writes Out to an http sink
// (batch.size=500, to a local receiver) and then to a file sink, and counts the outputs that
// arrived in the measured window.
func (e *Env) EndToEnd(l Load, log func(string, ...any)) ([]E2ERow, error) {
	var rows []E2ERow
	rcv, err := newReceiver(0)
	if err != nil {
		return nil, err
	}
	defer rcv.close()
	for _, s := range []struct{ name, ann string }{
		{"http (batch.size=500)", fmt.Sprintf("@sink(type='http', url='%s', batch.size='500', @map(type='json'))", rcv.url)},
		{"file (fsync=batch)", "@sink(type='file', path='out.jsonl', fsync='batch')"},
	} {
		short := strings.Fields(s.name)[0]
		apps, err := e.sinkApps("e2e-"+short, s.ann)
		if err != nil {
			return rows, err
		}
		c, err := e.pair("e2e-"+short, apps, 2, "--sync_mode", "ack")
		if err != nil {
			return rows, fmt.Errorf("e2e %s: %w", short, err)
		}
		a := c.Nodes[0]
		lc := &lineCounter{path: filepath.Join(a.Dir, "out.jsonl")}
		outs := func() int64 {
			if short == "http" {
				return rcv.n.Load()
			}
			n, _ := lc.count()
			return n
		}
		type res struct {
			a   Acked
			err error
		}
		done := make(chan res, 1)
		l.Busy503 = true
		go func() { x, err := HTTPThroughput(a.URL(), "Filter", "In", l); done <- res{x, err} }()
		time.Sleep(l.Warmup)
		o0, t0 := outs(), time.Now()
		time.Sleep(l.Duration)
		o1, t1 := outs(), time.Now()
		x := <-done
		c.Close()
		if x.err != nil {
			return rows, fmt.Errorf("e2e %s: %w", short, x.err)
		}
		row := E2ERow{Sink: s.name, OutEPS: float64(o1-o0) / t1.Sub(t0).Seconds(), IngestEPS: x.a.Held}
		rows = append(rows, row)
		log("end-to-end %-22s %10.0f outputs/s (ingest held %.0f/s, alone %.0f/s)", s.name, row.OutEPS, x.a.Held, x.a.Alone)
	}
	return rows, nil
}

// RSS drives full-rate HTTP ingest (l's connections and batch) for d on an HA ack pair whose
// http sink (batch.size=500) posts to a receiver answering each request after delay, and samples
// both nodes' VmRSS every 250 ms: the sink falls behind, so max_pending_output_bytes must hold.
func (e *Env) RSS(l Load, delay, d time.Duration, log func(string, ...any)) (RSSRow, error) {
	row := RSSRow{Delay: delay, Duration: d, MaxRSS: map[string]int64{}}
	rcv, err := newReceiver(delay)
	if err != nil {
		return row, err
	}
	defer rcv.close()
	apps, err := e.sinkApps("rss", fmt.Sprintf("@sink(type='http', url='%s', batch.size='500', @map(type='json'))", rcv.url))
	if err != nil {
		return row, err
	}
	// The nodes get the soft memory limit a 200 MiB container would give them (80% of it): the
	// bench runs them outside any cgroup limit, where GOGC=400 alone lets the heap grow to five
	// times the live data.
	c, err := e.pair("rss", apps, 2, "--sync_mode", "ack", "--memory_limit", "160MiB")
	if err != nil {
		return row, fmt.Errorf("rss: %w", err)
	}
	defer c.Close()
	ctx, cancel := context.WithCancel(context.Background())
	var mu sync.Mutex
	var sampleErr error
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			for _, p := range c.Nodes {
				v, err := procstat.RSS(p.PID())
				mu.Lock()
				if err != nil && sampleErr == nil {
					sampleErr = fmt.Errorf("%s: %w", p.ID, err)
				}
				if v > row.MaxRSS[p.ID] {
					row.MaxRSS[p.ID] = v
				}
				mu.Unlock()
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	o0 := rcv.n.Load()
	x, err := HTTPThroughput(c.Nodes[0].URL(), "Filter", "In", Load{Conns: l.Conns, Batch: l.Batch, Duration: d, Busy503: true})
	o1 := rcv.n.Load()
	cancel()
	wg.Wait()
	if err != nil {
		return row, fmt.Errorf("rss: %w", err)
	}
	row.IngestEPS, row.OutEPS = x.Held+x.Alone, float64(o1-o0)/d.Seconds()
	mu.Lock()
	defer mu.Unlock()
	for _, p := range c.Nodes {
		log("rss: %s max VmRSS %.0f MiB (receiver %v per request, ingest %.0f/s, outputs %.0f/s)", p.ID, float64(row.MaxRSS[p.ID])/(1<<20), delay, row.IngestEPS, row.OutEPS)
	}
	return row, sampleErr
}
