package eventsync

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"log/slog"
	"net"
	"strings"
	"testing"
)

// FuzzDecodeFrames feeds arbitrary bytes to every frame decoder: errors are fine, panics and
// huge allocations are not.
func FuzzDecodeFrames(f *testing.F) {
	f.Add(appendEntries(nil, "app", ents(1, 2, 3)))
	f.Add((&ack{QueueBytes: 10, Apps: []AppSeq{{"a", 3}}}).encode())
	f.Add((&hello{Version: 1, Group: "g", From: "a", To: "b", Term: 4, MAC: []byte{1}}).encode())
	f.Add((&control{App: "a", Seq: 9, Revision: 2}).encode())
	f.Add((&AppSeq{App: "a", Seq: 7}).encode())
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, p []byte) {
		var e entries
		if e.decode(p) == nil {
			again := appendEntries(nil, e.App, e.Entries)
			if !bytes.Equal(again, p) {
				t.Fatalf("entries do not round-trip")
			}
		}
		var a ack
		_ = a.decode(p)
		var h hello
		_ = h.decode(p)
		var c control
		_ = c.decode(p)
		var d AppSeq
		_ = d.decode(p)
		var ch challenge
		_ = ch.decode(p)
		var w welcome
		_ = w.decode(p)
		_, _ = decodeTerm(p)
		_ = decodeReason(p)
		var buf []byte
		_, _, _ = readFrame(bytes.NewReader(p), &buf)
		// A bounded read never buffers more than its bound, whatever the header claims.
		if _, _, err := readFrameMax(bytes.NewReader(p), &buf, 64); err == nil && cap(buf) > 64 {
			t.Fatalf("a 64-byte-bounded read buffered %d bytes", cap(buf))
		}
		q := NewQueue(1 << 20)
		if app, err := q.AppendFrame(p); err == nil {
			q.Trim(app, 2, 1)
			_, _ = q.Replay(app, 0)
		}
	})
}

// FuzzHandshake feeds arbitrary bytes to the passive's side of the handshake, as a stranger on
// the sync port would: it must refuse them (the token is never sent, so no input can pass),
// never panic, and never read a frame larger than MaxHandshakeFrame.
func FuzzHandshake(f *testing.F) {
	h := hello{Version: ProtocolVersion, Group: "g", From: "a", To: "p", Term: 3, MAC: make([]byte, 32)}
	f.Add(appendFrame(nil, typeHello, h.encode()))
	f.Add(appendFrame(nil, typeHello, (&hello{Version: 1, Group: "g", From: "a", To: "p"}).encode()))
	f.Add(appendFrame(nil, typeEntries, appendEntries(nil, "app", ents(1, 2))))
	f.Add(binary.BigEndian.AppendUint32(nil, MaxFrame))
	f.Add(binary.BigEndian.AppendUint32(nil, MaxHandshakeFrame+1))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, in []byte) {
		s, err := NewServer(ServerConfig{Group: "g", NodeID: "p", Token: testToken, VerifyHolder: anyHolder, MaxQueueBytes: 1 << 20, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		srv, cli := net.Pipe()
		done := make(chan struct{})
		go func() {
			defer close(done)
			defer cli.Close()
			var buf []byte
			if _, _, err := readFrame(cli, &buf); err != nil { // the challenge
				return
			}
			go func() { // all of in, then end of input
				_, _ = cli.Write(in)
				cli.Close()
			}()
			for { // drain a refusal until either side closes
				if _, _, err := readFrame(cli, &buf); err != nil {
					return
				}
			}
		}()
		_, err = s.handshake(srv, bufio.NewReaderSize(srv, MaxHandshakeFrame))
		srv.Close()
		<-done
		if err == nil {
			t.Fatal("a handshake without the token passed")
		}
		if len(in) >= 4 {
			if n := binary.BigEndian.Uint32(in); n > MaxHandshakeFrame && !strings.Contains(err.Error(), "limit 4096") {
				t.Fatalf("a %d-byte hello was not refused by its header: %v", n, err)
			}
		}
	})
}
