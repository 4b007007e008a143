package hatest

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
)

// Report is the checker's verdict over a run.
type Report struct {
	Acked        int // events acknowledged to the client
	Reflected    int // distinct event ids found in the outputs
	Lost         []int64
	OutputLines  int // output lines over all nodes' files
	DupOutputIDs int // lines whose output id was already seen: re-emissions, identifiable by id
	DupEvents    int // event ids reflected under two different output ids (applied twice)
}

// OK is true when no acknowledged event is missing from the outputs.
func (r Report) OK() bool { return len(r.Lost) == 0 }

func (r Report) String() string {
	return fmt.Sprintf("acked=%d reflected=%d lost=%d output_lines=%d duplicate_output_ids=%d events_applied_twice=%d",
		r.Acked, r.Reflected, len(r.Lost), r.OutputLines, r.DupOutputIDs, r.DupEvents)
}

// Check reads every node's AcceptedStream output file (file name under each node dir) and
// compares it with the acknowledged event ids.
func Check(c *Cluster, file string, acked map[int64]bool) (Report, error) {
	rep := Report{Acked: len(acked)}
	seenOut := map[string]bool{}
	outOf := map[int64]string{}
	for _, p := range c.Nodes {
		f, err := os.Open(filepath.Join(p.Dir, file))
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			return rep, err
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var o struct {
				ID   string `json:"id"`
				Data struct {
					ID int64 `json:"id"`
				} `json:"data"`
			}
			if err := json.Unmarshal(sc.Bytes(), &o); err != nil {
				f.Close()
				return rep, fmt.Errorf("%s: bad output line %q: %w", f.Name(), sc.Text(), err)
			}
			rep.OutputLines++
			if seenOut[o.ID] {
				rep.DupOutputIDs++
				continue
			}
			seenOut[o.ID] = true
			if prev, ok := outOf[o.Data.ID]; ok && prev != o.ID {
				rep.DupEvents++
				continue
			}
			outOf[o.Data.ID] = o.ID
		}
		f.Close()
		if err := sc.Err(); err != nil {
			return rep, err
		}
	}
	rep.Reflected = len(outOf)
	for id := range acked {
		if _, ok := outOf[id]; !ok {
			rep.Lost = append(rep.Lost, id)
		}
	}
	sort.Slice(rep.Lost, func(i, j int) bool { return rep.Lost[i] < rep.Lost[j] })
	return rep, nil
}
