package procstat

import (
	"os"
	"testing"
)

func TestRSSOfThisProcess(t *testing.T) {
	n, err := RSS(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if n <= 0 {
		t.Fatalf("RSS %d", n)
	}
	if _, err := RSS(-1); err == nil {
		t.Fatal("RSS(-1): want an error")
	}
}
