package ha

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
)

// A delta revision's envelope carries only the idempotency keys answered after its parent; a
// chain restored from a base and deltas must give exactly the window the active had live, at
// every revision, whatever the window size and however often it wrapped.
func TestIdemDeltasRestoreTheLiveWindow(t *testing.T) {
	for seed := uint64(1); seed <= 200; seed++ {
		rng := rand.New(rand.NewPCG(seed, 7))
		size := 1 + rng.IntN(20)
		restore := func(old int) func() { return func() { idemWindowSize = old } }(idemWindowSize)
		idemWindowSize = size
		live := newIdemWindow(size)
		var chain []*envelope
		var tipSeq uint64
		seq := uint64(0)
		for step := 0; step < 60; step++ {
			// A batch: some events, maybe a key (a retry of a key still in the window adds nothing).
			n := 1 + uint64(rng.IntN(5))
			seq += n
			if rng.IntN(4) > 0 {
				key := fmt.Sprintf("k%d", rng.IntN(80))
				if _, dup := live.get(key); !dup {
					live.put(key, Answer{Accepted: int(n), FirstSeq: seq - n + 1, LastSeq: seq})
				}
			}
			if rng.IntN(5) != 0 {
				continue
			}
			// A revision: a base at the start or now and then, else a delta on the tip.
			var env envelope
			if len(chain) == 0 || rng.IntN(6) == 0 {
				env = envelope{Idem: live.records()}
				chain = chain[:0]
			} else {
				env = envelope{Idem: live.recordsAfter(tipSeq), IdemDelta: true}
			}
			tipSeq = seq
			got, err := decodeEnvelope(nil, env.encode())
			if err != nil {
				t.Fatal(err)
			}
			if got.IdemDelta != env.IdemDelta {
				t.Fatalf("seed %d: IdemDelta %v after a round trip, want %v", seed, got.IdemDelta, env.IdemDelta)
			}
			chain = append(chain, got)
			if want, have := live.records(), idemFromEnvelope(foldIdem(chain)).records(); !reflect.DeepEqual(want, have) {
				t.Fatalf("seed %d step %d (window %d, chain of %d): restored window\n%v\nwant the live one\n%v", seed, step, size, len(chain), have, want)
			}
		}
		restore()
	}
}

// recordsAfter returns exactly the keys answered after a sequence, oldest first, also when the
// window's ring has wrapped.
func TestIdemRecordsAfter(t *testing.T) {
	w := newIdemWindow(4)
	for i := 1; i <= 6; i++ { // keys 3..6 stay; the ring has wrapped
		w.put(fmt.Sprintf("k%d", i), Answer{LastSeq: uint64(10 * i)})
	}
	keys := func(rs []idemRecord) (out []string) {
		for _, r := range rs {
			out = append(out, r.Key)
		}
		return out
	}
	for _, c := range []struct {
		after uint64
		want  []string
	}{{0, []string{"k3", "k4", "k5", "k6"}}, {40, []string{"k5", "k6"}}, {45, []string{"k5", "k6"}}, {50, []string{"k6"}}, {60, nil}} {
		if got := keys(w.recordsAfter(c.after)); !reflect.DeepEqual(got, c.want) {
			t.Errorf("after %d: %v, want %v", c.after, got, c.want)
		}
	}
}

// envelopeEngine finds the engine blob of every envelope version without decoding the rest.
func TestEnvelopeEngine(t *testing.T) {
	env := envelope{Engine: []byte("engine-blob"), Idem: []idemRecord{{Key: "k", Answer: Answer{LastSeq: 3}}}, IdemDelta: true}
	p := env.encode()
	if got, err := envelopeEngine(p); err != nil || string(got) != "engine-blob" {
		t.Fatalf("version 3: %q, %v", got, err)
	}
	v2 := append(append([]byte{}, p[:8]...), p[9:]...) // no flags byte
	v2[7] = 2
	if got, err := envelopeEngine(v2); err != nil || string(got) != "engine-blob" {
		t.Fatalf("version 2: %q, %v", got, err)
	}
	for _, bad := range [][]byte{nil, []byte("SHAE"), p[:12], append([]byte("XXXX"), p[4:]...)} {
		if _, err := envelopeEngine(bad); err == nil {
			t.Errorf("envelopeEngine(%q) accepted a corrupt payload", bad)
		}
	}
}
