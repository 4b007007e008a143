package chaos

import (
	"encoding/json"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"time"

	"github.com/streamha/streamha/internal/hatest"
)

// Run executes one bounded chaos run and judges it. The run folder (cfg.Dir) holds the node logs,
// outputs, timeline.jsonl, acks.jsonl, lease.jsonl, active.jsonl and report.txt; the caller
// decides whether to remove it (keep it when the run failed).
func Run(cfg Config) (*Result, error) {
	cfg.defaults()
	h, err := Start(cfg)
	if err != nil {
		return nil, fmt.Errorf("start: %w (run folder %s)", err, cfg.Dir)
	}
	defer h.Close()
	res := &Result{Dir: cfg.Dir}
	rng := rand.New(rand.NewSource(cfg.Seed))
	h.Logf("chaos: pair up, %d round(s) of %v, seed %d, folder %s", cfg.Rounds, cfg.Faults, cfg.Seed, cfg.Dir)
run:
	for round := 0; round < cfg.Rounds; round++ {
		order := append([]string(nil), cfg.Faults...)
		rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		for _, name := range order {
			f, ok := faults[name]
			if !ok {
				res.Errors = append(res.Errors, fmt.Sprintf("unknown fault %q (known: %v)", name, FaultNames()))
				break run
			}
			time.Sleep(cfg.Settle)
			h.Logf("round %d: %s", round+1, name)
			if err := f(h); err != nil {
				h.Timeline.Add(Event{Kind: "error", Fault: name, Detail: err.Error()})
				res.Errors = append(res.Errors, fmt.Sprintf("round %d %s: %v", round+1, name, err))
				h.Logf("round %d: %s: %v", round+1, name, err)
				break run
			}
		}
	}
	time.Sleep(cfg.Settle)
	h.StopLoad()
	lease, grants, obs := h.Rec.Data()
	hist := history{lease: lease, grants: grants, obs: obs, events: h.Timeline.Events()}
	var acks []hatest.AckRecord
	if h.Kafka != nil {
		// Every record the broker committed must come out before the nodes stop: a clean
		// stop hands over but does not drain the topic.
		if err := h.Kafka.waitDrained(cfg.Recover); err != nil {
			res.Errors = append(res.Errors, err.Error())
		}
		if err := h.StopNodes(); err != nil {
			res.Errors = append(res.Errors, err.Error())
		}
		h.StopReader()
		produced, perr := h.Kafka.counts()
		if perr != nil {
			res.Errors = append(res.Errors, perr.Error())
		}
		res.Source, res.Sent, res.Acked = SourceKafka, produced, produced
		res.Outputs, res.AppliedTwice, res.DeposedOutputs = h.Kafka.report()
		// No node acknowledges a Kafka record: outputs reaching the reader measure the gaps.
		acks = h.Kafka.arrivals()
		hist.progress = acks
	} else {
		if err := h.StopNodes(); err != nil {
			res.Errors = append(res.Errors, err.Error())
		}
		sent, acked, retries, _, ids := h.Client.Snapshot()
		res.Source, res.Sent, res.Acked, res.Retries = SourceHTTP, sent, acked, retries
		rep, err := hatest.Check(h.Cluster, "accepted.jsonl", ids)
		if err != nil {
			res.Errors = append(res.Errors, "check outputs: "+err.Error())
		}
		res.Outputs = rep
		acks = h.Client.Acks()
		hist.acks, hist.progress = acks, acks
	}
	res.judge(&cfg, hist)
	writeJSONL(filepath.Join(cfg.Dir, "acks.jsonl"), acks)
	writeJSONL(filepath.Join(cfg.Dir, "lease.jsonl"), lease)
	writeJSONL(filepath.Join(cfg.Dir, "active.jsonl"), obs)
	writeJSONL(filepath.Join(cfg.Dir, "faults.jsonl"), res.Faults)
	_ = os.WriteFile(filepath.Join(cfg.Dir, "report.txt"), []byte(res.String()), 0o644)
	return res, nil
}

func writeJSONL[T any](path string, rows []T) {
	f, err := os.Create(path)
	if err != nil {
		return
	}
	defer f.Close()
	enc := json.NewEncoder(f)
	for _, r := range rows {
		_ = enc.Encode(r)
	}
}
