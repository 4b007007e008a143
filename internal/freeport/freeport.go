// Package freeport hands out loopback TCP ports that are free now and that this process has not
// handed out before: a harness that picks several ports before starting the servers that bind
// them never gets the same port twice (the kernel may offer a just-closed port again).
package freeport

import (
	"fmt"
	"net"
	"strconv"
	"sync"
)

var (
	mu    sync.Mutex
	given = map[int]bool{}
)

// Port returns a loopback port that is free and was not returned before in this process.
func Port() (int, error) {
	for try := 0; try < 100; try++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, fmt.Errorf("free port: %w", err)
		}
		p := l.Addr().(*net.TCPAddr).Port
		l.Close()
		mu.Lock()
		fresh := !given[p]
		given[p] = true
		mu.Unlock()
		if fresh {
			return p, nil
		}
	}
	return 0, fmt.Errorf("free port: no port not handed out before in 100 tries")
}

// Addr is Port as a "127.0.0.1:port" address.
func Addr() (string, error) {
	p, err := Port()
	if err != nil {
		return "", err
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(p)), nil
}
