package engine

import (
	"strconv"
	"testing"

	"pgregory.net/rapid"
)

// TestGroupTableModel checks the table against a Go map under random inserts and removals.
func TestGroupTableModel(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		tab := newGroupTable()
		model := map[string]bool{}
		ops := rapid.IntRange(1, 400).Draw(rt, "ops")
		for o := 0; o < ops; o++ {
			k := strconv.Itoa(rapid.IntRange(0, 60).Draw(rt, "key"))
			if rapid.Bool().Draw(rt, "insert") {
				_, added := tab.lookup([]byte(k), true)
				if added == model[k] {
					rt.Fatalf("insert %s: added %v, model has %v", k, added, model[k])
				}
				model[k] = true
			} else if i, _ := tab.lookup([]byte(k), false); i >= 0 {
				if !model[k] {
					rt.Fatalf("found %s not in model", k)
				}
				tab.remove(i)
				delete(model, k)
			} else if model[k] {
				rt.Fatalf("lost %s", k)
			}
			if tab.len() != len(model) {
				rt.Fatalf("len %d, model %d", tab.len(), len(model))
			}
		}
		for k := range model {
			if i, _ := tab.lookup([]byte(k), false); i < 0 || string(tab.key(i)) != k {
				rt.Fatalf("missing %s", k)
			}
		}
	})
}

func TestGroupTableCompaction(t *testing.T) {
	tab := newGroupTable()
	key := func(i int) []byte { return []byte(strconv.Itoa(i) + "-0123456789012345678901234567890123456789") }
	for i := range 5000 {
		tab.lookup(key(i), true)
	}
	for i := 0; i < 5000; i += 5 {
		for j := i; j < i+4; j++ {
			g, _ := tab.lookup(key(j), false)
			tab.remove(g)
		}
	}
	if tab.len() != 1000 || len(tab.arena) > 100_000 {
		t.Fatalf("len %d arena %d", tab.len(), len(tab.arena))
	}
	for i := 4; i < 5000; i += 5 {
		if g, _ := tab.lookup(key(i), false); g < 0 || string(tab.key(g)) != string(key(i)) {
			t.Fatalf("lost key %d", i)
		}
	}
}
