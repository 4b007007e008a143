package ha_test

import (
	"context"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/streamha/streamha/node/config"
	"github.com/streamha/streamha/node/engine"
	"github.com/streamha/streamha/node/tcpingest"
)

// tcpAcks sends frames on a fresh connection and reads n acks.
func tcpAcks(t *testing.T, addr string, frames []byte, n int) []*tcpingest.Ack {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write(frames); err != nil {
		t.Fatal(err)
	}
	var acks []*tcpingest.Ack
	var buf []byte
	for i := 0; i < n; i++ {
		conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, p, err := tcpingest.ReadFrame(conn, &buf)
		if err != nil {
			t.Fatalf("ack %d: %v", i, err)
		}
		a, err := tcpingest.DecodeAck(p)
		if err != nil {
			t.Fatal(err)
		}
		acks = append(acks, a)
	}
	return acks
}

func tcpBatch(id uint64, key string, n int) []byte {
	ev := tcpingest.RawEvent{Values: tcpingest.EncodeEvent([]engine.Value{engine.LongValue(int64(id)), engine.DoubleValue(1)})}
	evs := make([]tcpingest.RawEvent, n)
	for i := range evs {
		evs[i] = ev
	}
	return tcpingest.AppendBatch(nil, &tcpingest.Batch{ID: id, App: "T", Stream: "S", Key: key, Events: evs})
}

// TestIngestLimits: over each input limit, REST and TCP give a clear error naming the limit and
// apply nothing; with the input budget taken, REST answers 503 with Retry-After and TCP status
// 5, and both take input again once it is free.
func TestIngestLimits(t *testing.T) {
	url := "sqlite://" + filepath.Join(t.TempDir(), "ha.db")
	a := startNode(t, url, "a", "limits-test-secret-0123", func(c *config.Config) {
		c.SyncMode = config.SyncAsync
		c.MaxRequestBytes = 2 << 10
		c.MaxEventsPerRequest = 5
		c.TCPMaxFrameBytes = 2 << 10
		c.MaxInflightInputBytes = 1 << 20
	})
	waitFor(t, "a active", func() bool { _, ok := a.node.Runner().Serving(); return ok })
	ev := `{"id":1,"v":1}`
	events := a.rest.URL + "/events/T/S"
	cases := []struct {
		name, key, body string
		code            int
		want            string
	}{
		{"body over max_request_bytes", "", "[" + strings.Repeat(ev+",", 200) + ev + "]", 413, "max_request_bytes"},
		{"events over max_events_per_request", "", "[" + strings.Repeat(ev+",", 5) + ev + "]", 413, "max_events_per_request"},
		{"empty objects", "", `[{},{}]`, 400, "missing attribute id, v"},
		{"missing attribute", "", `{"id":1}`, 400, "missing attribute v"},
		{"long idempotency key", strings.Repeat("k", 257), ev, 400, "Idempotency-Key is 257 bytes, the limit is 256"},
	}
	for _, tc := range cases {
		resp, m := post(t, events, "", tc.key, tc.body)
		if resp.StatusCode != tc.code || !strings.Contains(m["error"].(string), tc.want) {
			t.Errorf("%s: %d %v, want %d naming %q", tc.name, resp.StatusCode, m, tc.code, tc.want)
		}
	}
	var frames []byte
	frames = append(frames, tcpBatch(1, strings.Repeat("k", 257), 1)...)
	frames = append(frames, tcpBatch(2, "", 6)...)
	frames = append(frames, tcpBatch(3, "", 200)...) // over tcp_max_frame_bytes: closes the connection
	acks := tcpAcks(t, a.tcp, frames, 3)
	for i, want := range []string{"Idempotency-Key is 257 bytes", "max_events_per_request", "tcp_max_frame_bytes"} {
		if acks[i].Status != tcpingest.StatusBadRequest || !strings.Contains(acks[i].Message, want) {
			t.Errorf("TCP ack %d = %+v, want status 4 naming %q", i, acks[i], want)
		}
	}
	// Nothing of the refused requests was applied: the next event is the first.
	resp, m := post(t, events, "", "", ev)
	if resp.StatusCode != 200 || m["first_seq"] != 1.0 {
		t.Fatalf("first good request: %d %v", resp.StatusCode, m)
	}

	// The whole input budget taken: 503 with Retry-After, TCP status 5 on a connection that
	// stays usable.
	hold, err := a.node.ReserveInput(context.Background(), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	resp, m = post(t, events, "", "", ev)
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" || !strings.Contains(m["error"].(string), "max_inflight_input_bytes") {
		t.Errorf("REST over budget: %d %v %v", resp.StatusCode, m, resp.Header)
	}
	conn, err := net.Dial("tcp", a.tcp)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.Write(tcpBatch(7, "", 1))
	var buf []byte
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, p, err := tcpingest.ReadFrame(conn, &buf)
	if err != nil {
		t.Fatal(err)
	}
	if ack, _ := tcpingest.DecodeAck(p); ack.ID != 7 || ack.Status != tcpingest.StatusNotAcknowledged || !strings.Contains(ack.Message, "max_inflight_input_bytes") {
		t.Errorf("TCP over budget: %+v", ack)
	}
	hold.Release()
	conn.Write(tcpBatch(8, "", 1))
	_, p, err = tcpingest.ReadFrame(conn, &buf)
	if err != nil {
		t.Fatal(err)
	}
	if ack, _ := tcpingest.DecodeAck(p); ack.ID != 8 || ack.Status > tcpingest.StatusOKAlone || ack.FirstSeq != 2 {
		t.Errorf("TCP after the budget is free: %+v", ack)
	}
	if resp, m := post(t, events, "", "", ev); resp.StatusCode != http.StatusOK || m["first_seq"] != 3.0 {
		t.Errorf("REST after the budget is free: %d %v", resp.StatusCode, m)
	}
	if got := a.node.InflightInputBytes(); got != 0 {
		t.Errorf("%d input bytes still reserved after every request", got)
	}
}
