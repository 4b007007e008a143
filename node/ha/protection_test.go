package ha_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/streamha/streamha/node/cluster"
	"github.com/streamha/streamha/node/daemon"
	"github.com/streamha/streamha/node/ecsmeta"
	"github.com/streamha/streamha/node/sink"
)

// protectCall is one PUT the fake ECS agent received.
type protectCall struct {
	Enabled bool
	Minutes int
}

// fakeAgent is the ECS agent's task-protection endpoint ($ECS_AGENT_URI/task-protection/v1/state)
// as the node sees it over HTTP: every PUT is recorded, in order, on calls.
func fakeAgent(t *testing.T) (*httptest.Server, chan protectCall) {
	t.Helper()
	calls := make(chan protectCall, 64)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPut || r.URL.Path != "/api/task-1"+ecsmeta.ProtectionPath {
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, `{"error":{"Code":"NotFound","Message":"no such path"}}`)
			return
		}
		var body struct {
			ProtectionEnabled *bool
			ExpiresInMinutes  int
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.ProtectionEnabled == nil {
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"error":{"Code":"InvalidParameterException","Message":"ProtectionEnabled is required"}}`)
			return
		}
		calls <- protectCall{Enabled: *body.ProtectionEnabled, Minutes: body.ExpiresInMinutes}
		json.NewEncoder(w).Encode(map[string]any{"protection": map[string]any{
			"ProtectionEnabled": *body.ProtectionEnabled, "TaskArn": "arn:aws:ecs:us-east-1:123456789012:task/c/task-1",
			"ExpirationDate": time.Now().Add(time.Duration(body.ExpiresInMinutes) * time.Minute).UTC().Format(time.RFC3339)}})
	}))
	t.Cleanup(srv.Close)
	return srv, calls
}

// nextCall waits for the agent's next PUT (no sleeping: the channel is the signal).
func nextCall(t *testing.T, calls chan protectCall, what string) protectCall {
	t.Helper()
	select {
	case c := <-calls:
		return c
	case <-time.After(20 * time.Second):
		t.Fatalf("the agent got no call: %s", what)
	}
	return protectCall{}
}

func protect(t *testing.T, p *inproc, agentURL string, check time.Duration) {
	t.Helper()
	stop := daemon.ProtectTask(p.node, p.info, &ecsmeta.Protector{URI: agentURL + "/api/task-1", Expires: daemon.ProtectionExpiry},
		check, slog.New(slog.DiscardHandler))
	t.Cleanup(stop)
}

// The active protects its task on promotion and clears the protection when it hands over; the
// node it handed over to protects its own.
func TestActiveProtectsItsTaskAndClearsItOnSwitchover(t *testing.T) {
	url := "sqlite://" + filepath.Join(t.TempDir(), "ha.db")
	agentA, callsA := fakeAgent(t)
	agentB, callsB := fakeAgent(t)
	a := startNode(t, url, "a", tok)
	// A check interval of an hour: only role changes (and the guard's first look) drive it.
	protect(t, a, agentA.URL, time.Hour)
	waitFor(t, "a active", func() bool { _, ok := a.node.Runner().Serving(); return ok })
	if c := nextCall(t, callsA, "a promoted"); !c.Enabled || c.Minutes != int(daemon.ProtectionExpiry/time.Minute) {
		t.Fatalf("on promotion the active sent %+v, want protection for %s", c, daemon.ProtectionExpiry)
	}
	b := startNode(t, url, "b", tok)
	protect(t, b, agentB.URL, time.Hour)
	waitFor(t, "b synced", func() bool { return a.node.Status().Peer.Synced })
	select {
	case c := <-callsB:
		t.Fatalf("the passive called the agent: %+v", c)
	default:
	}
	if resp, m := post(t, a.admin.URL+"/ha/switchover", tok, "", ""); resp.StatusCode != 200 {
		t.Fatalf("switchover: %d %v", resp.StatusCode, m)
	}
	if c := nextCall(t, callsA, "a handed over"); c.Enabled {
		t.Fatalf("after handing over the old active sent %+v, want protection cleared", c)
	}
	if c := nextCall(t, callsB, "b promoted"); !c.Enabled {
		t.Fatalf("the new active sent %+v, want protection", c)
	}
}

// During a deployment the new task (another task definition, started later) joins as passive;
// once it is in sync the active drops its protection while still serving, so ECS may stop it
// now (one planned switchover on SIGTERM). A restarted passive of the same task definition
// does not make the active drop it.
func TestActiveDropsProtectionForAnInSyncDeploymentSuccessor(t *testing.T) {
	url := "sqlite://" + filepath.Join(t.TempDir(), "ha.db")
	agentA, callsA := fakeAgent(t)
	t0 := time.Now().UTC()
	props := func(def string, started time.Time) map[string]string {
		return map[string]string{ecsmeta.PropTaskDefinition: def, cluster.PropStarted: started.Format(time.RFC3339Nano)}
	}
	sc := sink.DefaultConfig()
	sc.BaseDir = t.TempDir()
	a := startNodeFull(t, url, "a", tok, appSrc, sc, nil, props("streamha-node:7", t0))
	protect(t, a, agentA.URL, 20*time.Millisecond)
	waitFor(t, "a active", func() bool { _, ok := a.node.Runner().Serving(); return ok })
	if c := nextCall(t, callsA, "a promoted"); !c.Enabled {
		t.Fatalf("on promotion: %+v", c)
	}
	// Same task definition, started later: a replacement after a crash, not a deployment.
	sc2 := sink.DefaultConfig()
	sc2.BaseDir = t.TempDir()
	b := startNodeFull(t, url, "b", tok, appSrc, sc2, nil, props("streamha-node:7", t0.Add(time.Minute)))
	waitFor(t, "b synced", func() bool { return a.node.Status().Peer.Synced })
	waitFor(t, "a sees b registered", func() bool { return len(a.node.Runner().View().Nodes) == 2 })
	// Many checks pass; any call now would be a renewal (enabled), never a clear.
	for i := 0; i < 3; i++ {
		select {
		case c := <-callsA:
			if !c.Enabled {
				t.Fatalf("the active dropped its protection for a same-revision passive")
			}
		case <-time.After(200 * time.Millisecond):
		}
	}
	b.stop()
	sc3 := sink.DefaultConfig()
	sc3.BaseDir = t.TempDir()
	startNodeFull(t, url, "c", tok, appSrc, sc3, nil, props("streamha-node:8", t0.Add(2*time.Minute)))
	for {
		c := nextCall(t, callsA, "a sees the in-sync successor")
		if !c.Enabled {
			break
		}
	}
	if _, ok := a.node.Runner().Serving(); !ok {
		t.Fatal("the active stopped serving: dropping protection must not hand over by itself")
	}
	if !a.node.Status().Peer.Synced {
		t.Fatal("protection dropped before the successor was in sync")
	}
}
