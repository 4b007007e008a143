package tcpingest

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"unsafe"

	"github.com/streamha/streamha/internal/acceptor"
	"github.com/streamha/streamha/node/cluster"
	"github.com/streamha/streamha/node/engine"
	"github.com/streamha/streamha/node/ha"
)

// pipelineDepth bounds the batches a connection may have applied but not yet acknowledged.
const pipelineDepth = 256

// Server accepts binary ingest connections for a node.
type Server struct {
	node *ha.Node
	log  *slog.Logger

	acc acceptor.Acceptor
}

// readBufferSize is a connection's read buffer; frames larger than it are read straight into
// the frame buffer.
const readBufferSize = 64 << 10

// keepFrameBuffer is the largest frame buffer a connection keeps between frames; a larger one
// is dropped after its frame so idle connections do not hold megabytes each.
const keepFrameBuffer = 1 << 20

// NewServer returns a server feeding node.
func NewServer(node *ha.Node, log *slog.Logger) *Server {
	s := &Server{node: node, log: log.With("component", "tcp-ingest")}
	s.acc.Logger = s.log
	return s
}

// Serve accepts connections until Close, at most max_connections at once.
func (s *Server) Serve(ln net.Listener) error {
	return s.acc.Serve(acceptor.LimitListener(ln, s.node.Limits().MaxConnections), "tcp ingest", s.serve)
}

// Close stops accepting and closes every connection.
func (s *Server) Close() { s.acc.Close() }

type inflight struct {
	id      uint64
	pending *ha.Pending
	ack     *Ack // set when answered without waiting
}

func (s *Server) serve(c net.Conn) {
	defer c.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	queue := make(chan inflight, pipelineDepth)
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		s.writer(ctx, c, queue)
	}()
	r := bufio.NewReaderSize(c, readBufferSize)
	lim := s.node.Limits()
	var buf []byte
	for {
		var res *ha.Reservation
		typ, p, err := ReadFrameLimit(r, &buf, uint32(min(lim.TCPMaxFrameBytes, MaxFrame)), func(n uint32) error {
			var err error
			res, err = s.node.ReserveInput(ctx, int64(n))
			return err
		})
		if errors.Is(err, ha.ErrOverloaded) {
			// The frame was skipped unread: answer it (by its batch id) and go on.
			var id uint64
			if len(p) >= 8 {
				id = binary.BigEndian.Uint64(p)
			}
			queue <- inflight{id: id, ack: &Ack{ID: id, Status: StatusNotAcknowledged, Message: err.Error()}}
			continue
		}
		if err != nil {
			res.Release()
			if !errors.Is(err, net.ErrClosed) && err.Error() != "EOF" {
				s.log.Warn("closing ingest connection", "remote", c.RemoteAddr().String(), "err", err)
				// Tell the client why before closing: a frame it can decode, after the acks of
				// the frames before it.
				queue <- inflight{ack: &Ack{Status: StatusBadRequest, Message: err.Error()}}
			}
			break
		}
		if typ != TypeBatch {
			res.Release()
			queue <- inflight{ack: &Ack{Status: StatusBadRequest, Message: fmt.Sprintf("unknown frame type %d", typ)}}
			break
		}
		in := s.submit(ctx, p, res, lim)
		res.Release()
		if cap(buf) > keepFrameBuffer {
			buf = nil
		}
		queue <- in
	}
	close(queue)
	<-writerDone
}

func (s *Server) submit(ctx context.Context, p []byte, res *ha.Reservation, lim ha.Limits) inflight {
	b, err := DecodeBatchLimit(p, lim.MaxEventsPerRequest)
	if err != nil {
		var id uint64
		if b != nil {
			id = b.ID
		}
		return inflight{id: id, ack: &Ack{ID: id, Status: StatusBadRequest, Message: err.Error()}}
	}
	bad := func(err error) inflight {
		return inflight{id: b.ID, ack: &Ack{ID: b.ID, Status: StatusBadRequest, Message: err.Error()}}
	}
	if err := ha.CheckKey(b.Key); err != nil {
		return bad(err)
	}
	app, ok := s.node.App(b.App)
	if !ok {
		return bad(fmt.Errorf("unknown app %q", b.App))
	}
	def, ok := app.Stream(b.Stream)
	if !ok || !def.Defined {
		return bad(fmt.Errorf("unknown stream %q in app %q", b.Stream, b.App))
	}
	// The decoded events weigh more than their encoding: reserve them too.
	if err := res.Grow(ctx, int64(len(b.Events))*int64(unsafe.Sizeof(ha.Event{})+uintptr(len(def.Attrs))*unsafe.Sizeof(engine.Value{}))); err != nil {
		return inflight{id: b.ID, ack: &Ack{ID: b.ID, Status: StatusNotAcknowledged, Message: err.Error()}}
	}
	events, err := decodeEvents(def, b.Events)
	if err != nil {
		return bad(err)
	}
	pend, err := s.node.Submit(b.App, b.Stream, events, b.Key)
	if err != nil {
		return inflight{id: b.ID, ack: s.errAck(b.ID, err)}
	}
	return inflight{id: b.ID, pending: pend}
}

// decodeEvents decodes a batch's events against their stream's schema: every attribute, in
// order, and nothing after them.
func decodeEvents(def *engine.StreamDef, raw []RawEvent) ([]ha.Event, error) {
	events := make([]ha.Event, len(raw))
	n := len(def.Attrs)
	slab := make([]engine.Value, len(raw)*n)
	for i, e := range raw {
		vals := slab[i*n : (i+1)*n : (i+1)*n]
		used, err := def.DecodeValuesInto(vals, e.Values)
		if err == nil && used != len(e.Values) {
			err = fmt.Errorf("%d trailing bytes", len(e.Values)-used)
		}
		if err != nil {
			return nil, fmt.Errorf("event %d: %w", i, err)
		}
		// The frame's own encoding is what the passive gets: Submit copies it before the next
		// frame reuses the buffer.
		events[i] = ha.Event{TS: e.TS, HasTS: e.TS != 0, Data: vals, Raw: e.Values}
	}
	return events, nil
}

func (s *Server) errAck(id uint64, err error) *Ack {
	var na *ha.NotActiveError
	switch {
	case errors.As(err, &na):
		return &Ack{ID: id, Status: StatusNotActive, Message: s.activeTCP()}
	case errors.Is(err, ha.ErrNotAcknowledged), errors.Is(err, ha.ErrBacklog), errors.Is(err, ha.ErrOverloaded):
		return &Ack{ID: id, Status: StatusNotAcknowledged, Message: err.Error()}
	default:
		return &Ack{ID: id, Status: StatusBadRequest, Message: err.Error()}
	}
}

// activeTCP is the TCP ingest address of the lease holder, for redirects.
func (s *Server) activeTCP() string {
	v := s.node.Runner().View()
	for _, nd := range v.Nodes {
		if nd.NodeID == v.Lease.Holder {
			return nd.Properties[cluster.PropTCPAddr]
		}
	}
	return ""
}

func (s *Server) writer(ctx context.Context, c net.Conn, queue <-chan inflight) {
	w := bufio.NewWriterSize(c, 64<<10)
	failed := false
	for in := range queue {
		a := in.ack
		if a == nil {
			ans, err := in.pending.Wait(ctx)
			if err != nil {
				a = s.errAck(in.id, err)
			} else {
				a = &Ack{ID: in.id, Status: StatusOK, FirstSeq: ans.FirstSeq, LastSeq: ans.LastSeq}
				switch {
				case ans.Duplicate:
					a.Status = StatusDuplicate
				case ans.Alone:
					a.Status = StatusOKAlone
				}
			}
		}
		if failed {
			continue
		}
		_, _ = w.Write(AppendAck(nil, a))
		if len(queue) == 0 {
			if err := w.Flush(); err != nil {
				failed = true
			}
		}
	}
	_ = w.Flush()
}
