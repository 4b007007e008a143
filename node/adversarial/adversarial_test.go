// Package adversarial attacks a running pair of node processes the way a careless or hostile
// client would (huge and malformed bodies, oversized frames, stalled uploads, long idempotency
// keys, file descriptor exhaustion) and checks that every attack gets a clear refusal, that
// neither node's memory passes 512 MiB, that the listeners keep answering, and that no
// acknowledged event of a client running meanwhile is lost.
package adversarial

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/streamha/streamha/internal/hatest"
	"github.com/streamha/streamha/internal/procstat"
	"github.com/streamha/streamha/node/tcpingest"
)

var nodeBin string

func TestMain(m *testing.M) {
	os.Exit(hatest.MainWithNode(m, &nodeBin, func(m *testing.M) int { return m.Run() }))
}

// rssLimit is the memory neither node may pass during the attacks.
const rssLimit = 512 << 20

// readTimeout is the nodes' rest_read_timeout: stalled uploads are cut after it.
const readTimeout = 2 * time.Second

// rssWatch samples the nodes' RSS until stopped and keeps the peak of each.
type rssWatch struct {
	mu   sync.Mutex
	peak map[string]int64
	stop chan struct{}
	done chan struct{}
}

func watchRSS(c *hatest.Cluster) *rssWatch {
	w := &rssWatch{peak: map[string]int64{}, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			for _, p := range c.Nodes {
				if pid := p.PID(); pid != 0 {
					if n, err := procstat.RSS(pid); err == nil {
						w.mu.Lock()
						w.peak[p.ID] = max(w.peak[p.ID], n)
						w.mu.Unlock()
					}
				}
			}
			select {
			case <-w.stop:
				return
			case <-tick.C:
			}
		}
	}()
	return w
}

// check fails t if a node passed rssLimit so far, naming the attack.
func (w *rssWatch) check(t *testing.T, attack string) {
	t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	for id, n := range w.peak {
		if n > rssLimit {
			t.Errorf("after %s: %s peaked at %d MiB RSS (limit %d MiB)", attack, id, n>>20, rssLimit>>20)
		}
		t.Logf("after %s: %s peak RSS %d MiB", attack, id, n>>20)
	}
}

func (w *rssWatch) close() {
	close(w.stop)
	<-w.done
}

type pair struct {
	c       *hatest.Cluster
	client  *hatest.Client
	stop    context.CancelFunc
	done    chan struct{}
	active  *hatest.Proc
	passive *hatest.Proc
}

func startPair(t *testing.T) *pair {
	t.Helper()
	apps, _ := filepath.Abs("../demo/apps")
	dir := t.TempDir()
	c, err := hatest.NewCluster(hatest.Options{
		Bin: nodeBin, Dir: dir, N: 2, AppsDir: apps, ClusterDB: "sqlite://" + filepath.Join(dir, "ha.db"),
		Extra: []string{"--persist_interval", "1s", "--rest_read_timeout", readTimeout.String()},
	})
	if err != nil {
		t.Fatal(err)
	}
	hatest.Cleanup(t, c)
	ctx := context.Background()
	if err := c.StartPair(ctx, 60*time.Second); err != nil {
		t.Fatal(err)
	}
	p := &pair{c: c, client: hatest.NewClient(c), done: make(chan struct{})}
	p.active = c.Active()
	p.passive = c.Peer(p.active)
	cctx, cancel := context.WithCancel(ctx)
	p.stop = cancel
	go func() {
		defer close(p.done)
		p.client.Run(cctx, 10, 5*time.Millisecond)
	}()
	return p
}

// post sends body with extra headers to url and returns the status and the answer's text.
func post(url string, body []byte, hdr map[string]string) (int, string, error) {
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode, string(b), nil
}

// closedBy reads c until the peer closes it, failing if it stays open for 15 s.
func closedBy(c net.Conn) error {
	_ = c.SetReadDeadline(time.Now().Add(15 * time.Second))
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return errors.New("still open after 15 s")
	}
	return nil
}

// TestAttacks runs the attacks of issue 12 one after the other against one pair under load.
func TestAttacks(t *testing.T) {
	p := startPair(t)
	w := watchRSS(p.c)
	defer w.close()
	events := p.active.URL() + "/events/Orders/OrderStream"

	t.Run("3 MB of empty objects", func(t *testing.T) {
		body := []byte("[" + strings.Repeat("{},", 999_999) + "{}]")
		var wg sync.WaitGroup
		for i := 0; i < 4; i++ { // at once, then again: one used to take a node to 1 GiB
			wg.Add(1)
			go func() {
				defer wg.Done()
				for j := 0; j < 2; j++ {
					code, msg, err := post(events, body, nil)
					if err != nil || code != http.StatusRequestEntityTooLarge || !strings.Contains(msg, "max_events_per_request") {
						t.Errorf("[{},…] ×1M: %d %q %v, want 413 naming max_events_per_request", code, msg, err)
					}
				}
			}()
		}
		wg.Wait()
		code, msg, err := post(events, []byte(`[{},{}]`), nil)
		if err != nil || code != http.StatusBadRequest || !strings.Contains(msg, "missing attribute id, symbol, qty, price") {
			t.Errorf("[{},{}]: %d %q %v, want 400 naming the missing attributes", code, msg, err)
		}
		w.check(t, "3 MB bodies")
	})

	t.Run("body over max_request_bytes", func(t *testing.T) {
		code, msg, err := post(events, bytes.Repeat([]byte(" "), 8<<20), nil)
		if err != nil || code != http.StatusRequestEntityTooLarge || !strings.Contains(msg, "max_request_bytes") {
			t.Errorf("8 MiB body: %d %q %v, want 413 naming max_request_bytes", code, msg, err)
		}
	})

	t.Run("long idempotency keys", func(t *testing.T) {
		ev := []byte(`{"id":-1,"symbol":"X","qty":0,"price":0}`)
		code, msg, err := post(events, ev, map[string]string{"Idempotency-Key": strings.Repeat("k", 1000)})
		if err != nil || code != http.StatusBadRequest || !strings.Contains(msg, "the limit is 256") {
			t.Errorf("1000-byte key: %d %q %v, want 400 naming the limit", code, msg, err)
		}
		// A 1 MB key is over the 64 KiB header bound: net/http refuses it before the handler.
		code, msg, err = post(events, ev, map[string]string{"Idempotency-Key": strings.Repeat("k", 1<<20)})
		if err != nil || code != http.StatusRequestHeaderFieldsTooLarge {
			t.Errorf("1 MB key: %d %q %v, want 431", code, msg, err)
		}
	})

	t.Run("pre-auth sync frames of 64 MiB", func(t *testing.T) {
		var wg sync.WaitGroup
		for i := 0; i < 6; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c, err := net.Dial("tcp", p.passive.SyncAddr)
				if err != nil {
					t.Error(err)
					return
				}
				defer c.Close()
				hdr := binary.BigEndian.AppendUint32(nil, 64<<20)
				hdr = append(hdr, 2) // a hello
				if _, err := c.Write(hdr); err != nil {
					t.Error(err)
					return
				}
				// Keep sending the declared payload until the server hangs up.
				chunk := make([]byte, 1<<20)
				sent := 0
				_ = c.SetWriteDeadline(time.Now().Add(20 * time.Second))
				for sent < 64<<20 {
					n, err := c.Write(chunk)
					sent += n
					if err != nil {
						break
					}
				}
				if sent >= 64<<20 {
					t.Errorf("the passive read all of a 64 MiB frame from an unauthenticated peer")
				}
				if err := closedBy(c); err != nil {
					t.Errorf("pre-auth connection: %v", err)
				}
			}()
		}
		wg.Wait()
		w.check(t, "pre-auth frames")
	})

	t.Run("oversized TCP frames", func(t *testing.T) {
		for _, n := range []uint32{5 << 20, 32 << 20} {
			c, err := net.Dial("tcp", p.active.TCPAddr)
			if err != nil {
				t.Fatal(err)
			}
			hdr := append(binary.BigEndian.AppendUint32(nil, n), tcpingest.TypeBatch)
			if _, err := c.Write(hdr); err != nil {
				t.Fatal(err)
			}
			_ = c.SetReadDeadline(time.Now().Add(15 * time.Second))
			var buf []byte
			_, pl, err := tcpingest.ReadFrame(bufio.NewReader(c), &buf)
			c.Close()
			if err != nil {
				t.Fatalf("%d-byte frame: no answer: %v", n, err)
			}
			ack, err := tcpingest.DecodeAck(pl)
			if err != nil || ack.Status != tcpingest.StatusBadRequest || !strings.Contains(ack.Message, "tcp_max_frame_bytes") {
				t.Errorf("%d-byte frame: ack %+v %v, want status 4 naming tcp_max_frame_bytes", n, ack, err)
			}
		}
	})

	t.Run("stalled uploads", func(t *testing.T) {
		var wg sync.WaitGroup
		for i := 0; i < 8; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c, err := net.Dial("tcp", p.active.RESTAddr)
				if err != nil {
					t.Error(err)
					return
				}
				defer c.Close()
				fmt.Fprintf(c, "POST /events/Orders/OrderStream HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n[", 4<<20)
				c.Write(bytes.Repeat([]byte(`{"id":1,"symbol":"A","qty":1,"price":1},`), 100))
				start := time.Now()
				// Stall: the node must give up on us after rest_read_timeout.
				_ = c.SetReadDeadline(time.Now().Add(15 * time.Second))
				resp, err := http.ReadResponse(bufio.NewReader(c), nil)
				took := time.Since(start)
				var ne net.Error
				switch {
				case errors.As(err, &ne) && ne.Timeout():
					t.Errorf("a stalled upload was held for 15 s (rest_read_timeout %s)", readTimeout)
				case err == nil && resp.StatusCode != http.StatusRequestTimeout:
					t.Errorf("stalled upload: status %d, want 408", resp.StatusCode)
				case took > readTimeout+10*time.Second:
					t.Errorf("stalled upload cut after %s (rest_read_timeout %s)", took, readTimeout)
				}
			}()
		}
		wg.Wait()
		w.check(t, "stalled uploads")
	})

	// Every attack so far was refused without costing the active its lease.
	if a := p.c.Active(); a != p.active {
		t.Errorf("the active changed during the attacks")
	}

	t.Run("file descriptors exhausted on the passive", func(t *testing.T) {
		emfileBurst(t, p)
	})

	p.stop()
	<-p.done
	for _, n := range p.c.Nodes {
		if err := n.Stop(60 * time.Second); err != nil {
			t.Errorf("clean stop: %v", err)
		}
	}
	w.check(t, "every attack")
	hatest.CheckNoLoss(t, p.c, p.client)
}

// prlimitNofile sets the soft RLIMIT_NOFILE of pid (the hard one stays, so it can be raised
// back) and returns the previous soft limit.
func prlimitNofile(pid int, soft uint64) (uint64, error) {
	var old syscall.Rlimit
	if _, _, e := syscall.RawSyscall6(syscall.SYS_PRLIMIT64, uintptr(pid), uintptr(syscall.RLIMIT_NOFILE),
		0, uintptr(unsafe.Pointer(&old)), 0, 0); e != 0 {
		return 0, e
	}
	lim := syscall.Rlimit{Cur: soft, Max: old.Max}
	if _, _, e := syscall.RawSyscall6(syscall.SYS_PRLIMIT64, uintptr(pid), uintptr(syscall.RLIMIT_NOFILE),
		uintptr(unsafe.Pointer(&lim)), 0, 0, 0); e != 0 {
		return 0, e
	}
	return old.Cur, nil
}

func openFDs(pid int) int {
	ents, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	return len(ents)
}

// waitLog waits until the node's log has a line holding every one of parts.
func waitLog(t *testing.T, p *hatest.Proc, parts ...string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		b, _ := os.ReadFile(p.LogPath)
		for _, line := range strings.Split(string(b), "\n") {
			ok := true
			for _, s := range parts {
				ok = ok && strings.Contains(line, s)
			}
			if ok {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never logged a line with %q", p.ID, parts)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// emfileBurst lowers the passive's file limit, exhausts it with idle REST connections so that
// the sync and TCP accept loops hit EMFILE, releases them, and checks both listeners answer.
func emfileBurst(t *testing.T, p *pair) {
	node := p.passive
	pid := node.PID()
	limit := uint64(openFDs(pid) + 12)
	old, err := prlimitNofile(pid, limit)
	if err != nil {
		t.Fatalf("cannot lower the node's RLIMIT_NOFILE (needs the same user or CAP_SYS_RESOURCE): %v", err)
	}
	restored := false
	restore := func() {
		if !restored {
			restored = true
			if _, err := prlimitNofile(pid, old); err != nil {
				t.Errorf("restore RLIMIT_NOFILE: %v", err)
			}
		}
	}
	defer restore()
	var idle []net.Conn
	defer func() {
		for _, c := range idle {
			c.Close()
		}
	}()
	for i := 0; i < 40; i++ { // more than the limit leaves: keep-alive clients that never send
		c, err := net.Dial("tcp", node.RESTAddr)
		if err != nil {
			t.Fatal(err)
		}
		idle = append(idle, c)
	}
	deadline := time.Now().Add(20 * time.Second)
	for uint64(openFDs(pid)) < limit {
		if time.Now().After(deadline) {
			t.Fatalf("the passive has %d of %d file descriptors open: not exhausted", openFDs(pid), limit)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Now the sync and TCP listeners get a connection each, which they cannot accept.
	for _, addr := range []string{node.SyncAddr, node.TCPAddr} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		idle = append(idle, c)
	}
	waitLog(t, node, "too many open files", "eventsync")
	waitLog(t, node, "too many open files", "tcp ingest")
	for _, c := range idle {
		c.Close()
	}
	idle = nil
	restore()

	// The sync server answers a new connection with its challenge.
	c, err := net.Dial("tcp", node.SyncAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	var hdr [5]byte
	if _, err := io.ReadFull(c, hdr[:]); err != nil {
		t.Fatalf("sync server after EMFILE: no challenge: %v", err)
	}
	// The TCP ingest answers a batch (not active: status 3).
	tc, err := net.Dial("tcp", node.TCPAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	if _, err := tc.Write(tcpingest.AppendBatch(nil, &tcpingest.Batch{ID: 5, App: "Orders", Stream: "OrderStream"})); err != nil {
		t.Fatal(err)
	}
	_ = tc.SetReadDeadline(time.Now().Add(10 * time.Second))
	var buf []byte
	_, pl, err := tcpingest.ReadFrame(tc, &buf)
	if err != nil {
		t.Fatalf("TCP ingest after EMFILE: no answer: %v", err)
	}
	if ack, err := tcpingest.DecodeAck(pl); err != nil || ack.ID != 5 {
		t.Fatalf("TCP ingest after EMFILE: ack %+v %v", ack, err)
	}
	// And the pair is whole again: the active's session to the passive is (still or again) up.
	if err := p.c.WaitPeerConnected(context.Background(), 30*time.Second); err != nil {
		t.Fatal(err)
	}
}
