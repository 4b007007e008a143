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
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/streamha/streamha/internal/procstat"
)

// E2ERow is one sink's end-to-end figure: outputs the receiver got per second while the client
// drove HTTP ingest at full rate on an HA ack pair, beside the ingest-only figure of runs
// interleaved with it (medians over the rounds).
type E2ERow struct {
	Sink      string  // "http (batch.size=500)" or "file (fsync=batch)"
	OutEPS    float64 // outputs received (http) or written as whole lines (file) per second
	IngestEPS float64 // events the passive held, per second, in the same window
	// Baseline is the ingest-only figure (same app with no sink, same load) of the runs
	// interleaved with this sink's; Ratio the median over rounds of OutEPS over the round's
	// baseline (0: not measured, judge against the throughput run's HTTP figure).
	Baseline, Ratio float64
	// CPU is the CPU ms per 1K events of the active, the passive and the bench process
	// (client and receiver) in this sink's runs, and BaseCPU in the ingest-only runs.
	CPU, BaseCPU [3]float64
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
	reqs  atomic.Int64
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
	bufs := sync.Pool{New: func() any { return new([64 << 10]byte) }}
	r.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		// The body is read whole, as a receiver must before it answers, in large reads (io.Copy
		// to io.Discard would read it 8 KiB at a time); nothing is decoded: X-Output-Count says
		// how many outputs it holds.
		buf := bufs.Get().(*[64 << 10]byte)
		for {
			if _, err := req.Body.Read(buf[:]); err != nil {
				break
			}
		}
		bufs.Put(buf)
		if r.delay > 0 {
			time.Sleep(r.delay)
		}
		k, err := strconv.Atoi(req.Header.Get("X-Output-Count"))
		if err != nil || k < 1 {
			k = 1
		}
		r.n.Add(int64(k))
		r.reqs.Add(1)
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

// EndToEnd drives HTTP ingest (l) on HA ack pairs whose filter app writes Out to an http sink
// (batch.size=500, to a local receiver) or a file sink, and counts the outputs that arrived in
// the measured window. It runs rounds of three runs, each on a fresh pair: ingest only (the
// same app with no sink), http, file; a sink's ratio is the median over rounds of its
// outputs/s over its round's ingest-only figure. Other work on the machine changes the load
// between runs minutes apart: a baseline measured right beside each sink run keeps the ratio
// about the sink.
func (e *Env) EndToEnd(l Load, rounds int, log func(string, ...any)) ([]E2ERow, error) {
	if rounds < 1 {
		return nil, nil
	}
	rcv, err := newReceiver(0)
	if err != nil {
		return nil, err
	}
	defer rcv.close()
	sinks := []struct{ name, ann string }{
		{"http (batch.size=500)", fmt.Sprintf("@sink(type='http', url='%s', batch.size='500', @map(type='json'))", rcv.url)},
		{"file (fsync=batch)", "@sink(type='file', path='out.jsonl', fsync='batch')"},
	}
	base := make([]e2eSample, 0, rounds)
	got := make([][]e2eSample, len(sinks))
	for r := 0; r < rounds; r++ {
		b, err := e.e2eRun("none", "", r, l, nil, log)
		if err != nil {
			return nil, err
		}
		base = append(base, b)
		for i, s := range sinks {
			x, err := e.e2eRun(s.name, s.ann, r, l, rcv, log)
			if err != nil {
				return nil, err
			}
			if b.held > 0 {
				x.ratio = x.outs / b.held
			}
			got[i] = append(got[i], x)
			log("end-to-end %-22s %.2f × the ingest-only run before it", s.name, x.ratio)
		}
	}
	var rows []E2ERow
	for i, s := range sinks {
		row := E2ERow{Sink: s.name, Baseline: median(base, func(x e2eSample) float64 { return x.held })}
		row.OutEPS = median(got[i], func(x e2eSample) float64 { return x.outs })
		row.IngestEPS = median(got[i], func(x e2eSample) float64 { return x.held })
		row.Ratio = median(got[i], func(x e2eSample) float64 { return x.ratio })
		for k := range row.CPU {
			row.CPU[k] = median(got[i], func(x e2eSample) float64 { return x.cpu[k] })
			row.BaseCPU[k] = median(base, func(x e2eSample) float64 { return x.cpu[k] })
		}
		rows = append(rows, row)
		log("end-to-end %-22s median of %d rounds: %.0f outputs/s, %.2f × ingest-only (%.0f events/s); CPU ms/1K events active %.2f passive %.2f bench %.2f (ingest-only %.2f %.2f %.2f): %.2f × on saturated cores",
			s.name, len(got[i]), row.OutEPS, row.Ratio, row.Baseline, row.CPU[0], row.CPU[1], row.CPU[2], row.BaseCPU[0], row.BaseCPU[1], row.BaseCPU[2], row.CPURatio())
	}
	return rows, nil
}

// CPURatio is the end-to-end ratio the CPU figures predict when the machine's cores are the
// limit: the ingest-only CPU per event over the CPU per event with the sink (all three
// processes). Unlike Ratio it does not move with what else runs on the machine (0: unmeasured).
func (r E2ERow) CPURatio() float64 {
	var b, c float64
	for i := range r.CPU {
		b += r.BaseCPU[i]
		c += r.CPU[i]
	}
	if b == 0 || c == 0 {
		return 0
	}
	return b / c
}

// e2eSample is one end-to-end run: outputs/s, events held/s, the ratio to its round's
// ingest-only run, and CPU ms per 1K events held of the active, passive and bench process.
type e2eSample struct {
	outs, held, ratio float64
	cpu               [3]float64
}

func median(xs []e2eSample, f func(e2eSample) float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	v := make([]float64, len(xs))
	for i, x := range xs {
		v[i] = f(x)
	}
	sort.Float64s(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

// e2eRun is one end-to-end run: a fresh pair with the filter app's Out going to the sink of ann
// ("" = none: ingest only), HTTP ingest l, the outputs counted at the receiver (http) or as
// whole lines of the file (file) over l.Duration after l.Warmup. It logs each process's CPU in
// the window per 1K events (active, passive, and the bench process: client and receiver), so
// that a ratio can be read against where the machine's two cores went.
func (e *Env) e2eRun(name, ann string, round int, l Load, rcv *receiver, log func(string, ...any)) (e2eSample, error) {
	var row e2eSample
	short := strings.Fields(name)[0]
	dir := fmt.Sprintf("e2e-%s-%d", short, round) // a fresh folder: a file sink's old lines would be taken as written
	apps, err := e.sinkApps(dir, ann)
	if err != nil {
		return row, err
	}
	c, err := e.pair(dir, apps, 2, "--sync_mode", "ack")
	if err != nil {
		return row, fmt.Errorf("e2e %s: %w", short, err)
	}
	defer c.Close()
	a := c.Nodes[0]
	lc := &lineCounter{path: filepath.Join(a.Dir, "out.jsonl")}
	reqs := func() int64 {
		if rcv == nil {
			return 0
		}
		return rcv.reqs.Load()
	}
	outs := func() int64 {
		switch short {
		case "http":
			return rcv.n.Load()
		case "file":
			n, _ := lc.count()
			return n
		}
		return 0
	}
	type res struct {
		a   Acked
		err error
	}
	done := make(chan res, 1)
	l.Busy503 = true
	go func() { x, err := HTTPThroughput(a.URL(), "Filter", "In", l); done <- res{x, err} }()
	var prof, profB chan string
	if os.Getenv("BENCH_SINK_PERF") == "1" { // where the nodes' CPU goes (perf, self)
		prof, profB = make(chan string, 1), make(chan string, 1)
		go func() { prof <- perfTop(a.PID(), l.Warmup, l.Duration) }()
		go func() { profB <- perfTop(c.Nodes[1].PID(), l.Warmup, l.Duration) }()
	}
	pids := []int{a.PID(), c.Nodes[1].PID(), os.Getpid()}
	cpu := func() []time.Duration {
		v := make([]time.Duration, len(pids))
		for i, p := range pids {
			v[i], _ = procstat.CPU(p)
		}
		return v
	}
	time.Sleep(l.Warmup)
	o0, r0, c0, t0 := outs(), reqs(), cpu(), time.Now()
	time.Sleep(l.Duration)
	o1, r1, c1, t1 := outs(), reqs(), cpu(), time.Now()
	x := <-done
	if prof != nil {
		log("active's CPU during the %s run (perf, self):\n%s", name, <-prof)
		log("passive's CPU during the %s run (perf, self):\n%s", name, <-profB)
	}
	if x.err != nil {
		return row, fmt.Errorf("e2e %s: %w", short, x.err)
	}
	secs := t1.Sub(t0).Seconds()
	row.outs, row.held = float64(o1-o0)/secs, x.a.Held
	per := func(i int) float64 { // CPU ms per 1K events held
		if x.a.Held <= 0 {
			return 0
		}
		return float64((c1[i] - c0[i]).Milliseconds()) / (x.a.Held * secs / 1000)
	}
	for i := range row.cpu {
		row.cpu[i] = per(i)
	}
	if short == "none" {
		log("ingest only (no sink)        %10.0f events/s held (alone %.0f/s); CPU ms/1K events: active %.2f passive %.2f bench %.2f", x.a.Held, x.a.Alone, per(0), per(1), per(2))
	} else {
		log("end-to-end %-22s %10.0f outputs/s (ingest held %.0f/s, alone %.0f/s); CPU ms/1K events: active %.2f passive %.2f bench %.2f",
			name, row.outs, x.a.Held, x.a.Alone, per(0), per(1), per(2))
		if r1 > r0 {
			log("end-to-end %-22s the receiver got %.0f requests/s of %.0f outputs each", name, float64(r1-r0)/secs, float64(o1-o0)/float64(r1-r0))
		}
	}
	return row, nil
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
	// The nodes run with their defaults, outside any cgroup limit (as on a bare host): the
	// memory limit is the one they derive from their bounds and live heap.
	c, err := e.pair("rss", apps, 2, "--sync_mode", "ack")
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
