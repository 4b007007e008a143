package e2e

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/streamha/streamha/internal/hatest"
	"github.com/streamha/streamha/internal/pgtest"
)

// slowReceiver is an http sink's receiver that takes delay per request: the sink falls behind
// ingest and outputs pile up. It counts every output id and every event id it accepted.
type slowReceiver struct {
	delay time.Duration
	mu    sync.Mutex
	ids   map[string]int // output id -> times received
	seqOf map[string]uint64
	evs   map[int64]bool // event ids (the data's "id") received
}

func (r *slowReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	time.Sleep(r.delay) // the receiver's own slowness, not a synchronisation
	b, _ := io.ReadAll(req.Body)
	var outs []struct {
		ID   string `json:"id"`
		Data struct {
			ID int64 `json:"id"`
		} `json:"data"`
	}
	if err := json.Unmarshal(b, &outs); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, o := range outs {
		r.ids[o.ID]++
		r.evs[o.Data.ID] = true
		parts := strings.Split(o.ID, "/") // <app>/<query>/<seq>/<index>
		if len(parts) == 4 {
			seq, _ := strconv.ParseUint(parts[2], 10, 64)
			r.seqOf[o.ID] = seq
		}
	}
}

// TestKillActiveWithALargeSinkBacklog: the active's http sink is slow (a receiver answering in
// 50 ms per request of 20 outputs) so thousands of outputs are pending when it is killed with
// SIGKILL. The new active loses none of them (every acknowledged event's output arrives) and
// re-emits nothing the old active had reported written: an output received twice must be of an
// input after the delivered position the passive knew at the kill (only the last unreported
// write may repeat), and there are at most one write round of them.
func TestKillActiveWithALargeSinkBacklog(t *testing.T) {
	rcv := &slowReceiver{delay: 50 * time.Millisecond, ids: map[string]int{}, seqOf: map[string]uint64{}, evs: map[int64]bool{}}
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	apps := t.TempDir()
	app := `@app:name('Orders')
define stream OrderStream (id long, symbol string, qty int, price double);
@sink(type='http', url='` + srv.URL + `', batch.size='20', blocking.io='true')
define stream AcceptedStream (id long, symbol string, value double);
from OrderStream[qty > 0] select id, symbol, cast(qty, 'double') * price as value insert into AcceptedStream;
`
	if err := os.WriteFile(filepath.Join(apps, "orders.siddhi"), []byte(app), 0o644); err != nil {
		t.Fatal(err)
	}
	c := startClusterPair(t, hatest.Options{Bin: nodeBin, Dir: t.TempDir(), N: 2, AppsDir: apps,
		ClusterDB: pgtest.Shared(t).NewDatabase(t), Extra: []string{"--persist_interval", "1s"}})
	ctx := context.Background()
	client := hatest.NewClient(c)
	cctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); client.Run(cctx, 50, 2*time.Millisecond) }()
	defer func() { stop(); <-done }()

	active := c.Active()
	passive := c.Peer(active)
	orders := func(n *hatest.Proc) (pending, delivered float64) {
		st, err := n.Status()
		if err != nil {
			return 0, 0
		}
		a, _ := st["apps"].(map[string]any)["Orders"].(map[string]any)
		pending, _ = a["outputs_pending"].(float64)
		delivered, _ = a["delivered_seq"].(float64)
		return pending, delivered
	}
	// A large backlog, and the passive knows some outputs were written.
	deadline := time.Now().Add(60 * time.Second)
	for {
		p, _ := orders(active)
		_, known := orders(passive)
		if p >= 3000 && known > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no backlog: %v outputs pending, the passive knows %v delivered", p, known)
		}
		time.Sleep(20 * time.Millisecond)
	}
	_, known := orders(passive)
	pendingAtKill, _ := orders(active)
	if err := active.Kill(); err != nil {
		t.Fatal(err)
	}
	next, err := c.WaitActive(ctx, 30*time.Second, active)
	if err != nil {
		t.Fatal(err)
	}
	client.SetTimeout(5 * time.Second)
	// Some load acknowledged by the new active.
	_, before, _, _, _ := client.Snapshot()
	for deadline := time.Now().Add(30 * time.Second); ; {
		if _, a, _, _, _ := client.Snapshot(); a >= before+500 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the new active acknowledges nothing")
		}
		time.Sleep(10 * time.Millisecond)
	}
	stop()
	<-done
	_, acked, _, _, ackedIDs := client.Snapshot()
	// The new active drains the backlog at the receiver's pace.
	deadline = time.Now().Add(3 * time.Minute)
	for {
		p, _ := orders(next)
		rcv.mu.Lock()
		missing := 0
		for id := range ackedIDs {
			if !rcv.evs[id] {
				missing++
			}
		}
		rcv.mu.Unlock()
		if p == 0 && missing == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d acknowledged events' outputs never arrived (%v pending on the new active)", missing, p)
		}
		time.Sleep(100 * time.Millisecond)
	}
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	repeats := 0
	for id, n := range rcv.ids {
		if n < 2 {
			continue
		}
		repeats += n - 1
		if seq := rcv.seqOf[id]; float64(seq) <= known {
			t.Fatalf("output %s (input %d) received %d times: the passive knew outputs up to input %v were written", id, seq, n, known)
		}
	}
	t.Logf("%d events acknowledged, %v outputs pending at the kill, passive knew delivered up to input %v, %d outputs repeated",
		acked, pendingAtKill, known, repeats)
	if repeats > 16384 { // maxDispatch: one write round
		t.Fatalf("%d outputs repeated, more than one write round", repeats)
	}
}
