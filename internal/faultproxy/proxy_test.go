package faultproxy_test

import (
	"bufio"
	"net"
	"testing"
	"time"

	"github.com/streamha/streamha/internal/faultproxy"
)

// echo starts a line echo server and returns its address.
func echo(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				for {
					l, err := r.ReadString('\n')
					if err != nil {
						return
					}
					c.Write([]byte(l))
				}
			}()
		}
	}()
	return ln.Addr().String()
}

func roundTrip(addr string, timeout time.Duration) error {
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(timeout))
	if _, err := c.Write([]byte("ping\n")); err != nil {
		return err
	}
	_, err = bufio.NewReader(c).ReadString('\n')
	return err
}

func MustProxy(t *testing.T) *faultproxy.Proxy {
	t.Helper()
	p, err := faultproxy.New("127.0.0.1:0", echo(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func TestPassCutHeal(t *testing.T) {
	p := MustProxy(t)
	if err := roundTrip(p.Addr(), time.Second); err != nil {
		t.Fatalf("pass: %v", err)
	}
	p.Cut()
	if err := roundTrip(p.Addr(), 300*time.Millisecond); err == nil {
		t.Fatal("cut: round trip succeeded")
	}
	p.Heal()
	if err := roundTrip(p.Addr(), time.Second); err != nil {
		t.Fatalf("healed: %v", err)
	}
}

func TestBlackholeStallsThenHeals(t *testing.T) {
	p := MustProxy(t)
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	c.Write([]byte("a\n"))
	if _, err := r.ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	p.Blackhole()
	c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	c.Write([]byte("b\n"))
	if _, err := r.ReadString('\n'); err == nil {
		t.Fatal("blackhole forwarded data")
	}
	if err := roundTrip(p.Addr(), 300*time.Millisecond); err == nil {
		t.Fatal("blackhole: a new connection got an answer")
	}
	p.Heal()
	if err := roundTrip(p.Addr(), time.Second); err != nil {
		t.Fatalf("healed: %v", err)
	}
}
