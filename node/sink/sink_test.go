package sink_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"strings"
	"syscall"
	"testing"

	"github.com/streamha/streamha/node/engine"
	"github.com/streamha/streamha/node/sink"
	_ "github.com/streamha/streamha/node/sink/all"
)

func out(id string, v int64) *engine.Output {
	return &engine.Output{ID: id, Stream: "O", TS: v, Attrs: []engine.Attr{{Name: "v", Type: engine.TypeLong}},
		Data: []engine.Value{engine.LongValue(v)}}
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestOpenErrors(t *testing.T) {
	for _, spec := range []engine.SinkSpec{
		{Type: "kafka"}, {Type: "file"}, {Type: "http"}, {Type: "http", Options: map[string]string{"url": "ftp://x"}},
	} {
		if _, err := sink.Open(spec, "A", "O", quiet()); !errors.Is(err, sink.ErrConfig) {
			t.Errorf("%+v: %v", spec, err)
		}
	}
}

func TestLogSink(t *testing.T) {
	var buf bytes.Buffer
	s, err := sink.Open(engine.SinkSpec{Type: "log"}, "A", "O", slog.New(slog.NewTextHandler(&buf, nil)))
	if err != nil {
		t.Fatal(err)
	}
	s.Write(context.Background(), []*engine.Output{out("A/q1/1/0", 5)})
	if !strings.Contains(buf.String(), `id=A/q1/1/0`) || !strings.Contains(buf.String(), `stream=O`) {
		t.Fatal(buf.String())
	}
}

func TestValidateRefusesUnknownOptions(t *testing.T) {
	for _, c := range []struct {
		spec engine.SinkSpec
		want string // "" = valid
	}{
		{engine.SinkSpec{Type: "file", Options: map[string]string{"path": "x", "fsync": "batch"}}, ""},
		{engine.SinkSpec{Type: "file", Options: map[string]string{"path": "x", "fsync": "none"}}, ""},
		{engine.SinkSpec{Type: "log", Options: map[string]string{"prefix": "p"}}, ""},
		{engine.SinkSpec{Type: "http", Options: map[string]string{"url": "http://h/x", "method": "PUT"}}, ""},
		{engine.SinkSpec{Type: "file", Options: map[string]string{"path": "x", "fsyn": "batch"}}, "unknown option fsyn (want path, fsync, on.error)"},
		{engine.SinkSpec{Type: "file", Options: map[string]string{"path": "x", "fsync": "always"}}, `bad fsync "always"`},
		{engine.SinkSpec{Type: "file"}, "missing option path"},
		{engine.SinkSpec{Type: "log", Options: map[string]string{"level": "x"}}, "unknown option level"},
		{engine.SinkSpec{Type: "http", Options: map[string]string{"url": "http://h", "on.error": "log"}}, ""},
		{engine.SinkSpec{Type: "file", Options: map[string]string{"path": "x", "on.error": "wait"}}, ""},
		{engine.SinkSpec{Type: "file", Options: map[string]string{"path": "x", "on.error": "store"}}, ""},
		{engine.SinkSpec{Type: "http", Options: map[string]string{"url": "http://h", "on.error": "drop"}}, `bad on.error "drop": want wait or log or store`},
		{engine.SinkSpec{Type: "http", Options: map[string]string{"url": "http://h", "batch.size": "500", "pipeline.depth": "8",
			"blocking.io": "true", "socket.idle.timeout": "2000", "headers": "'X-A:1','X-B: two'", "basic.auth.username": "u", "basic.auth.password": "p"}}, ""},
		{engine.SinkSpec{Type: "http", Options: map[string]string{"url": "http://h", "batch.size": "0"}}, `bad batch.size "0"`},
		{engine.SinkSpec{Type: "http", Options: map[string]string{"url": "http://h", "headers": "nocolon"}}, `bad headers "nocolon"`},
		{engine.SinkSpec{Type: "http", Options: map[string]string{"url": "http://h", "basic.auth.username": "u"}}, "go together"},
		{engine.SinkSpec{Type: "http", Options: map[string]string{"url": "http://h", "batchsize": "5"}}, "unknown option batchsize"},
		{engine.SinkSpec{Type: "jms"}, `unknown sink type "jms"`},
		{engine.SinkSpec{Type: "kafka", Options: map[string]string{"topic": "t"}}, "missing option bootstrap.servers"},
	} {
		err := sink.Validate(c.spec)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%+v: %v", c.spec, err)
		case c.want != "" && (!errors.Is(err, sink.ErrConfig) || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%+v: %v, want an ErrConfig naming %q", c.spec, err, c.want)
		}
	}
}

func TestKind(t *testing.T) {
	for _, c := range []struct {
		err  error
		want string
	}{
		{fmt.Errorf("x: %w", &fs.PathError{Op: "write", Err: syscall.ENOSPC}), sink.KindNoSpace},
		{&fs.PathError{Op: "write", Err: syscall.EDQUOT}, sink.KindNoSpace},
		{&fs.PathError{Op: "open", Err: syscall.EROFS}, sink.KindReadOnly},
		{&fs.PathError{Op: "sync", Err: syscall.EIO}, sink.KindIO},
		{&fs.PathError{Op: "open", Err: syscall.EACCES}, sink.KindPermission},
		{fmt.Errorf("x: %w", &sink.StatusError{Code: 404}), sink.KindHTTP4xx},
		{&sink.StatusError{Code: 503}, sink.KindHTTP5xx},
		{&net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}, sink.KindConnection},
		{errors.New("odd"), sink.KindOther},
	} {
		if got := sink.Kind(c.err); got != c.want {
			t.Errorf("Kind(%v) = %q, want %q", c.err, got, c.want)
		}
	}
}

// TestSinkMap: a sink's nested @map is kept by the engine and checked: json (with its option
// validate.json) passes, another type, an unknown option or a nested @payload is refused
// naming it.
func TestSinkMap(t *testing.T) {
	for _, c := range []struct{ ann, want string }{
		{`@sink(type='log')`, ""},
		{`@sink(type='log', @map(type='json'))`, ""},
		{`@sink(type='http', url='http://h/x', @map(type='json', validate.json='true'))`, ""},
		{`@sink(type='log', @map(type='xml'))`, "@map(type='xml') is not supported"},
		{`@sink(type='file', path='x', @map(type='text'))`, "@map(type='text') is not supported"},
		{`@sink(type='log', @map(type='json', enclosing.element='$.e'))`, "unknown @map option enclosing.element (want validate.json)"},
		{`@sink(type='log', @map(type='json', validate.json='maybe'))`, `bad @map option validate.json "maybe"`},
		{`@sink(type='log', @map(type='json', @payload('{"a":"{{x}}"}')))`, "takes no nested @payload"},
	} {
		app, err := engine.Compile("t.siddhi", c.ann+"\ndefine stream O (x long);\n")
		if err != nil {
			t.Fatalf("%s: compile: %v", c.ann, err)
		}
		d, _ := app.Stream("O")
		if len(d.Sinks) != 1 {
			t.Fatalf("%s: %d sinks", c.ann, len(d.Sinks))
		}
		err = sink.Validate(d.Sinks[0])
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v", c.ann, err)
		case c.want != "" && (!errors.Is(err, sink.ErrConfig) || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: %v, want an ErrConfig naming %q", c.ann, err, c.want)
		}
	}
	for _, c := range []struct{ ann, want string }{
		{`@sink(type='log', @map(type='json'), @map(type='json'))`, "two @map"},
		{`@sink(type='log', @map(validate.json='true'))`, "@map needs a type"},
		{`@sink(type='log', @attributes(x='y'))`, "only a nested @map"},
	} {
		if _, err := engine.Compile("t.siddhi", c.ann+"\ndefine stream O (x long);\n"); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: compile error %v, want one naming %q", c.ann, err, c.want)
		}
	}
}
