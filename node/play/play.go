// Package play implements "node play": run a stream app offline over a JSONL file of events,
// writing every output as JSONL, with optional snapshot and restore to check determinism.
package play

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/streamha/streamha/node/engine"
)

const usage = `usage: node play [--snapshot-after N --snapshot-out FILE] [--restore FILE] APP.siddhi < events.jsonl > outputs.jsonl`

// Exit codes of Main.
const (
	ExitOK    = 0
	ExitError = 1 // I/O or runtime failure
	ExitBad   = 2 // bad usage, bad app or bad input line
)

// Main runs the play command with args (after "play") and returns the process exit code.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("play", flag.ContinueOnError)
	fs.SetOutput(stderr)
	snapAfter := fs.Uint64("snapshot-after", 0, "write the snapshot taken after input `N` (a sequence number)")
	snapOut := fs.String("snapshot-out", "", "`FILE` for --snapshot-after")
	restore := fs.String("restore", "", "start from the snapshot in `FILE`; sequence numbers continue after it")
	fs.Usage = func() { fmt.Fprintln(stderr, usage); fs.PrintDefaults() }
	// flags may come before or after the app path
	var pos []string
	for rest := args; ; {
		if err := fs.Parse(rest); err != nil {
			return ExitBad
		}
		rest = fs.Args()
		if len(rest) == 0 {
			break
		}
		pos = append(pos, rest[0])
		rest = rest[1:]
	}
	if len(pos) != 1 {
		fmt.Fprintln(stderr, usage)
		return ExitBad
	}
	if (*snapAfter > 0) != (*snapOut != "") {
		fmt.Fprintln(stderr, "play: --snapshot-after and --snapshot-out go together")
		return ExitBad
	}
	src, err := os.ReadFile(pos[0])
	if err != nil {
		fmt.Fprintf(stderr, "play: %v\n", err)
		return ExitBad
	}
	app, err := engine.Compile(pos[0], string(src))
	if err != nil {
		fmt.Fprintln(stderr, err)
		return ExitBad
	}
	rt := engine.NewRuntime(app)
	if *restore != "" {
		blob, err := os.ReadFile(*restore)
		if err != nil {
			fmt.Fprintf(stderr, "play: %v\n", err)
			return ExitBad
		}
		if rt, err = engine.Restore(app, blob); err != nil {
			fmt.Fprintf(stderr, "play: %s: %v\n", *restore, err)
			return ExitBad
		}
	}
	return run(app, rt, stdin, stdout, stderr, *snapAfter, *snapOut)
}

func run(app *engine.App, rt *engine.Runtime, stdin io.Reader, stdout, stderr io.Writer, snapAfter uint64, snapOut string) int {
	w := bufio.NewWriterSize(stdout, 64<<10)
	var buf []byte
	emit := func(o *engine.Output) {
		buf = o.AppendJSON(buf[:0])
		buf = append(buf, '\n')
		w.Write(buf)
	}
	sc := bufio.NewScanner(stdin)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	base := rt.LastSeq()
	line := 0
	for sc.Scan() {
		line++
		text := sc.Bytes()
		if len(trimSpace(text)) == 0 {
			continue // blank lines keep their number but carry no input
		}
		in, err := app.DecodeInput(text)
		if err != nil {
			w.Flush()
			var se *json.SyntaxError
			if errors.As(err, &se) {
				fmt.Fprintf(stderr, "stdin:%d:%d: %v\n", line, se.Offset, err)
			} else {
				fmt.Fprintf(stderr, "stdin:%d: %v\n", line, err)
			}
			return ExitBad
		}
		in.Seq = base + uint64(line)
		if err := rt.Apply(in, emit); err != nil {
			w.Flush()
			fmt.Fprintf(stderr, "stdin:%d: %v\n", line, err)
			if errors.Is(err, engine.ErrInput) {
				return ExitBad
			}
			return ExitError
		}
		if snapAfter != 0 && in.Seq == snapAfter {
			if code := writeSnapshot(rt, snapOut, stderr); code != ExitOK {
				return code
			}
		}
	}
	if err := sc.Err(); err != nil {
		fmt.Fprintf(stderr, "stdin:%d: %v\n", line+1, err)
		return ExitBad
	}
	if err := w.Flush(); err != nil {
		fmt.Fprintf(stderr, "play: write: %v\n", err)
		return ExitError
	}
	if snapAfter != 0 && rt.LastSeq() < snapAfter {
		fmt.Fprintf(stderr, "play: --snapshot-after %d: the input ended at sequence %d\n", snapAfter, rt.LastSeq())
		return ExitBad
	}
	return ExitOK
}

func writeSnapshot(rt *engine.Runtime, path string, stderr io.Writer) int {
	blob, err := rt.Snapshot()
	if err == nil {
		err = os.WriteFile(path, blob, 0o644)
	}
	if err != nil {
		fmt.Fprintf(stderr, "play: snapshot: %v\n", err)
		return ExitError
	}
	return ExitOK
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t' || b[0] == '\r') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}
