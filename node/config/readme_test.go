package config_test

import (
	"os"
	"strings"
	"testing"

	"github.com/streamha/streamha/node/config"
)

// TestREADMEDocumentsEveryKey keeps the README's configuration table in step with the code.
func TestREADMEDocumentsEveryKey(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	for _, k := range config.Keys() {
		if !strings.Contains(readme, "| `"+k.Name+"` | `"+k.Env+"` |") {
			t.Errorf("README's configuration table has no row for %s (%s)", k.Name, k.Env)
		}
	}
}
