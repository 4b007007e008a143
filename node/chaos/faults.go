package chaos

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/streamha/streamha/internal/hatest"
)

// A fault injects one failure, heals it and returns once the pair serves again with its
// passive in sync (or an error when it does not within Config.Recover).
type fault func(h *Harness) error

var faults = map[string]fault{
	"kill-active":     killActive,
	"pause-active":    pauseActive,
	"kill-passive":    killPassive,
	"restart-db":      restartDB,
	"cut-sync":        cutSync,
	"cut-db-active":   cutDBActive,
	"reset-db-active": resetDBActive,
	"switchover":      plannedSwitchover,
}

// FaultNames lists every fault the suite knows, sorted.
func FaultNames() []string {
	var n []string
	for k := range faults {
		n = append(n, k)
	}
	sort.Strings(n)
	return n
}

func (h *Harness) active() (*hatest.Proc, error) {
	a, err := h.Cluster.WaitActive(context.Background(), h.cfg.Recover, nil)
	if err != nil {
		return nil, fmt.Errorf("no active before the fault: %w", err)
	}
	return a, nil
}

// recovered waits until some node serves and its passive is in sync, and records when.
func (h *Harness) recovered(name string) error {
	ctx := context.Background()
	if _, err := h.Cluster.WaitActive(ctx, h.cfg.Recover, nil); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if err := h.Cluster.WaitPeerConnected(ctx, h.cfg.Recover); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if err := h.waitAcks(int64(h.cfg.Batch), h.cfg.Recover); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	h.Timeline.Add(Event{Kind: "recovered", Fault: name})
	return nil
}

func killActive(h *Harness) error {
	a, err := h.active()
	if err != nil {
		return err
	}
	h.Timeline.Add(Event{Kind: "fault", Fault: "kill-active", Node: a.ID, Detail: "SIGKILL"})
	if err := a.Kill(); err != nil {
		return err
	}
	if _, err := h.Cluster.WaitActive(context.Background(), h.cfg.Recover, a); err != nil {
		return fmt.Errorf("kill-active: no takeover: %w", err)
	}
	if err := h.waitAcks(int64(h.cfg.Batch), h.cfg.Recover); err != nil {
		return fmt.Errorf("kill-active: %w", err)
	}
	h.Timeline.Add(Event{Kind: "heal", Fault: "kill-active", Node: a.ID, Detail: "restart"})
	if err := a.Start(); err != nil {
		return err
	}
	return h.recovered("kill-active")
}

func pauseActive(h *Harness) error {
	a, err := h.active()
	if err != nil {
		return err
	}
	h.Timeline.Add(Event{Kind: "fault", Fault: "pause-active", Node: a.ID, Detail: "SIGSTOP for " + h.cfg.Hold.String()})
	if err := a.Pause(); err != nil {
		return err
	}
	time.Sleep(h.cfg.Hold)
	h.Timeline.Add(Event{Kind: "heal", Fault: "pause-active", Node: a.ID, Detail: "SIGCONT"})
	if err := a.Resume(); err != nil {
		return err
	}
	return h.recovered("pause-active")
}

func killPassive(h *Harness) error {
	a, err := h.active()
	if err != nil {
		return err
	}
	p := h.Cluster.Peer(a)
	h.Timeline.Add(Event{Kind: "fault", Fault: "kill-passive", Node: p.ID, Detail: "SIGKILL"})
	if err := p.Kill(); err != nil {
		return err
	}
	time.Sleep(h.cfg.Hold)
	h.Timeline.Add(Event{Kind: "heal", Fault: "kill-passive", Node: p.ID, Detail: "restart"})
	if err := p.Start(); err != nil {
		return err
	}
	return h.recovered("kill-passive")
}

func restartDB(h *Harness) error {
	h.Timeline.Add(Event{Kind: "fault", Fault: "restart-db", Detail: "pg_ctl stop -m fast for " + h.cfg.Hold.String()})
	if err := h.PG.Stop(); err != nil {
		return err
	}
	time.Sleep(h.cfg.Hold)
	h.Timeline.Add(Event{Kind: "heal", Fault: "restart-db", Detail: "pg_ctl start"})
	if err := h.PG.Restart(); err != nil {
		return err
	}
	return h.recovered("restart-db")
}

// cutSync blackholes the link from the active into the passive's sync port.
func cutSync(h *Harness) error {
	a, err := h.active()
	if err != nil {
		return err
	}
	p := h.Cluster.Peer(a)
	px := h.SyncProx[p.ID]
	h.Timeline.Add(Event{Kind: "fault", Fault: "cut-sync", Node: p.ID, Detail: "blackhole active→passive sync link for " + h.cfg.Hold.String()})
	px.Blackhole()
	time.Sleep(h.cfg.Hold)
	h.Timeline.Add(Event{Kind: "heal", Fault: "cut-sync", Node: p.ID})
	px.Heal()
	return h.recovered("cut-sync")
}

// cutDBActive blackholes the active's link to PostgreSQL: it cannot renew, must stop serving,
// and the passive takes the lease.
func cutDBActive(h *Harness) error {
	a, err := h.active()
	if err != nil {
		return err
	}
	px := h.DBProxy[a.ID]
	h.Timeline.Add(Event{Kind: "fault", Fault: "cut-db-active", Node: a.ID, Detail: "blackhole active→PostgreSQL link for " + h.cfg.Hold.String()})
	px.Blackhole()
	time.Sleep(h.cfg.Hold)
	h.Timeline.Add(Event{Kind: "heal", Fault: "cut-db-active", Node: a.ID})
	px.Heal()
	return h.recovered("cut-db-active")
}

// resetDBActive closes only the active's connections to PostgreSQL and refuses new ones, while
// its process keeps running: its liveness lock's session ends on the server, so the passive
// takes the lease over at once, and the active, seeing its lock connection fail, stops serving
// at once instead of at renew_deadline. Nothing acknowledged may be lost.
func resetDBActive(h *Harness) error {
	a, err := h.active()
	if err != nil {
		return err
	}
	px := h.DBProxy[a.ID]
	h.Timeline.Add(Event{Kind: "fault", Fault: "reset-db-active", Node: a.ID, Detail: "reset active→PostgreSQL connections, refuse new ones for " + h.cfg.Hold.String()})
	px.Cut()
	if _, err := h.Cluster.WaitActive(context.Background(), h.cfg.Recover, a); err != nil {
		px.Heal()
		return fmt.Errorf("reset-db-active: no takeover: %w", err)
	}
	time.Sleep(h.cfg.Hold)
	h.Timeline.Add(Event{Kind: "heal", Fault: "reset-db-active", Node: a.ID})
	px.Heal()
	return h.recovered("reset-db-active")
}

func plannedSwitchover(h *Harness) error {
	a, err := h.active()
	if err != nil {
		return err
	}
	h.Timeline.Add(Event{Kind: "fault", Fault: "switchover", Node: a.ID, Detail: "POST /ha/switchover"})
	if err := switchover(a); err != nil {
		return err
	}
	if _, err := h.Cluster.WaitActive(context.Background(), h.cfg.Recover, a); err != nil {
		return fmt.Errorf("switchover: %w", err)
	}
	return h.recovered("switchover")
}
