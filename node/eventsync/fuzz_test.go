package eventsync

import (
	"bytes"
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
		q := NewQueue(1 << 20)
		if app, err := q.AppendFrame(p); err == nil {
			q.Trim(app, 2, 1)
			_, _ = q.Replay(app, 0)
		}
	})
}
