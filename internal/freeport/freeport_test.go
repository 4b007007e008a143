package freeport_test

import (
	"net"
	"testing"

	"github.com/streamha/streamha/internal/freeport"
)

// TestPortsAreFreshAndBindable: many ports in a row, none twice, each bindable.
func TestPortsAreFreshAndBindable(t *testing.T) {
	seen := map[int]bool{}
	for i := 0; i < 200; i++ {
		p, err := freeport.Port()
		if err != nil {
			t.Fatal(err)
		}
		if seen[p] {
			t.Fatalf("port %d handed out twice", p)
		}
		seen[p] = true
	}
	a, err := freeport.Addr()
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", a)
	if err != nil {
		t.Fatalf("cannot bind %s: %v", a, err)
	}
	l.Close()
}
