package cluster_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/streamha/streamha/node/cluster"
)

// The elector's safety property, checked against a simulated database on one time line:
//
//	whenever Leading(t) holds, t is before RenewDeadline past the send time of the last
//	acquire/renew reported successful to the elector, and the database still grants this node
//	the lease under the elector's term at t.
//
// The generator drives the elector the way the Runner does (sequential store calls, results
// reported when the answer arrives) through slow answers, answers lost after the database
// applied the call, long stalls of the process, a rival taking an expired lease, promotions and
// abdications. TestElectorPropertyCatchesBrokenElectors proves the generator reaches the
// deadline: mutated electors fail the same check.

// electorUnderTest is the part of *cluster.Elector a driver uses; mutants wrap the real one.
type electorUnderTest interface {
	Role() cluster.Role
	Term() int64
	Leading(now time.Time) bool
	Next(now time.Time) cluster.Op
	Registered() []cluster.Transition
	Tick(now time.Time) []cluster.Transition
	AcquireResult(sentAt time.Time, acquired bool, term int64) []cluster.Transition
	RenewResult(sentAt time.Time, ok, lost bool) []cluster.Transition
	LeaseSeen(sentAt time.Time, remaining time.Duration)
	Promoted(now time.Time, term int64) []cluster.Transition
	Abdicate(now time.Time, reason string) []cluster.Transition
	Rejoined() []cluster.Transition
}

type simAction int

const (
	actStoreCall simAction = iota // perform the operation Next asks for
	actTick
	actPromoted
	actAbdicate
)

// simStep is one step of a scenario: time passes, then the driver acts.
type simStep struct {
	Pause      time.Duration // local time passing first: a scheduling gap, or a stall (GC, VM pause)
	Action     simAction
	Delay      time.Duration // a store call's answer arrives this long after it was sent
	AppliedPM  int           // the database applies the call this many per mille into Delay
	AnswerLost bool          // the answer never reaches the driver (it sees an error), applied or not
	Rival      bool          // after the step, another node takes the lease if it has expired
}

func durationIn(lo, hi time.Duration) *rapid.Generator[time.Duration] {
	return rapid.Custom(func(t *rapid.T) time.Duration {
		return time.Duration(rapid.Int64Range(int64(lo), int64(hi)).Draw(t, "ns"))
	})
}

var (
	genPause = rapid.OneOf(
		durationIn(0, 300*time.Millisecond), durationIn(0, 300*time.Millisecond),
		durationIn(0, 300*time.Millisecond), durationIn(0, 300*time.Millisecond),
		durationIn(300*time.Millisecond, 2*time.Second), // around the renew deadline and the lease
		durationIn(2*time.Second, 30*time.Second),       // a long stall
	)
	genDelay = rapid.OneOf(
		durationIn(0, 50*time.Millisecond), durationIn(0, 50*time.Millisecond),
		durationIn(50*time.Millisecond, timing.RenewDeadline),
		durationIn(timing.Lease-timing.RenewDeadline, 2*timing.Lease), // past lease − renew_deadline
		durationIn(2*timing.Lease, 20*time.Second),
	)
	genStep = rapid.Custom(func(t *rapid.T) simStep {
		return simStep{
			Pause:      genPause.Draw(t, "pause"),
			Action:     rapid.SampledFrom([]simAction{actStoreCall, actStoreCall, actStoreCall, actStoreCall, actTick, actTick, actPromoted, actAbdicate}).Draw(t, "action"),
			Delay:      genDelay.Draw(t, "delay"),
			AppliedPM:  rapid.IntRange(0, 1000).Draw(t, "applied"),
			AnswerLost: rapid.IntRange(0, 4).Draw(t, "lost") == 0,
			Rival:      rapid.IntRange(0, 3).Draw(t, "rival") == 0,
		}
	})
	genScenario = rapid.SliceOfN(genStep, 1, 60)
)

// leaseSim drives one elector through a scenario against a simulated database.
type leaseSim struct {
	e   electorUnderTest
	now time.Time
	// The database's lease. Its clock runs on the same time line as the node's local clock.
	holder  string
	term    int64
	expires time.Time
	lastOK  time.Time // send time of the last acquire/renew reported successful to the elector
	trace   []string
}

const simSelf = "self"

func rel(t time.Time) time.Duration { return t.Sub(at(0)) }

func (s *leaseSim) logf(format string, args ...any) {
	s.trace = append(s.trace, fmt.Sprintf("%12s  ", rel(s.now))+fmt.Sprintf(format, args...))
}

// bound is the first instant at which the node must no longer lead, with the reason.
func (s *leaseSim) bound() (time.Time, string) {
	if s.holder != simSelf || s.term != s.e.Term() {
		return time.Time{}, fmt.Sprintf("the database lease is term %d held by %q", s.term, s.holder)
	}
	if dl := s.lastOK.Add(timing.RenewDeadline); dl.Before(s.expires) {
		return dl, fmt.Sprintf("the last successful call was sent at %s (renew deadline %s)", rel(s.lastOK), timing.RenewDeadline)
	}
	return s.expires, fmt.Sprintf("the database lease expired at %s", rel(s.expires))
}

// advanceTo lets time pass to t with the elector's state unchanged, checking every instant of
// [s.now, t]: Leading is a function of time alone until the next call changes the elector.
func (s *leaseSim) advanceTo(t time.Time) error {
	b, why := s.bound()
	probes := []time.Time{t}
	if !b.After(t) {
		probes = append(probes, maxTime(s.now, b))
	}
	for _, p := range probes {
		if s.e.Leading(p) && !p.Before(b) {
			return fmt.Errorf("leading at %s as %s of term %d, but %s", rel(p), s.e.Role(), s.e.Term(), why)
		}
	}
	s.now = t
	return nil
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// apply mirrors the Runner: a demoted node rejoins as passive once its callbacks have run.
func (s *leaseSim) apply(trs []cluster.Transition) {
	for _, tr := range trs {
		s.logf("%s -> %s (term %d): %s", tr.From, tr.To, tr.Term, tr.Reason)
	}
	if s.e.Role() == cluster.Demoted {
		s.apply(s.e.Rejoined())
	}
}

func (s *leaseSim) step(st simStep) error {
	if err := s.advanceTo(s.now.Add(st.Pause)); err != nil {
		return err
	}
	switch st.Action {
	case actTick:
		s.apply(s.e.Tick(s.now))
	case actPromoted:
		if s.e.Role() == cluster.Promoting {
			s.apply(s.e.Promoted(s.now, s.e.Term()))
		}
	case actAbdicate:
		if r := s.e.Role(); r == cluster.Promoting || r == cluster.Active {
			term := s.e.Term()
			s.apply(s.e.Abdicate(s.now, "test abdicates"))
			if s.holder == simSelf && s.term == term {
				s.holder, s.expires = "", s.now
				s.logf("database: released term %d", term)
			}
		}
	case actStoreCall:
		if err := s.storeCall(st); err != nil {
			return err
		}
	}
	if st.Rival && !s.expires.After(s.now) {
		s.holder, s.term, s.expires = "rival", s.term+1, s.now.Add(timing.Lease)
		s.logf("database: rival acquired term %d", s.term)
	}
	return nil
}

func (s *leaseSim) storeCall(st simStep) error {
	op := s.e.Next(s.now)
	if op == cluster.OpNone {
		return nil
	}
	sent := s.now
	term := s.e.Term()
	if err := s.advanceTo(sent.Add(st.Delay * time.Duration(st.AppliedPM) / 1000)); err != nil {
		return err
	}
	ok := false
	switch op {
	case cluster.OpAcquire:
		if s.holder == "" || !s.expires.After(s.now) {
			s.holder, s.term, s.expires = simSelf, s.term+1, s.now.Add(timing.Lease)
			ok = true
		}
		s.logf("database: acquire sent at %s: ok=%v term %d", rel(sent), ok, s.term)
	case cluster.OpRenew:
		if s.holder == simSelf && s.term == term && s.expires.After(s.now) {
			s.expires = s.now.Add(timing.Lease)
			ok = true
		}
		s.logf("database: renew of term %d sent at %s: ok=%v", term, rel(sent), ok)
	}
	remaining := s.expires.Sub(s.now)
	if err := s.advanceTo(sent.Add(st.Delay)); err != nil {
		return err
	}
	if st.AnswerLost {
		s.logf("answer lost")
		if op == cluster.OpRenew {
			s.apply(s.e.RenewResult(sent, false, false))
		}
		return nil
	}
	if ok && !sent.Before(s.lastOK) {
		s.lastOK = sent
	}
	if op == cluster.OpAcquire {
		if !ok {
			s.e.LeaseSeen(sent, remaining)
		}
		s.apply(s.e.AcquireResult(sent, ok, s.term))
	} else {
		s.apply(s.e.RenewResult(sent, ok, !ok))
	}
	return nil
}

// simulate runs a scenario and returns the first violation of the property, with a trace.
func simulate(steps []simStep, newElector func(clock func() time.Time) electorUnderTest) error {
	s := &leaseSim{now: at(0)}
	s.e = newElector(func() time.Time { return s.now })
	s.apply(s.e.Registered())
	for i, st := range steps {
		if err := s.step(st); err != nil {
			return fmt.Errorf("step %d: %w\n%s", i, err, strings.Join(s.trace, "\n"))
		}
	}
	// However the scenario ends, the node must not lead past its bound afterwards.
	if err := s.advanceTo(s.now.Add(10 * timing.Lease)); err != nil {
		return fmt.Errorf("after the last step: %w\n%s", err, strings.Join(s.trace, "\n"))
	}
	return nil
}

func realElector(func() time.Time) electorUnderTest { return cluster.NewElector(timing) }

func TestElectorNeverLeadsPastDeadline(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		if err := simulate(genScenario.Draw(rt, "steps"), realElector); err != nil {
			rt.Fatal(err)
		}
	})
}

// ignoresDeadline is a broken elector: it never demotes for lack of renewals and keeps leading
// until the store says the lease is lost.
type ignoresDeadline struct{ *cluster.Elector }

func (e ignoresDeadline) Leading(time.Time) bool {
	return e.Role() == cluster.Promoting || e.Role() == cluster.Active
}
func (e ignoresDeadline) Tick(time.Time) []cluster.Transition { return nil }
func (e ignoresDeadline) RenewResult(sentAt time.Time, ok, lost bool) []cluster.Transition {
	if !ok && !lost {
		return nil
	}
	return e.Elector.RenewResult(sentAt, ok, lost)
}
func (e ignoresDeadline) Promoted(now time.Time, term int64) []cluster.Transition {
	return e.Elector.Promoted(e.Deadline().Add(-time.Nanosecond), term)
}

// countsFromAnswer is a broken elector: it counts its lease from when the answer arrived, not
// from when the call was sent.
type countsFromAnswer struct {
	*cluster.Elector
	clock func() time.Time
}

func (e countsFromAnswer) AcquireResult(_ time.Time, acquired bool, term int64) []cluster.Transition {
	return e.Elector.AcquireResult(e.clock(), acquired, term)
}
func (e countsFromAnswer) RenewResult(_ time.Time, ok, lost bool) []cluster.Transition {
	return e.Elector.RenewResult(e.clock(), ok, lost)
}

// TestElectorPropertyCatchesBrokenElectors is the property's negative control: on the same
// scenario generator, electors that ignore the renew deadline or count it from the answer must
// be caught, or the generator does not reach the deadline and the property proves nothing.
func TestElectorPropertyCatchesBrokenElectors(t *testing.T) {
	mutants := map[string]func(clock func() time.Time) electorUnderTest{
		"ignores the renew deadline": func(func() time.Time) electorUnderTest {
			return ignoresDeadline{cluster.NewElector(timing)}
		},
		"counts from the answer": func(clock func() time.Time) electorUnderTest {
			return countsFromAnswer{cluster.NewElector(timing), clock}
		},
	}
	const examples = 100
	for name, mutant := range mutants {
		t.Run(name, func(t *testing.T) {
			caught := 0
			var first error
			for seed := 0; seed < examples; seed++ {
				steps := genScenario.Example(seed)
				if err := simulate(steps, realElector); err != nil {
					t.Fatalf("seed %d: the real elector fails: %v", seed, err)
				}
				if err := simulate(steps, mutant); err != nil {
					caught++
					if first == nil {
						first = err
					}
				}
			}
			if caught < examples/10 {
				t.Fatalf("the property caught the mutant in %d of %d scenarios: the generator rarely reaches the deadline", caught, examples)
			}
			t.Logf("caught in %d of %d scenarios; first: %v", caught, examples, strings.SplitN(first.Error(), "\n", 2)[0])
		})
	}
}
