package bench

import (
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// Mode is one deployment the throughput run compares.
type Mode struct {
	Name  string
	Nodes int
	Flags []string
}

// Modes: a single node (no passive to wait for), a pair acknowledging once the active applied
// (async) and once the passive holds the events (ack).
var Modes = []Mode{
	{"standalone", 1, []string{"--sync_mode", "async"}},
	{"ha-async", 2, []string{"--sync_mode", "async"}},
	{"ha-ack", 2, []string{"--sync_mode", "ack"}},
}

// Rate is one throughput figure.
type Rate struct {
	Mode      string
	Transport string // tcp, http, databridge or kafka
	Nodes     int
	Acked
}

// EPS is the figure a mode is judged by: with a passive, only the events it held (those
// acknowledged alone are reported apart, see Acked); standalone, every acknowledged event.
// A databridge answer cannot say alone, nor can Kafka records: they are all counted as held.
func (r Rate) EPS() float64 {
	if r.Nodes == 1 {
		return r.Held + r.Alone
	}
	return r.Held
}

// Throughput measures TCP and HTTP ingest of the filter app in every mode, in one run so the
// ratios hold. profileMode/profileSecs, when set, record the active's CPU with perf during
// that mode's TCP run and return the top functions.
func (e *Env) Throughput(apps string, tcp, httpL Load, profileMode string, log func(string, ...any)) ([]Rate, string, error) {
	var rates []Rate
	var profile string
	for _, m := range Modes {
		c, err := e.pair("tp-"+m.Name, apps, m.Nodes, m.Flags...)
		if err != nil {
			return rates, profile, fmt.Errorf("%s: %w", m.Name, err)
		}
		a := c.Nodes[0]
		var prof chan string
		if m.Name == profileMode {
			prof = make(chan string, 1)
			go func() { prof <- perfTop(a.PID(), tcp.Warmup, tcp.Duration) }()
		}
		acked, err := TCPThroughput(a.TCPAddr, "Filter", "In", tcp)
		if prof != nil {
			profile = <-prof
		}
		if err != nil {
			c.Close()
			return rates, profile, fmt.Errorf("%s tcp: %w", m.Name, err)
		}
		rates = append(rates, Rate{m.Name, "tcp", m.Nodes, acked})
		log("throughput %-10s tcp  %10.0f events/s (acknowledged alone: %.0f/s)", m.Name, rates[len(rates)-1].EPS(), acked.Alone)
		acked, err = HTTPThroughput(a.URL(), "Filter", "In", httpL)
		if err != nil {
			c.Close()
			return rates, profile, fmt.Errorf("%s http: %w", m.Name, err)
		}
		rates = append(rates, Rate{m.Name, "http", m.Nodes, acked})
		log("throughput %-10s http %10.0f events/s (acknowledged alone: %.0f/s)", m.Name, rates[len(rates)-1].EPS(), acked.Alone)
		// WSO2's databridge binary receiver (@source(type='wso2event')), same connections and
		// batch as TCP; the protocol answers each publish before the next (no pipelining), and
		// its answer cannot say whether the passive held the events.
		eps, err := BridgeThroughput(e.Bridge(a), "In", tcp)
		if err != nil {
			c.Close()
			return rates, profile, fmt.Errorf("%s databridge: %w", m.Name, err)
		}
		rates = append(rates, Rate{m.Name, "databridge", m.Nodes, Acked{Held: eps}})
		log("throughput %-10s databridge %10.0f events/s", m.Name, eps)
		c.Close()
		if m.Name == "ha-ack" {
			// Kafka source → filter → Kafka sink on a pair in ack mode (its own pair and app).
			eps, err = e.KafkaThroughput(m, tcp, log)
			if err != nil {
				return rates, profile, err
			}
			rates = append(rates, Rate{m.Name, "kafka", m.Nodes, Acked{Held: eps}})
			log("throughput %-10s kafka %10.0f records/s", m.Name, eps)
		}
	}
	return rates, profile, nil
}

// perfTop samples pid's CPU with `perf record` for d (after skip) and returns the top of
// `perf report` by symbol (self time). Empty when perf is unavailable.
func perfTop(pid int, skip, d time.Duration) string {
	if pid == 0 {
		return ""
	}
	if _, err := exec.LookPath("perf"); err != nil {
		return ""
	}
	time.Sleep(skip)
	out := "/tmp/streamha-bench-perf-" + strconv.Itoa(pid) + ".data"
	secs := strconv.FormatFloat(d.Seconds()*0.8, 'f', 1, 64)
	if b, err := exec.Command("perf", "record", "-q", "-F", "999", "-o", out, "-p", strconv.Itoa(pid), "--", "sleep", secs).CombinedOutput(); err != nil {
		return "perf record failed: " + strings.TrimSpace(string(b))
	}
	b, err := exec.Command("perf", "report", "-i", out, "--stdio", "--no-children", "--sort", "symbol", "--percent-limit", "1.5").CombinedOutput()
	if err != nil {
		return "perf report failed: " + strings.TrimSpace(string(b))
	}
	var lines []string
	for _, l := range strings.Split(string(b), "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		lines = append(lines, l)
		if len(lines) == 20 {
			break
		}
	}
	return strings.Join(lines, "\n")
}
