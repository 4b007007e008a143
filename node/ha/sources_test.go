package ha_test

import (
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"github.com/streamha/streamha/node/ha"
)

// recSources records when the node opens and closes its apps' ports, and whether the node was
// serving at that moment.
type recSources struct {
	mu    sync.Mutex
	ready chan struct{} // closed once node is set
	node  *ha.Node
	calls []string
}

func newRecSources() *recSources { return &recSources{ready: make(chan struct{})} }

func (r *recSources) set(n *ha.Node) {
	r.node = n
	close(r.ready)
}

func (r *recSources) record(what string) {
	<-r.ready
	_, serving := r.node.Runner().Serving()
	r.mu.Lock()
	r.calls = append(r.calls, fmt.Sprintf("%s serving=%v", what, serving))
	r.mu.Unlock()
}

func (r *recSources) Open(term int64) { r.record("open") }
func (r *recSources) Close()          { r.record("close") }

func (r *recSources) get() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.calls...)
}

// TestSourcesOpenOnlyWhileServing: an active opens its apps' ports once it serves, a passive
// never does, and a switchover closes them on the old active while it still holds the lease
// (before the hand-over); the new active opens them after its promotion.
func TestSourcesOpenOnlyWhileServing(t *testing.T) {
	url := "sqlite://" + filepath.Join(t.TempDir(), "ha.db")
	ra, rb := newRecSources(), newRecSources()
	a := startNodeSources(t, url, "a", tok, appSrc, ra)
	ra.set(a.node)
	waitFor(t, "a active", func() bool { return len(ra.get()) == 1 })
	if got := ra.get(); got[0] != "open serving=true" {
		t.Fatalf("a: %v, want open while serving", got)
	}
	b := startNodeSources(t, url, "b", tok, appSrc, rb)
	rb.set(b.node)
	waitFor(t, "b synced", func() bool { return a.node.Status().Peer.Synced })
	if got := rb.get(); len(got) != 0 {
		t.Fatalf("passive b touched its sources: %v", got)
	}
	if resp, m := post(t, a.admin.URL+"/ha/switchover", tok, "", ""); resp.StatusCode != 200 {
		t.Fatalf("switchover: %d %v", resp.StatusCode, m)
	}
	waitFor(t, "b opens", func() bool { return len(rb.get()) == 1 })
	// The second close is the demotion that follows the hand-over (Close is idempotent).
	if got := ra.get(); len(got) < 2 || got[1] != "close serving=true" {
		t.Fatalf("a after switchover: %v, want closed before the hand-over (still serving)", got)
	}
	if got := rb.get(); got[0] != "open serving=true" {
		t.Fatalf("b after switchover: %v", got)
	}
}
