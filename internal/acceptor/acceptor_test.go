package acceptor_test

import (
	"io"
	"net"
	"sync/atomic"
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
