package source_test

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/streamha/streamha/internal/databridge"
	"github.com/streamha/streamha/internal/freeport"
	"github.com/streamha/streamha/internal/testcert"
	"github.com/streamha/streamha/node/config"
	"github.com/streamha/streamha/node/engine"
	"github.com/streamha/streamha/node/source"
)

// withTLS configures the sources' certificate and a free databridge_tls_listen; it returns the
// TLS address and a pool trusting the certificate.
func withTLS(t *testing.T) (func(*config.Config), string, *x509.CertPool) {
	cert, key, pool := testcert.Write(t, t.TempDir())
	addr, err := freeport.Addr()
	if err != nil {
		t.Fatal(err)
	}
	return func(c *config.Config) {
		c.SourceTLSCertFile, c.SourceTLSKeyFile, c.DatabridgeTLSListen = cert, key, addr
	}, addr, pool
}

func dialTLS(addr string, cfg *tls.Config) (*databridge.Client, *tls.Conn, error) {
	raw, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, nil, err
	}
	tc := tls.Client(raw, cfg)
	if err := tc.Handshake(); err != nil {
		raw.Close()
		return nil, nil, err
	}
	return databridge.NewClient(tc), tc, nil
}

// TestDatabridgeTLS: with a certificate configured the receiver also listens with TLS: a
// publisher logs in and publishes over TLS and its events arrive; TLS below 1.2 and plain text
// on the TLS port are refused; a session from the TLS port is good on the plain port too.
func TestDatabridgeTLS(t *testing.T) {
	tune, tlsAddr, pool := withTLS(t)
	n := startNode(t, sqliteURL(t), "a", bridgeApp, tune)
	waitFor(t, "active", n.serving)
	waitFor(t, "both databridge ports bound", func() bool { return len(n.sources.Bound()) == 2 })

	cl, conn, err := dialTLS(tlsAddr, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
	if err != nil {
		t.Fatalf("TLS handshake: %v", err)
	}
	defer cl.Close()
	if v := conn.ConnectionState().Version; v < tls.VersionTLS12 {
		t.Fatalf("TLS version %x", v)
	}
	if err := cl.Login("pub", "s3cret"); err != nil {
		t.Fatalf("login over TLS: %v", err)
	}
	if err := cl.Publish([]databridge.Event{trade(1), trade(2)}); err != nil {
		t.Fatalf("publish over TLS: %v", err)
	}
	if got := lastSeq(n); got != 2 {
		t.Fatalf("last seq after the TLS publish = %d, want 2", got)
	}
	waitFor(t, "outputs", func() bool { return len(n.outputs(t, "trades.jsonl")) == 2 })

	// The session is the receiver's, not the connection's: WSO2 publishers may log in on the
	// secure port and publish on the plain one.
	plain, err := databridge.Dial(n.bridge)
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	plain.Session = cl.Session
	if err := plain.Publish([]databridge.Event{trade(3)}); err != nil {
		t.Fatalf("publish on the plain port with the TLS session: %v", err)
	}

	// TLS 1.1 is refused by the handshake.
	if _, _, err := dialTLS(tlsAddr, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MaxVersion: tls.VersionTLS11}); err == nil {
		t.Fatal("a TLS 1.1 handshake succeeded")
	}
	// Plain text on the TLS port: no answer, nothing applied.
	pt, err := databridge.Dial(tlsAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer pt.Close()
	if err := pt.Login("pub", "s3cret"); err == nil || pt.Session != "" {
		t.Fatalf("plain-text login on the TLS port: err %v, session %q", err, pt.Session)
	} else if se := (*databridge.ServerError)(nil); errors.As(err, &se) {
		t.Fatalf("plain-text login on the TLS port got a protocol answer: %v", err)
	}
	if got := lastSeq(n); got != 3 {
		t.Fatalf("last seq = %d, want 3", got)
	}
}

// TestDatabridgeTLSClosedOnPassive: the TLS port follows the role like the plain one: closed on
// the passive, closed on the old active at a switchover and opened on the new one.
func TestDatabridgeTLSClosedOnPassive(t *testing.T) {
	url := sqliteURL(t)
	tuneA, tlsA, pool := withTLS(t)
	tuneB, tlsB, poolB := withTLS(t)
	a := startNode(t, url, "a", bridgeApp, tuneA)
	waitFor(t, "a active", a.serving)
	waitFor(t, "a's ports bound", func() bool { return len(a.sources.Bound()) == 2 })
	b := startNode(t, url, "b", bridgeApp, tuneB)
	waitFor(t, "b synced", func() bool { return a.ha.Status().Peer.Synced })
	refused := func(addr string) bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return false
		}
		return errors.Is(err, syscall.ECONNREFUSED)
	}
	if !refused(tlsB) {
		t.Fatal("the passive's databridge TLS port accepts connections")
	}
	cl, _, err := dialTLS(tlsA, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.Login("admin", "admin"); err != nil {
		t.Fatal(err)
	}
	if err := a.ha.Switchover(t.Context()); err != nil {
		t.Fatal(err)
	}
	if !refused(tlsA) {
		t.Fatal("the old active's databridge TLS port still accepts connections after the switchover")
	}
	if !refused(a.bridge) {
		t.Fatal("the old active's plain databridge port still accepts connections after the switchover")
	}
	if err := cl.Publish([]databridge.Event{trade(1)}); err == nil {
		t.Fatal("publish on the old active's TLS connection succeeded after the switchover")
	}
	waitFor(t, "b's TLS port open", func() bool { return !refused(tlsB) })
	cl2, _, err := dialTLS(tlsB, &tls.Config{RootCAs: poolB, ServerName: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	defer cl2.Close()
	if err := cl2.Login("admin", "admin"); err != nil {
		t.Fatal(err)
	}
	if err := cl2.Publish([]databridge.Event{trade(1)}); err != nil {
		t.Fatal(err)
	}
	if got := b.ha.Status().Apps["DB"].LastSeq; got != 1 {
		t.Fatalf("b last seq %d, want 1", got)
	}
}

// TestHTTPSSource: an https receiver.url is served with the sources' certificate; a plain
// HTTP request to it gets no event in; without a certificate the app is refused naming the key.
func TestHTTPSSource(t *testing.T) {
	port, err := freeport.Port()
	if err != nil {
		t.Fatal(err)
	}
	app := fmt.Sprintf(`@app:name('S')
@source(type='http', receiver.url='https://127.0.0.1:%d/orders', @map(type='json'))
define stream Orders (id long);
@sink(type='file', path='orders.jsonl')
define stream OrdersOut (id long);
from Orders select id insert into OrdersOut;`, port)
	tune, _, pool := withTLS(t)
	n := startNode(t, sqliteURL(t), "a", app, tune)
	waitFor(t, "active", n.serving)
	waitFor(t, "https source bound", func() bool { return len(n.sources.Bound()) == 1 })

	cl := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	req, _ := http.NewRequest(http.MethodPost, fmt.Sprintf("https://127.0.0.1:%d/orders", port), strings.NewReader(`{"event":{"id":7}}`))
	req.SetBasicAuth("pub", "s3cret")
	resp, err := cl.Do(req)
	if err != nil {
		t.Fatalf("https post: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.TLS == nil {
		t.Fatalf("https post: %d, tls %v", resp.StatusCode, resp.TLS != nil)
	}
	waitFor(t, "output", func() bool { return len(n.outputs(t, "orders.jsonl")) == 1 })
	if r := postAs(t, fmt.Sprintf("http://127.0.0.1:%d/orders", port), "pub", "s3cret", "", `{"event":{"id":8}}`); r.code == 200 {
		t.Fatal("a plain HTTP request to the https port was accepted")
	}
	if got := n.ha.Status().Apps["S"].LastSeq; got != 1 {
		t.Fatalf("last seq %d, want 1", got)
	}

	compiled, err := engine.Compile("s.siddhi", app)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := source.New([]*engine.App{compiled}, source.Config{Users: map[string]string{"pub": "s3cret"}}); err == nil || !strings.Contains(err.Error(), "source_tls_cert_file") {
		t.Fatalf("https without a certificate: %v", err)
	}
}
