// Package faultproxy is a TCP proxy that tests put between two processes to cut the link between
// them on demand: Cut drops every connection and refuses new ones (a reset), Blackhole keeps
// connections open but forwards nothing (a silent partition), Heal restores forwarding.
package faultproxy

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// Mode is what the proxy does with traffic.
type Mode int

// Proxy modes.
const (
	Pass      Mode = iota // forward both ways
	Reset                 // close every connection, refuse new ones
	Blackhole             // accept and hold connections, forward nothing
)

func (m Mode) String() string {
	switch m {
	case Pass:
		return "pass"
	case Reset:
		return "reset"
	case Blackhole:
		return "blackhole"
	}
	return fmt.Sprintf("mode(%d)", int(m))
}

// Proxy forwards connections from its listen address to a target address.
type Proxy struct {
	ln     net.Listener
	target string

	mu     sync.Mutex
	mode   Mode
	conns  map[*pair]struct{}
	healed chan struct{} // closed when the mode goes back to Pass
	closed bool
	wg     sync.WaitGroup
}

type pair struct{ a, b net.Conn }

func (p *pair) close() {
	p.a.Close()
	if p.b != nil {
		p.b.Close()
	}
}

// New listens on listen ("127.0.0.1:0" for any free port) and forwards to target.
func New(listen, target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, fmt.Errorf("faultproxy: listen: %w", err)
	}
	p := &Proxy{ln: ln, target: target, conns: map[*pair]struct{}{}, healed: make(chan struct{})}
	close(p.healed)
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Addr is the address clients dial.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Target is the address the proxy forwards to.
func (p *Proxy) Target() string { return p.target }

// Mode is the current mode.
func (p *Proxy) Mode() Mode {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.mode
}

// Set switches the mode. Reset and Blackhole both sever what is in flight: Reset closes the
// connections, Blackhole leaves them open and stalls them until Heal, which then closes them
// (their peers would otherwise see a gap in the byte stream).
func (p *Proxy) Set(m Mode) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.mode == m {
		return
	}
	prev := p.mode
	p.mode = m
	switch {
	case m == Pass:
		close(p.healed)
		if prev == Blackhole {
			p.dropAllLocked()
		}
	case prev == Pass:
		p.healed = make(chan struct{})
	}
	if m == Reset {
		p.dropAllLocked()
	}
}

// Cut is Set(Reset); Blackhole is Set(Blackhole); Heal is Set(Pass).
func (p *Proxy) Cut()       { p.Set(Reset) }
func (p *Proxy) Blackhole() { p.Set(Blackhole) }
func (p *Proxy) Heal()      { p.Set(Pass) }

func (p *Proxy) dropAllLocked() {
	for c := range p.conns {
		c.close()
		delete(p.conns, c)
	}
}

// Close stops listening and closes every connection.
func (p *Proxy) Close() error {
	p.mu.Lock()
	p.closed = true
	p.dropAllLocked()
	p.mu.Unlock()
	err := p.ln.Close()
	p.wg.Wait()
	return err
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(10 * time.Millisecond)
			continue
		}
		p.wg.Add(1)
		go p.serve(c)
	}
}

func (p *Proxy) serve(c net.Conn) {
	defer p.wg.Done()
	pr := &pair{a: c}
	p.mu.Lock()
	if p.closed || p.mode == Reset {
		p.mu.Unlock()
		c.Close()
		return
	}
	p.conns[pr] = struct{}{}
	healed := p.healed
	p.mu.Unlock()
	<-healed // a blackholed connection waits here; Heal closes it
	up, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	p.mu.Lock()
	if _, ok := p.conns[pr]; !ok || err != nil || p.mode != Pass {
		p.mu.Unlock()
		c.Close()
		if up != nil {
			up.Close()
		}
		return
	}
	pr.b = up
	p.mu.Unlock()
	done := make(chan struct{}, 2)
	go func() { p.copy(up, c); done <- struct{}{} }()
	go func() { p.copy(c, up); done <- struct{}{} }()
	<-done
	pr.close()
	<-done
	p.mu.Lock()
	delete(p.conns, pr)
	p.mu.Unlock()
}

// copy forwards src to dst chunk by chunk; in Blackhole mode a chunk is held until the mode
// changes (and then dropped: the connection is closed on Heal).
func (p *Proxy) copy(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.mu.Lock()
			mode, healed := p.mode, p.healed
			p.mu.Unlock()
			if mode != Pass {
				<-healed
				return
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			if err != io.EOF {
				return
			}
			if tc, ok := dst.(*net.TCPConn); ok {
				_ = tc.CloseWrite()
			}
			return
		}
	}
}
