// Package acceptor runs a listener's accept loop for servers that must stop cleanly: Close
// closes the listener and every open connection, then waits for their handlers. A connection
// is counted under the lock Close takes first, so none slips in after Close began waiting.
package acceptor

import (
	"errors"
	"fmt"
	"net"
	"sync"
)

// Acceptor tracks the connections of one listener. The zero value is ready to use; it serves
// one listener and cannot be reused after Close.
type Acceptor struct {
	mu     sync.Mutex
	ln     net.Listener
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

// Serve accepts connections on ln and runs handle for each in its own goroutine until Close,
// when it returns nil. Timeouts of Accept are retried; any other accept error is returned,
// prefixed with name.
func (a *Acceptor) Serve(ln net.Listener, name string, handle func(net.Conn)) error {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		ln.Close()
		return nil
	}
	a.ln = ln
	a.mu.Unlock()
	for {
		c, err := ln.Accept()
		if err != nil {
			if a.Closed() {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return fmt.Errorf("%s: accept: %w", name, err)
		}
		if !a.track(c) {
			c.Close()
			return nil
		}
		go func() {
			defer a.untrack(c)
			handle(c)
		}()
	}
}

func (a *Acceptor) track(c net.Conn) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return false
	}
	if a.conns == nil {
		a.conns = map[net.Conn]struct{}{}
	}
	a.conns[c] = struct{}{}
	a.wg.Add(1)
	return true
}

func (a *Acceptor) untrack(c net.Conn) {
	a.mu.Lock()
	delete(a.conns, c)
	a.mu.Unlock()
	a.wg.Done()
}

// Closed reports whether Close was called.
func (a *Acceptor) Closed() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.closed
}

// Close stops accepting, closes every open connection and waits for their handlers.
func (a *Acceptor) Close() {
	a.mu.Lock()
	a.closed = true
	if a.ln != nil {
		a.ln.Close()
	}
	for c := range a.conns {
		c.Close()
	}
	a.mu.Unlock()
	a.wg.Wait()
}
