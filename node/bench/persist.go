package bench

import (
	"context"
	"fmt"
	"time"

	"github.com/streamha/streamha/node/engine"
	"github.com/streamha/streamha/node/store"
)

const stateApp = `@app:name('State')
define stream In (key string, v double);
define stream Out (key string, n long, total double);
from In
select key, count() as n, sum(v) as total
group by key
insert into Out;
`

// SnapRow is one state size: how long a snapshot takes and how big it is, how long writing it
// to PostgreSQL takes and how long restoring it takes.
type SnapRow struct {
	Keys     int
	Capture  time.Duration // engine.Snapshot at an input boundary
	Size     int
	Write    time.Duration // store.SaveSnapshot into PostgreSQL (0 without a database)
	Restore  time.Duration // engine.Restore
	Captured error
}

func noEmit(*engine.Output) {}

func stateRuntime(keys int) (*engine.App, *engine.Runtime, error) {
	app, err := engine.Compile("state.siddhi", stateApp)
	if err != nil {
		return nil, nil, err
	}
	rt := engine.NewRuntime(app)
	for i := 0; i < keys; i++ {
		in := engine.Input{Seq: uint64(i + 1), TS: int64(i), Stream: "In",
			Data: []engine.Value{engine.StringValue(fmt.Sprintf("key-%07d", i)), engine.DoubleValue(1.5)}}
		if err := rt.Apply(in, noEmit); err != nil {
			return nil, nil, err
		}
	}
	return app, rt, nil
}

// Snapshots measures each state size; dbURL (optional) is a PostgreSQL database for the write.
func Snapshots(sizes []int, dbURL string) ([]SnapRow, error) {
	var db *store.DB
	ctx := context.Background()
	if dbURL != "" {
		var err error
		if db, err = store.Open(dbURL); err != nil {
			return nil, err
		}
		defer db.Close()
		if _, err := db.Migrate(ctx); err != nil {
			return nil, fmt.Errorf("migrate: %w", err)
		}
		if err := db.Fence(ctx, "bench", 1); err != nil {
			return nil, err
		}
	}
	var rows []SnapRow
	for _, k := range sizes {
		app, rt, err := stateRuntime(k)
		if err != nil {
			return rows, err
		}
		t0 := time.Now()
		blob, err := rt.Snapshot()
		if err != nil {
			return rows, err
		}
		r := SnapRow{Keys: k, Capture: time.Since(t0), Size: len(blob)}
		if db != nil {
			t0 = time.Now()
			if _, err := db.SaveSnapshot(ctx, store.Snapshot{Group: "bench", App: "State", Term: 1, LastSeq: rt.LastSeq(), Payload: blob}, 1); err != nil {
				return rows, err
			}
			r.Write = time.Since(t0)
		}
		t0 = time.Now()
		if _, err := engine.Restore(app, blob); err != nil {
			return rows, err
		}
		r.Restore = time.Since(t0)
		rows = append(rows, r)
	}
	return rows, nil
}
