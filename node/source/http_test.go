package source_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"syscall"
	"testing"

	"github.com/streamha/streamha/internal/freeport"
	"github.com/streamha/streamha/node/config"
	"github.com/streamha/streamha/node/engine"
	"github.com/streamha/streamha/node/source"
)

func httpApp(port int) string {
	return fmt.Sprintf(`@app:name('H')
@source(type='http', receiver.url='http://127.0.0.1:%[1]d/orders', @map(type='json'))
define stream Orders (id long, symbol string, qty int, price double, ok bool);
@source(type='http', receiver.url='http://127.0.0.1:%[1]d/nested', basic.auth.enabled='false',
    @map(type='json', @attributes(id='$.order.id', symbol='$.order.items[1].sym', qty='$.n')))
define stream Nested (id long, symbol string, qty int);
@sink(type='file', path='orders.jsonl')
define stream OrdersOut (id long, symbol string, qty int, price double, ok bool);
@sink(type='file', path='nested.jsonl')
define stream NestedOut (id long, symbol string, qty int);
from Orders select id, symbol, qty, price, ok insert into OrdersOut;
from Nested select id, symbol, qty insert into NestedOut;`, port)
}

type httpResult struct {
	code int
	body map[string]any
	hdr  http.Header
}

func postAs(t *testing.T, url, user, pass, key, body string) httpResult {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	json.NewDecoder(resp.Body).Decode(&m)
	return httpResult{resp.StatusCode, m, resp.Header}
}

func TestHTTPSource(t *testing.T) {
	port, err := freeport.Port()
	if err != nil {
		t.Fatal(err)
	}
	n := startNode(t, sqliteURL(t), "a", httpApp(port))
	waitFor(t, "active", n.serving)
	waitFor(t, "http source bound", func() bool { return len(n.sources.Bound()) == 1 })
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	orders := base + "/orders"

	// Authentication is on by default.
	if r := postAs(t, orders, "", "", "", `{"event":{"id":1}}`); r.code != 401 || r.hdr.Get("WWW-Authenticate") == "" {
		t.Fatalf("no credentials: %d %v", r.code, r.body)
	}
	if r := postAs(t, orders, "pub", "nope", "", `{"event":{"id":1}}`); r.code != 401 {
		t.Fatalf("wrong password: %d", r.code)
	}
	// Siddhi's {"event":{…}}, a bare object, and arrays of either: each answered once safe.
	bodies := []string{
		`{"event":{"id":1,"symbol":"A","qty":1,"price":1.5,"ok":true}}`,
		`{"id":2,"symbol":"B","qty":2,"price":2.5,"ok":false}`,
		`[{"event":{"id":3,"symbol":"C","qty":3,"price":3.5,"ok":true}},{"event":{"id":4,"symbol":"D","qty":4,"price":4.5,"ok":true}}]`,
		`[{"id":5,"symbol":"E","qty":5,"price":5.5,"ok":true}]`,
	}
	for i, b := range bodies {
		if r := postAs(t, orders, "pub", "s3cret", "", b); r.code != 200 || r.hdr.Get("X-HA-Node") != "a" {
			t.Fatalf("body %d: %d %v", i, r.code, r.body)
		}
	}
	// The same Idempotency-Key twice: the first answer, applied once.
	r1 := postAs(t, orders, "admin", "admin", "k1", `{"id":6,"symbol":"F","qty":6,"price":6.5,"ok":true}`)
	r2 := postAs(t, orders, "admin", "admin", "k1", `{"id":6,"symbol":"F","qty":6,"price":6.5,"ok":true}`)
	if r1.code != 200 || r2.code != 200 || r2.body["duplicate"] != true || r2.body["last_seq"] != r1.body["last_seq"] {
		t.Fatalf("idempotency: %v then %v", r1.body, r2.body)
	}
	// Bad input: 400 naming the attribute; nothing applied.
	for body, want := range map[string]string{
		`{"event":{"id":"x","symbol":"A","qty":1,"price":1,"ok":true}}`:      "attribute id",
		`{"event":{"id":7,"symbol":"A","qty":1,"price":1,"ok":true,"zz":1}}`: `unknown attribute "zz"`,
		`{"event":{"id":7,"symbol":"A","qty":1,"price":1}}`:                  "attribute ok is missing",
		`[{"id":7,"symbol":"A","qty":1,"price":1,"ok":true},{"id":"y"}]`:     "event 1",
		`{"id":7`: "malformed JSON",
		`42`:      "JSON object",
	} {
		if r := postAs(t, orders, "pub", "s3cret", "", body); r.code != 400 || !strings.Contains(fmt.Sprint(r.body["error"]), want) {
			t.Errorf("%s: %d %v, want 400 naming %q", body, r.code, r.body, want)
		}
	}
	// The JSONPath mapping, without authentication on this source.
	if r := postAs(t, base+"/nested", "", "", "", `{"order":{"id":10,"items":[{"sym":"X"},{"sym":"Y"}]},"n":3}`); r.code != 200 {
		t.Fatalf("nested: %d %v", r.code, r.body)
	}
	if r := postAs(t, base+"/nested", "", "", "", `{"order":{"id":11,"items":[{"sym":"X"}]},"n":3}`); r.code != 400 || !strings.Contains(fmt.Sprint(r.body["error"]), "$.order.items[1].sym") {
		t.Fatalf("nested path missing: %d %v", r.code, r.body)
	}
	if r := postAs(t, base+"/elsewhere", "", "", "", `{}`); r.code != 404 {
		t.Fatalf("unknown path: %d", r.code)
	}
	waitFor(t, "outputs", func() bool {
		return len(n.outputs(t, "orders.jsonl")) == 6 && len(n.outputs(t, "nested.jsonl")) == 1
	})
	if o := n.outputs(t, "orders.jsonl")[3]; o["id"] != 4.0 || o["symbol"] != "D" || o["price"] != 4.5 || o["ok"] != true {
		t.Fatalf("order 4 = %v", o)
	}
	if o := n.outputs(t, "nested.jsonl")[0]; o["id"] != 10.0 || o["symbol"] != "Y" || o["qty"] != 3.0 {
		t.Fatalf("nested = %v", o)
	}
}

// TestHTTPSourceClosedOnPassive: both nodes declare the same port (as one app does); only the
// active binds it, so the passive's is refused; after a switchover the other node answers.
func TestHTTPSourceClosedOnPassive(t *testing.T) {
	port, err := freeport.Port()
	if err != nil {
		t.Fatal(err)
	}
	url := sqliteURL(t)
	a := startNode(t, url, "a", httpApp(port))
	waitFor(t, "a bound", func() bool { return len(a.sources.Bound()) == 1 })
	b := startNode(t, url, "b", httpApp(port))
	waitFor(t, "b synced", func() bool { return a.ha.Status().Peer.Synced })
	if got := b.sources.Bound(); len(got) != 0 {
		t.Fatalf("passive bound %v", got)
	}
	orders := fmt.Sprintf("http://127.0.0.1:%d/orders", port)
	body := `{"id":1,"symbol":"A","qty":1,"price":1,"ok":true}`
	if r := postAs(t, orders, "pub", "s3cret", "", body); r.hdr.Get("X-HA-Node") != "a" || r.code != 200 {
		t.Fatalf("before switchover: %d %v", r.code, r.hdr)
	}
	if err := a.ha.Switchover(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := a.sources.Bound(); len(got) != 0 {
		t.Fatalf("old active still bound %v", got)
	}
	waitFor(t, "b bound", func() bool { return len(b.sources.Bound()) == 1 })
	r := postAs(t, orders, "pub", "s3cret", "", body)
	if r.code != 200 || r.hdr.Get("X-HA-Node") != "b" {
		t.Fatalf("after switchover: %d %v %v", r.code, r.body, r.hdr)
	}
	// Stopping b hands back to a (which opens the port); once a stops too, the port refuses.
	b.stop()
	a.stop()
	_, err = http.Post(orders, "application/json", strings.NewReader(body))
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("port after both stopped: %v", err)
	}
}

// TestSourceOptionTables: unknown options and bad mappings are refused when the app loads,
// naming the option and locating the annotation.
func TestSourceOptionTables(t *testing.T) {
	for _, c := range []struct{ ann, want string }{
		{`@source(type='http', receiver.url='http://0.0.0.0:8006/x', worker.count='4')`, `unknown option "worker.count" for @source(type='http')`},
		{`@source(type='http', receiver.url='ftp://0.0.0.0:8006/x')`, "want http://host:port/path or https://"},
		{`@source(type='http', receiver.url='http://0.0.0.0/x')`, "needs a port"},
		{`@source(type='http', basic.auth.enabled='yes')`, "basic.auth.enabled"},
		{`@source(type='http', @map(type='xml'))`, "@map(type='xml') is not supported"},
		{`@source(type='http', @map(type='json', enclosing.element='$.a'))`, `unknown @map option "enclosing.element"`},
		{`@source(type='http', @map(type='json', @attributes(a='$.x')))`, "does not map attribute b"},
		{`@source(type='http', @map(type='json', @attributes(a='x', b='$.y')))`, "must start with $"},
		{`@source(type='http', @map(type='json', @attributes(a='$.x[*]', b='$.y')))`, "not an array index"},
		{`@source(type='http', @map(type='json', @attributes(a='$.x', c='$.y')))`, `no attribute "c"`},
		{`@source(type='wso2event', stream.id='S:1')`, `unknown option "stream.id" for @source(type='wso2event')`},
		{`@source(type='wso2event', @map(type='json'))`, "only 'wso2event'"},
		{`@source(type='jms', destination='t')`, "unknown source type"},
		{`@source(type='kafka', topic='t')`, `unknown option "topic"`},
	} {
		src := "@app:name('X')\n" + c.ann + "\ndefine stream S (a long, b string);"
		app, err := engine.Compile("x.siddhi", src)
		if err != nil {
			t.Fatalf("%s: compile: %v", c.ann, err)
		}
		err = source.Check("x.siddhi", app)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "x.siddhi:2:1: stream S:") {
			t.Errorf("%s: %v, want x.siddhi:2:1 … %q", c.ann, err, c.want)
		}
	}
	// Node-level checks: credentials needed when a source authenticates, ports used once.
	app, _ := engine.Compile("x.siddhi", "@app:name('X')\n@source(type='wso2event') define stream S (a long);")
	if _, err := source.New([]*engine.App{app}, source.Config{DatabridgeListen: "127.0.0.1:9611"}); err == nil || !strings.Contains(err.Error(), "source_users") {
		t.Errorf("no users: %v", err)
	}
	two, _ := engine.Compile("y.siddhi", `@app:name('Y')
@source(type='http', receiver.url='http://0.0.0.0:8006/p', basic.auth.enabled='false') define stream S (a long);
@source(type='http', receiver.url='http://0.0.0.0:8006/p', basic.auth.enabled='false') define stream T (a long);`)
	if _, err := source.New([]*engine.App{two}, source.Config{}); err == nil || !strings.Contains(err.Error(), "both use 0.0.0.0:8006/p") {
		t.Errorf("same path twice: %v", err)
	}
	if _, err := config.ParseSourceUsers("a:b,c"); err == nil {
		t.Error("source_users entry without a password accepted")
	}
}

// TestHTTPSourceExpandsEnvironment: receiver.url may name its host or port by ${NAME}, as every
// source option may, so one app file binds each node of a pair to its own address; an unset
// variable is refused at load naming it.
func TestHTTPSourceExpandsEnvironment(t *testing.T) {
	port, err := freeport.Port()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("STREAMHA_TEST_SRC_HOST", "127.0.0.1")
	app, err := engine.Compile("e.siddhi", fmt.Sprintf(`@app:name('E')
@source(type='http', receiver.url='http://${STREAMHA_TEST_SRC_HOST}:%d/p', basic.auth.enabled='false')
define stream S (a long);`, port))
	if err != nil {
		t.Fatal(err)
	}
	m, err := source.New([]*engine.App{app}, source.Config{})
	if err != nil {
		t.Fatal(err)
	}
	m.Open(1)
	bound := m.Bound()
	m.Close()
	if want := fmt.Sprintf("127.0.0.1:%d", port); len(bound) != 1 || bound[0] != want {
		t.Fatalf("bound %v, want [%s]", bound, want)
	}
	unset, err := engine.Compile("u.siddhi", "@app:name('U')\n@source(type='http', receiver.url='http://${STREAMHA_TEST_UNSET_HOST}:8006/p')\ndefine stream S (a long);")
	if err != nil {
		t.Fatal(err)
	}
	if err := source.Check("u.siddhi", unset); err == nil || !strings.Contains(err.Error(), "option receiver.url: environment variable STREAMHA_TEST_UNSET_HOST is not set") {
		t.Fatalf("unset variable: %v", err)
	}
}
