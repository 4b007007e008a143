package hatest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// MainWithNode is a TestMain body for packages that run node processes: it builds the node
// binary once into a temp dir, stores its path in *bin, runs the tests through run (e.g.
// pgtest.Main, or m.Run), and removes the binary.
func MainWithNode(m *testing.M, bin *string, run func(*testing.M) int) int {
	dir, err := os.MkdirTemp("", "streamha-node-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	*bin = filepath.Join(dir, "node")
	out, err := exec.Command("go", "build", "-o", *bin, "github.com/streamha/streamha/node").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "build node: %v\n%s", err, out)
		return 1
	}
	return run(m)
}
