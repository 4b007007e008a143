package source_test

import (
	"encoding/binary"
	"errors"
	"net"
	"reflect"
	"strings"
	"syscall"
	"testing"

	"github.com/streamha/streamha/internal/databridge"
	"github.com/streamha/streamha/node/config"
	"github.com/streamha/streamha/node/source/wso2event"
)

const bridgeApp = `@app:name('DB')
@source(type='wso2event')
define stream Trades (meta_host string, correlation_id long, symbol string, price double, volume long, qty int, ratio float, ok bool);
@source(type='wso2event', version='2.0.0', @map(type='wso2event'))
define stream Quotes (symbol string, bid double);
@sink(type='file', path='trades.jsonl')
define stream TradesOut (meta_host string, correlation_id long, symbol string, price double, volume long, qty int, ratio float, ok bool);
@sink(type='file', path='quotes.jsonl')
define stream QuotesOut (symbol string, bid double);
from Trades select meta_host, correlation_id, symbol, price, volume, qty, ratio, ok insert into TradesOut;
from Quotes select symbol, bid insert into QuotesOut;`

func trade(i int64) databridge.Event {
	return databridge.Event{
		StreamID: "Trades:1.0.0", Timestamp: 1_700_000_000_000 + i,
		Meta:        []any{"host-a"},
		Correlation: []any{i},
		Payload:     []any{"IBM", 1.5 * float64(i), int64(i) << 33, int32(-i), float32(0.25), i%2 == 0},
		Arbitrary:   map[string]string{"note": "ignored"},
	}
}

func lastSeq(n *node) uint64 { return n.ha.Status().Apps["DB"].LastSeq }

func wantClass(t *testing.T, err error, class, msg string) {
	t.Helper()
	var se *databridge.ServerError
	if !errors.As(err, &se) || se.Class != class || !strings.Contains(se.Message, msg) {
		t.Fatalf("answer %v, want %s containing %q", err, class, msg)
	}
}

// TestDatabridgeReceiver speaks WSO2's binary protocol with an independent client: login,
// publish to two streams with every attribute type, refusals, broken frames, logout.
func TestDatabridgeReceiver(t *testing.T) {
	n := startNode(t, sqliteURL(t), "a", bridgeApp)
	waitFor(t, "active", n.serving)
	waitFor(t, "databridge bound", func() bool { return len(n.sources.Bound()) == 1 })

	// Bad credentials: the protocol's AuthenticationException.
	cl, err := databridge.Dial(n.bridge)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	wantClass(t, cl.Login("pub", "wrong"), wso2event.ClassAuthentication, "not authorised")
	wantClass(t, cl.Login("nobody", "s3cret"), wso2event.ClassAuthentication, "not authorised")
	if err := cl.Login("pub", "s3cret"); err != nil || len(cl.Session) != 32 {
		t.Fatalf("login: %v session %q", err, cl.Session)
	}

	// One publish with both streams, interleaved; acknowledged once safe.
	evs := []databridge.Event{trade(1), {StreamID: "Quotes:2.0.0", Timestamp: 1_700_000_000_005, Payload: []any{"IBM", 99.5}}, trade(2)}
	if err := cl.Publish(evs); err != nil {
		t.Fatalf("publish: %v", err)
	}
	if got := lastSeq(n); got != 3 {
		t.Fatalf("last seq after publish = %d, want 3", got)
	}
	waitFor(t, "outputs", func() bool { return len(n.outputs(t, "trades.jsonl")) == 2 && len(n.outputs(t, "quotes.jsonl")) == 1 })
	tr := n.outputs(t, "trades.jsonl")
	want := map[string]any{"meta_host": "host-a", "correlation_id": 2.0, "symbol": "IBM", "price": 3.0,
		"volume": float64(int64(2) << 33), "qty": -2.0, "ratio": 0.25, "ok": true}
	if !reflect.DeepEqual(tr[1], want) {
		t.Fatalf("trade 2 = %v\nwant %v", tr[1], want)
	}
	if q := n.outputs(t, "quotes.jsonl")[0]; q["symbol"] != "IBM" || q["bid"] != 99.5 {
		t.Fatalf("quote = %v", q)
	}

	// An unknown stream id (here: the wrong version): nothing of the publish is applied.
	bad := []databridge.Event{trade(3), {StreamID: "Quotes:1.0.0", Payload: []any{"X", 1.0}}}
	wantClass(t, cl.Publish(bad), wso2event.ClassUndefinedEvent, "Quotes:1.0.0")
	// An event shorter than its stream's attributes, in a well-formed frame: the connection
	// stays usable.
	short := databridge.Event{StreamID: "Quotes:2.0.0", Payload: []any{"X"}}
	wantClass(t, cl.Publish([]databridge.Event{short}), wso2event.ClassMalformedEvent, "bid")
	if got := lastSeq(n); got != 3 {
		t.Fatalf("refused publishes applied something: last seq %d", got)
	}

	// A frame cut short (header says 100 bytes, 10 arrive, then the publisher goes): nothing
	// applied, and the receiver keeps serving others.
	cut, err := databridge.Dial(n.bridge)
	if err != nil {
		t.Fatal(err)
	}
	msg := databridge.AppendPublish(nil, cl.Session, []databridge.Event{trade(4)})
	binary.BigEndian.PutUint32(msg[1:5], 100)
	cut.WriteRaw(msg[:15])
	cut.Conn().(*net.TCPConn).CloseWrite()
	if _, err := cut.ReadAnswer(); err == nil {
		t.Fatal("a cut frame got an answer")
	}
	cut.Close()
	// A frame larger than the bound: the protocol's error, then the connection is closed.
	huge, _ := databridge.Dial(n.bridge)
	huge.WriteRaw([]byte{2, 0x7f, 0xff, 0xff, 0xff})
	_, err = huge.ReadAnswer()
	wantClass(t, err, wso2event.ClassMalformedEvent, "out of range")
	huge.Close()

	if err := cl.Publish([]databridge.Event{trade(5)}); err != nil {
		t.Fatalf("publish after the broken connections: %v", err)
	}
	if got := lastSeq(n); got != 4 {
		t.Fatalf("last seq = %d, want 4 (the cut frame must not count)", got)
	}

	// Logout; the session is gone for every connection.
	if err := cl.Logout(); err != nil {
		t.Fatalf("logout: %v", err)
	}
	wantClass(t, cl.Publish([]databridge.Event{trade(6)}), wso2event.ClassSessionTimeout, "log in again")
	if got := lastSeq(n); got != 4 {
		t.Fatalf("publish after logout applied: last seq %d", got)
	}
}

// TestDatabridgeClosedOnPassive: the passive's receiver port refuses connections; after a
// switchover the new active's opens and the old one's closes.
func TestDatabridgeClosedOnPassive(t *testing.T) {
	url := sqliteURL(t)
	a := startNode(t, url, "a", bridgeApp)
	waitFor(t, "a active", a.serving)
	b := startNode(t, url, "b", bridgeApp)
	waitFor(t, "b synced", func() bool { return a.ha.Status().Peer.Synced })
	refused := func(addr string) bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return false
		}
		return errors.Is(err, syscall.ECONNREFUSED)
	}
	if !refused(b.bridge) {
		t.Fatal("the passive's databridge port accepts connections")
	}
	cl, err := databridge.Dial(a.bridge)
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.Login("admin", "admin"); err != nil {
		t.Fatal(err)
	}
	if err := cl.Publish([]databridge.Event{trade(1)}); err != nil {
		t.Fatal(err)
	}
	if err := a.ha.Switchover(t.Context()); err != nil {
		t.Fatal(err)
	}
	if !refused(a.bridge) {
		t.Fatal("the old active's databridge port still accepts connections after the switchover")
	}
	waitFor(t, "b's port open", func() bool { return !refused(b.bridge) })
	if !b.serving() {
		t.Fatal("b's port opened before it served")
	}
	// The old connection is closed; the session does not exist on b: log in again there.
	if err := cl.Publish([]databridge.Event{trade(2)}); err == nil {
		t.Fatal("publish on the old active's connection succeeded after the switchover")
	}
	cl2, err := databridge.Dial(b.bridge)
	if err != nil {
		t.Fatal(err)
	}
	wantClass(t, func() error { cl2.Session = cl.Session; return cl2.Publish([]databridge.Event{trade(2)}) }(), wso2event.ClassSessionTimeout, "")
	if err := cl2.Login("admin", "admin"); err != nil {
		t.Fatal(err)
	}
	if err := cl2.Publish([]databridge.Event{trade(2)}); err != nil {
		t.Fatal(err)
	}
	if got := b.ha.Status().Apps["DB"].LastSeq; got != 2 {
		t.Fatalf("b last seq %d, want 2", got)
	}
}

var _ = config.Default
