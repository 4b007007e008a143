package bench

import (
	"strings"
	"testing"
)

// TestAloneAcksAreNotCountedForHAModes: an HA mode's figure counts only what the passive held.
func TestAloneAcksAreNotCountedForHAModes(t *testing.T) {
	r := &Results{Rates: []Rate{
		{Mode: "standalone", Transport: "tcp", Nodes: 1, Acked: Acked{Alone: 100}},
		{Mode: "ha-ack", Transport: "tcp", Nodes: 2, Acked: Acked{Held: 60, Alone: 30}},
	}}
	if got := r.rate("ha-ack", "tcp"); got != 60 {
		t.Errorf("ha-ack rate %v, want 60 (held only)", got)
	}
	if got := r.rate("standalone", "tcp"); got != 100 {
		t.Errorf("standalone rate %v, want 100", got)
	}
	if md := r.Markdown(); !strings.Contains(md, "| ha-ack | 60 (+30 alone) |") || !strings.Contains(md, "TCP 0.60") {
		t.Errorf("report:\n%s", md)
	}
}
