package store_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/streamha/streamha/node/cluster"
	"github.com/streamha/streamha/node/store"
)

func sinkRec(app, ref string) store.ErrorRecord {
	return store.ErrorRecord{Kind: store.ErrorSink, App: app, Stream: "O", Endpoint: "O:http", Ref: ref,
		Payload: []byte(`{"id":"` + ref + `"}`), Data: []byte{1, 2, 3}, Error: "status 400", ErrorKind: "http_4xx"}
}

// TestErrorStore: rows are stored under the fence (a deposed term stores nothing), listed with
// every field, stored again as one row with a counted attempt, filtered by app, kind, id and
// time, deleted by id and purged.
func TestErrorStore(t *testing.T) {
	drivers(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		if err := db.Fence(ctx, "g", 2); err != nil {
			t.Fatal(err)
		}
		if err := db.SaveErrors(ctx, "g", 1, []store.ErrorRecord{sinkRec("A", "A/q1/1/0")}); !errors.Is(err, cluster.ErrFenced) {
			t.Fatalf("save from a deposed term: %v, want ErrFenced", err)
		}
		if l, err := db.ListErrors(ctx, "g", store.ErrorFilter{}); err != nil || len(l) != 0 {
			t.Fatalf("a fenced save stored %v (err %v)", l, err)
		}
		if err := db.SaveErrors(ctx, "g", 2, []store.ErrorRecord{{Kind: "other", App: "A", Ref: "x"}}); err == nil {
			t.Fatal("a record of an unknown kind was stored")
		}
		var batch []store.ErrorRecord
		for i := 1; i <= 3; i++ {
			batch = append(batch, sinkRec("A", fmt.Sprintf("A/q1/%d/0", i)))
		}
		src := store.ErrorRecord{Kind: store.ErrorSource, App: "B", Stream: "S", Endpoint: "kafka", Ref: "t/0/17",
			Payload: []byte("<not json>"), Error: "unexpected <", ErrorKind: "mapping"}
		batch = append(batch, src)
		before := time.Now()
		if err := db.SaveErrors(ctx, "g", 2, batch); err != nil {
			t.Fatal(err)
		}
		all, err := db.ListErrors(ctx, "g", store.ErrorFilter{})
		if err != nil || len(all) != 4 {
			t.Fatalf("list: %d rows, err %v", len(all), err)
		}
		r := all[0]
		if r.ID == 0 || r.Kind != store.ErrorSink || r.App != "A" || r.Stream != "O" || r.Endpoint != "O:http" ||
			r.Ref != "A/q1/1/0" || string(r.Payload) != `{"id":"A/q1/1/0"}` || string(r.Data) != "\x01\x02\x03" ||
			r.Error != "status 400" || r.ErrorKind != "http_4xx" || r.Term != 2 || r.Attempts != 1 ||
			r.Time.Before(before.Add(-time.Minute)) || r.Time.After(time.Now().Add(time.Minute)) {
			t.Fatalf("row read back as %+v", r)
		}
		if s := all[3]; s.Kind != store.ErrorSource || s.Data != nil || string(s.Payload) != "<not json>" {
			t.Fatalf("source row read back as %+v", s)
		}
		// Stored again (failed again after a failover): the same row, one more attempt.
		again := sinkRec("A", "A/q1/2/0")
		again.Error = "status 422"
		if err := db.SaveErrors(ctx, "g", 3, []store.ErrorRecord{again}); err != nil {
			t.Fatal(err)
		}
		l, _ := db.ListErrors(ctx, "g", store.ErrorFilter{App: "A"})
		if len(l) != 3 || l[1].ID != all[1].ID || l[1].Attempts != 2 || l[1].Error != "status 422" || l[1].Term != 3 {
			t.Fatalf("after storing A/q1/2/0 again: %+v", l)
		}
		if l, _ := db.ListErrors(ctx, "g", store.ErrorFilter{Kind: store.ErrorSource}); len(l) != 1 || l[0].App != "B" {
			t.Fatalf("kind filter: %+v", l)
		}
		if l, _ := db.ListErrors(ctx, "g", store.ErrorFilter{IDs: []int64{all[0].ID, all[2].ID}}); len(l) != 2 || l[1].Ref != "A/q1/3/0" {
			t.Fatalf("id filter: %+v", l)
		}
		if l, _ := db.ListErrors(ctx, "g", store.ErrorFilter{Limit: 1}); len(l) != 1 || l[0].ID != all[0].ID {
			t.Fatalf("limit: %+v", l)
		}
		if l, _ := db.ListErrors(ctx, "other", store.ErrorFilter{}); len(l) != 0 {
			t.Fatalf("another group sees %+v", l)
		}
		if n, err := db.DeleteErrors(ctx, "g", []int64{all[0].ID, all[0].ID + 1000}); err != nil || n != 1 {
			t.Fatalf("delete: %d, %v", n, err)
		}
		if n, err := db.PurgeErrors(ctx, "g", store.ErrorFilter{Before: before.Add(-time.Hour)}); err != nil || n != 0 {
			t.Fatalf("purge before an hour ago: %d, %v", n, err)
		}
		if n, err := db.PurgeErrors(ctx, "g", store.ErrorFilter{App: "B"}); err != nil || n != 1 {
			t.Fatalf("purge app B: %d, %v", n, err)
		}
		if n, err := db.PurgeErrors(ctx, "g", store.ErrorFilter{Before: time.Now().Add(time.Hour)}); err != nil || n != 2 {
			t.Fatalf("purge before an hour ahead: %d, %v", n, err)
		}
		if l, _ := db.ListErrors(ctx, "g", store.ErrorFilter{}); len(l) != 0 {
			t.Fatalf("left after purge: %+v", l)
		}
	})
}
