// Package acceptor runs a listener's accept loop for servers that must stop cleanly: Close
// closes the listener and every open connection, then waits for their handlers. A connection
// is counted under the lock Close takes first, so none slips in after Close began waiting.
// Temporary accept errors (EMFILE, ENFILE, ECONNABORTED, ...) are retried with backoff, as
// net/http does, so a burst of them does not stop the loop for good.
package acceptor

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"syscall"
	"time"
)

// Backoff after a temporary accept error: doubling from minBackoff up to maxBackoff (net/http's
// values), reset by the next successful accept.
const (
	minBackoff = 5 * time.Millisecond
	maxBackoff = time.Second
)

// Acceptor tracks the connections of one listener. The zero value is ready to use; it serves
// one listener and cannot be reused after Close.
type Acceptor struct {
	mu     sync.Mutex
	ln     net.Listener
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
	stop   chan struct{} // closed by Close: ends a backoff wait

	// Logger, when set, logs temporary accept errors (at most one line per backoff episode).
	Logger *slog.Logger
}

// Serve accepts connections on ln and runs handle for each in its own goroutine until Close,
// when it returns nil. Timeouts and temporary errors of Accept (too many open files, a
// connection aborted before it was accepted) are retried with backoff; any other accept error is
// returned, prefixed with name.
func (a *Acceptor) Serve(ln net.Listener, name string, handle func(net.Conn)) error {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		ln.Close()
		return nil
	}
	a.ln = ln
	stop := a.stopChan()
	a.mu.Unlock()
	var delay time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if a.Closed() {
				return nil
			}
			if !Temporary(err) {
				return fmt.Errorf("%s: accept: %w", name, err)
			}
			if delay == 0 {
				delay = minBackoff
				if a.Logger != nil {
					a.Logger.Warn("accept failed; retrying with backoff", "listener", name, "err", err)
				}
			} else if delay *= 2; delay > maxBackoff {
				delay = maxBackoff
			}
			t := time.NewTimer(delay)
			select {
			case <-t.C:
			case <-stop:
				t.Stop()
				return nil
			}
			continue
		}
		delay = 0
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

// Temporary reports whether an accept error is worth retrying: a timeout, running out of file
// descriptors or buffers, or a connection the peer aborted before it was accepted. The listener
// still works once the condition passes.
func Temporary(err error) bool {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	for _, e := range []syscall.Errno{syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM, syscall.ECONNABORTED, syscall.ECONNRESET, syscall.EINTR, syscall.EAGAIN, syscall.EPROTO, syscall.EPERM} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// stopChan returns the channel Close closes; a.mu must be held.
func (a *Acceptor) stopChan() chan struct{} {
	if a.stop == nil {
		a.stop = make(chan struct{})
	}
	return a.stop
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
	if !a.closed {
		close(a.stopChan())
	}
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
