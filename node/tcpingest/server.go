package tcpingest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"

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

// NewServer returns a server feeding node.
func NewServer(node *ha.Node, log *slog.Logger) *Server {
	return &Server{node: node, log: log.With("component", "tcp-ingest")}
}

// Serve accepts connections until Close.
func (s *Server) Serve(ln net.Listener) error { return s.acc.Serve(ln, "tcp ingest", s.serve) }

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
	r := bufio.NewReaderSize(c, 1<<20)
	var buf []byte
	for {
		typ, p, err := ReadFrame(r, &buf)
		if err != nil {
			if !errors.Is(err, net.ErrClosed) && err.Error() != "EOF" {
				s.log.Warn("closing ingest connection", "remote", c.RemoteAddr().String(), "err", err)
				// Tell the client why before closing: a frame it can decode.
				_, _ = c.Write(AppendAck(nil, &Ack{Status: StatusBadRequest, Message: err.Error()}))
			}
			break
		}
		if typ != TypeBatch {
			_, _ = c.Write(AppendAck(nil, &Ack{Status: StatusBadRequest, Message: fmt.Sprintf("unknown frame type %d", typ)}))
			break
		}
		queue <- s.submit(p)
	}
	close(queue)
	<-writerDone
}

func (s *Server) submit(p []byte) inflight {
	b, err := DecodeBatch(p)
	if err != nil {
		return inflight{ack: &Ack{Status: StatusBadRequest, Message: err.Error()}}
	}
	bad := func(err error) inflight {
		return inflight{id: b.ID, ack: &Ack{ID: b.ID, Status: StatusBadRequest, Message: err.Error()}}
	}
	app, ok := s.node.App(b.App)
	if !ok {
		return bad(fmt.Errorf("unknown app %q", b.App))
	}
	def, ok := app.Stream(b.Stream)
	if !ok || !def.Defined {
		return bad(fmt.Errorf("unknown stream %q in app %q", b.Stream, b.App))
	}
	events := make([]ha.Event, len(b.Events))
	slab := make([]engine.Value, len(b.Events)*len(def.Attrs))
	for i, e := range b.Events {
		vals := slab[i*len(def.Attrs) : (i+1)*len(def.Attrs) : (i+1)*len(def.Attrs)]
		n, err := def.DecodeValuesInto(vals, e.Values)
		if err == nil && n != len(e.Values) {
			err = fmt.Errorf("%d trailing bytes", len(e.Values)-n)
		}
		if err != nil {
			return bad(fmt.Errorf("event %d: %w", i, err))
		}
		// The frame's own encoding is what the passive gets: Submit copies it before the next
		// frame reuses the buffer.
		events[i] = ha.Event{TS: e.TS, HasTS: e.TS != 0, Data: vals, Raw: e.Values}
	}
	pend, err := s.node.Submit(b.App, b.Stream, events, b.Key)
	if err != nil {
		return inflight{id: b.ID, ack: s.errAck(b.ID, err)}
	}
	return inflight{id: b.ID, pending: pend}
}

func (s *Server) errAck(id uint64, err error) *Ack {
	var na *ha.NotActiveError
	switch {
	case errors.As(err, &na):
		return &Ack{ID: id, Status: StatusNotActive, Message: s.activeTCP()}
	case errors.Is(err, ha.ErrNotAcknowledged), errors.Is(err, ha.ErrBacklog):
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
