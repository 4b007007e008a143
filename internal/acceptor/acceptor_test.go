package acceptor_test

import (
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/streamha/streamha/internal/acceptor"
)

// TestCloseEndsConnectionsAndWaits: Close closes open connections, waits for their handlers,
// and makes Serve return nil; connections racing with Close never outlive it.
func TestCloseEndsConnectionsAndWaits(t *testing.T) {
	for round := 0; round < 20; round++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		var a acceptor.Acceptor
		var running atomic.Int32
		served := make(chan error, 1)
		go func() {
			served <- a.Serve(ln, "test", func(c net.Conn) {
				running.Add(1)
				defer running.Add(-1)
				io.Copy(io.Discard, c) // until Close closes the connection
			})
		}()
		var clients []net.Conn
		for i := 0; i < 5; i++ {
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			clients = append(clients, c)
		}
		if round%2 == 0 {
			time.Sleep(5 * time.Millisecond) // let some handlers start
		}
		a.Close()
		if n := running.Load(); n != 0 {
			t.Fatalf("round %d: %d handlers still running after Close", round, n)
		}
		select {
		case err := <-served:
			if err != nil {
				t.Fatalf("Serve after Close: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Serve did not return after Close")
		}
		for _, c := range clients {
			c.Close()
		}
	}
}

// TestServeAfterClose returns at once and closes the listener.
func TestServeAfterClose(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var a acceptor.Acceptor
	a.Close()
	if err := a.Serve(ln, "test", func(net.Conn) { t.Error("handler ran") }); err != nil {
		t.Fatal(err)
	}
	if _, err := ln.Accept(); err == nil {
		t.Fatal("listener still open")
	}
}

// flakyListener fails Accept with errs, in order, then hands out conns; after those it blocks
// until closed.
type flakyListener struct {
	errs    []error
	conns   chan net.Conn
	closed  chan struct{}
	once    atomic.Bool
	accepts atomic.Int32
}

func (l *flakyListener) Accept() (net.Conn, error) {
	n := int(l.accepts.Add(1)) - 1
	if n < len(l.errs) {
		return nil, l.errs[n]
	}
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *flakyListener) Close() error {
	if l.once.CompareAndSwap(false, true) {
		close(l.closed)
	}
	return nil
}

func (l *flakyListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }

func emfile() error {
	return &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.EMFILE)}
}

// TestServeSurvivesTemporaryErrors: a burst of EMFILE (too many open files) and other temporary
// accept errors does not end the loop; the next connection is still served.
func TestServeSurvivesTemporaryErrors(t *testing.T) {
	errs := []error{emfile(), emfile(), emfile(),
		&net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.ENFILE)},
		&net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.ECONNABORTED)},
		emfile()}
	l := &flakyListener{errs: errs, conns: make(chan net.Conn, 1), closed: make(chan struct{})}
	server, client := net.Pipe()
	defer client.Close()
	l.conns <- server
	var a acceptor.Acceptor
	handled := make(chan struct{})
	served := make(chan error, 1)
	go func() {
		served <- a.Serve(l, "test", func(c net.Conn) {
			close(handled)
			io.Copy(io.Discard, c)
		})
	}()
	select {
	case <-handled:
	case err := <-served:
		t.Fatalf("Serve gave up after a temporary error: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("the connection after the errors was not handled")
	}
	if n := l.accepts.Load(); n < int32(len(errs)+1) {
		t.Fatalf("%d accepts, want at least %d", n, len(errs)+1)
	}
	a.Close()
	if err := <-served; err != nil {
		t.Fatalf("Serve after Close: %v", err)
	}
}

// TestServeReturnsPermanentErrors: an error that is not temporary still ends the loop, named.
func TestServeReturnsPermanentErrors(t *testing.T) {
	l := &flakyListener{errs: []error{errors.New("listener broken")}, conns: make(chan net.Conn), closed: make(chan struct{})}
	var a acceptor.Acceptor
	err := a.Serve(l, "test", func(net.Conn) {})
	if err == nil || !strings.Contains(err.Error(), "test: accept: listener broken") {
		t.Fatalf("Serve = %v", err)
	}
}

// TestCloseDuringBackoff: Close ends a Serve that is waiting out a temporary error.
func TestCloseDuringBackoff(t *testing.T) {
	errs := make([]error, 1000)
	for i := range errs {
		errs[i] = emfile()
	}
	l := &flakyListener{errs: errs, conns: make(chan net.Conn), closed: make(chan struct{})}
	var a acceptor.Acceptor
	served := make(chan error, 1)
	go func() { served <- a.Serve(l, "test", func(net.Conn) {}) }()
	deadline := time.Now().Add(10 * time.Second)
	for l.accepts.Load() < 3 { // into the backoff (5 ms, 10 ms, 20 ms ...)
		select {
		case err := <-served:
			t.Fatalf("Serve gave up after a temporary error: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("Serve did not retry")
		}
		runtime.Gosched()
	}
	a.Close()
	select {
	case err := <-served:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after Close during backoff")
	}
}

func TestTemporary(t *testing.T) {
	if !acceptor.Temporary(emfile()) {
		t.Error("EMFILE is not temporary")
	}
	if acceptor.Temporary(net.ErrClosed) || acceptor.Temporary(errors.New("x")) {
		t.Error("a closed listener is temporary")
	}
}

// TestLimitListener: with a limit of 2, a third connection is accepted only once one of the
// first two closes.
func TestLimitListener(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := acceptor.LimitListener(inner, 2)
	defer ln.Close()
	accepted := make(chan net.Conn, 3)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				close(accepted)
				return
			}
			accepted <- c
		}
	}()
	for i := 0; i < 3; i++ {
		c, err := net.Dial("tcp", inner.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	first, second := <-accepted, <-accepted
	select {
	case <-accepted:
		t.Fatal("a third connection was accepted while two were open")
	case <-time.After(200 * time.Millisecond): // the bound: nothing may arrive meanwhile
	}
	first.Close()
	first.Close() // a second Close does not free another slot
	select {
	case c := <-accepted:
		c.Close()
	case <-time.After(10 * time.Second):
		t.Fatal("the third connection was not accepted after one closed")
	}
	second.Close()
	ln.Close()
	for range accepted {
	}
}
