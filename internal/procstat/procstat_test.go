package procstat

import (
	"os"
	"testing"
	"time"
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

// TestCPUGrowsWithWork: the process's CPU time moves once it has spun for a few ticks.
func TestCPUGrowsWithWork(t *testing.T) {
	c0, err := CPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	x := 0
	for {
		for i := 0; i < 1_000_000; i++ {
			x += i
		}
		c1, err := CPU(os.Getpid())
		if err != nil {
			t.Fatal(err)
		}
		if c1 > c0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("CPU stayed at %v after spinning 30 s (x %d)", c0, x)
		}
	}
	if _, err := CPU(-1); err == nil {
		t.Fatal("CPU(-1): want an error")
	}
}
