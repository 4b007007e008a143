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
