package chaos_test

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/streamha/streamha/internal/hatest"
	"github.com/streamha/streamha/internal/pgtest"
	"github.com/streamha/streamha/node/chaos"
)

var nodeBin string

func TestMain(m *testing.M) { os.Exit(hatest.MainWithNode(m, &nodeBin, (*testing.M).Run)) }

// TestChaosShort is the bounded run inside `make test`: one round of every fault (CHAOS_ROUNDS
// for more). It fails when an acknowledged event is lost, an event is applied twice, a term does
// not increase, or a node acts on a superseded term; the run folder is then kept and named.
func TestChaosShort(t *testing.T) {
	pgBin := pgtest.Require(t)
	rounds := 1
	if v, err := strconv.Atoi(os.Getenv("CHAOS_ROUNDS")); err == nil && v > 0 {
		rounds = v
	}
	apps, _ := filepath.Abs("../demo/apps")
	dir, err := os.MkdirTemp("", "streamha-chaos-")
	if err != nil {
		t.Fatal(err)
	}
	res, err := chaos.Run(chaos.Config{
		NodeBin: nodeBin, AppsDir: apps, Dir: dir, PGBinDir: pgBin,
		Rounds: rounds, Seed: time.Now().UnixNano() % 1000, Settle: 500 * time.Millisecond, Hold: 2 * time.Second,
		Log: testWriter{t},
	})
	if err != nil {
		t.Fatalf("%v (logs in %s)", err, dir)
	}
	t.Logf("\n%s", res)
	if !res.OK() {
		t.Fatalf("checker found violations; logs, outputs and fault timeline kept in %s", dir)
	}
	os.RemoveAll(dir)
}

// TestChaosKafkaShort is the Kafka-fed round inside `make test`: a producer writes numbered
// records to a 4-partition topic of an in-process cluster, the pair filters them into an
// output topic read with read_committed, and the active is killed, frozen past its lease and
// switched over (`make chaos CHAOS_SOURCE=kafka` runs every fault). It fails when a record
// the broker committed has no output, an input offset is applied twice, or an output of a
// deposed term follows its successor's.
func TestChaosKafkaShort(t *testing.T) {
	pgBin := pgtest.Require(t)
	dir, err := os.MkdirTemp("", "streamha-chaos-kafka-")
	if err != nil {
		t.Fatal(err)
	}
	res, err := chaos.Run(chaos.Config{
		NodeBin: nodeBin, Source: chaos.SourceKafka, Dir: dir, PGBinDir: pgBin,
		Faults: []string{"kill-active", "pause-active", "switchover"},
		Rounds: 1, Seed: time.Now().UnixNano() % 1000, Settle: 500 * time.Millisecond, Hold: 2 * time.Second,
		Log: testWriter{t},
	})
	if err != nil {
		t.Fatalf("%v (logs in %s)", err, dir)
	}
	t.Logf("\n%s", res)
	if !res.OK() {
		t.Fatalf("checker found violations; logs, outputs and fault timeline kept in %s", dir)
	}
	if res.Outputs.Reflected == 0 || res.Outputs.Reflected != res.Outputs.Acked {
		t.Fatalf("outputs reflect %d of %d produced records (logs in %s)", res.Outputs.Reflected, res.Outputs.Acked, dir)
	}
	os.RemoveAll(dir)
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p[:len(p)-1]))
	return len(p), nil
}
