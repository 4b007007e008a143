package engine_test

import (
	"os"
	"strings"
	"testing"

	"github.com/streamha/streamha/node/engine"
)

// TestREADMEAppsCompile compiles every app shown in the README (fenced blocks that start with
// @app:name), so the documented examples cannot drift from the language the engine accepts.
func TestREADMEAppsCompile(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := strings.Split(string(b), "```")
	n := 0
	for i := 1; i < len(blocks); i += 2 { // odd pieces are inside fences
		src := strings.TrimLeft(blocks[i], "\n")
		if !strings.HasPrefix(src, "@app:name") {
			continue
		}
		n++
		if _, err := engine.Compile("README.md", src); err != nil {
			t.Errorf("README app %d does not compile:\n%v", n, err)
		}
	}
	if n < 2 {
		t.Fatalf("found %d apps in the README, want at least 2", n)
	}
}
