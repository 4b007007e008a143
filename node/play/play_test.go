package play_test

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/streamha/streamha/node/play"
)

func runPlay(t *testing.T, stdin string, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	code := play.Main(args, strings.NewReader(stdin), &out, &errb)
	return out.String(), errb.String(), code
}

func TestPlaySnapshotRestoreMatchesFullRun(t *testing.T) {
	events, err := os.ReadFile("testdata/stocks.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	full, stderr, code := runPlay(t, string(events), "testdata/stocks.siddhi")
	if code != 0 {
		t.Fatalf("full run: exit %d: %s", code, stderr)
	}
	if strings.Count(full, "\n") < 20 {
		t.Fatalf("too few outputs:\n%s", full)
	}
	lines := strings.SplitAfter(string(events), "\n")
	for _, k := range []int{1, 7, 13, 30, len(lines) - 2} {
		snap := filepath.Join(t.TempDir(), "snap.bin")
		first, stderr, code := runPlay(t, strings.Join(lines[:k], ""), "testdata/stocks.siddhi",
			"--snapshot-after", strconv.Itoa(k), "--snapshot-out", snap)
		if code != 0 {
			t.Fatalf("k=%d first part: exit %d: %s", k, code, stderr)
		}
		second, stderr, code := runPlay(t, strings.Join(lines[k:], ""), "--restore", snap, "testdata/stocks.siddhi")
		if code != 0 {
			t.Fatalf("k=%d second part: exit %d: %s", k, code, stderr)
		}
		if first+second != full {
			t.Fatalf("k=%d: snapshot+restore differs from the full run\nfull:\n%s\nsplit:\n%s", k, full, first+second)
		}
	}
}

func TestPlayErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.siddhi")
	os.WriteFile(bad, []byte("define stream S (a int);\nfrom S[b > 1] select a insert into O;\n"), 0o644)
	_, stderr, code := runPlay(t, "", bad)
	if code != 2 || !strings.Contains(stderr, "bad.siddhi:2:8: stream S has no attribute b") || !strings.Contains(stderr, "       ^") {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	_, stderr, code = runPlay(t, "{\"tick\":1}\n{\"stream\":\"Trades\",\"ts\":1,\"data\":{\"sym\":1}}\n", "testdata/stocks.siddhi")
	if code != 2 || !strings.Contains(stderr, "stdin:2:") || !strings.Contains(stderr, "sym") {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	_, _, code = runPlay(t, "", "--restore")
	if code != 2 {
		t.Fatalf("missing flag value: exit %d", code)
	}
}

func TestPlayExpiredFlagAndIDs(t *testing.T) {
	out, stderr, code := runPlay(t, strings.Join([]string{
		`{"stream":"Trades","ts":1000,"data":{"sym":"ibm","price":120,"vol":5,"ets":1000}}`,
		`{"tick":12000}`,
	}, "\n"), "testdata/stocks.siddhi")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{
		`{"id":"Stocks/q1/1/0","stream":"Big","ts":1000,"data":{"sym":"ibm","price":120}}`,
		`{"id":"Stocks/avg10s/2/0","stream":"Averages","ts":11000,"data":{"sym":"ibm","avgPrice":null,"totalVol":null,"n":0},"expired":true}`,
	} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("missing %s in\n%s", want, out)
		}
	}
}

func TestPlayBadJSONHasColumn(t *testing.T) {
	_, stderr, code := runPlay(t, "{\"tick\":1}\n{\"tick\":2,}\n", "testdata/stocks.siddhi")
	if code != 2 || !strings.HasPrefix(stderr, "stdin:2:11: ") {
		t.Fatalf("exit %d: %s", code, stderr)
	}
}

var update = flag.Bool("update", false, "rewrite testdata/*.expected.jsonl")

// TestPlayGolden pins the outputs of the sample app; run with -update after a deliberate change.
func TestPlayGolden(t *testing.T) {
	events, err := os.ReadFile("testdata/stocks.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	out, stderr, code := runPlay(t, string(events), "testdata/stocks.siddhi")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	const golden = "testdata/stocks.expected.jsonl"
	if *update {
		if err := os.WriteFile(golden, []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if out != string(want) {
		t.Fatalf("outputs differ from %s (run with -update if intended)\n%s", golden, out)
	}
}
