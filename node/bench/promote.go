package bench

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/streamha/streamha/node/engine"
	"github.com/streamha/streamha/node/tcpingest"
)

// promoKeys is the group keys of the state the promoted node restores.
const promoKeys = 10_000

// promoBatch is the events per TCP batch, each batch with its idempotency key.
const promoBatch = 1000

// PromoRow is one promotion of a real node process: its own measure (streamha_promotion_seconds)
// of the whole path from taking the sync queue to serving. On the cold path that is the fence,
// the snapshot read from PostgreSQL, envelope decode, engine restore of promoKeys keys,
// idempotency window rebuild and the replay of Queued events; a hot passive restores and
// replays nothing, so the row says which path the node took.
type PromoRow struct {
	Queued    int
	Promotion time.Duration
	Path      string // as streamha_promotions_total says: hot (no restore, no replay), cold or resumed
	Replayed  int    // streamha_promotion_replayed_inputs
}

// Promotions measures, for each queue length, a passive's promotion after SIGKILL of its active:
// a pair runs the state app (count and sum per key) with no timed snapshot; promoKeys keys are
// ingested and persisted, then Queued more events in keyed batches that the passive holds; the
// active is killed and the promoted node's own promotion time is read from its /metrics.
func (e *Env) Promotions(queued []int, log func(string, ...any)) ([]PromoRow, error) {
	apps := filepath.Join(e.Dir, "promo-apps")
	if err := os.MkdirAll(apps, 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(apps, "state.siddhi"), []byte(stateApp), 0o644); err != nil {
		return nil, err
	}
	var rows []PromoRow
	for _, q := range queued {
		row, err := e.promotion(apps, q)
		if err != nil {
			return rows, fmt.Errorf("promotion with %d queued: %w", q, err)
		}
		log("promotion with %d queued events: %d ms, path %s, %d inputs replayed", q, row.Promotion.Milliseconds(), row.Path, row.Replayed)
		rows = append(rows, row)
	}
	return rows, nil
}

func (e *Env) promotion(apps string, queued int) (PromoRow, error) {
	c, err := e.pair(fmt.Sprintf("promo-%d", queued), apps, 2,
		"--persist_interval", "1h", "--passive_queue_max_bytes", "1GiB")
	if err != nil {
		return PromoRow{}, err
	}
	defer c.Close()
	a := c.Nodes[0]
	p := c.Peer(a)
	if p == nil {
		return PromoRow{}, fmt.Errorf("no passive")
	}
	if _, err := sendState(a.TCPAddr, 0, promoKeys, "seed"); err != nil {
		return PromoRow{}, fmt.Errorf("seed: %w", err)
	}
	if err := a.Admin().Persist(context.Background()); err != nil {
		return PromoRow{}, err
	}
	alone, err := sendState(a.TCPAddr, promoKeys, queued, "queued")
	if err != nil {
		return PromoRow{}, fmt.Errorf("queue: %w", err)
	}
	if alone > 0 {
		return PromoRow{}, fmt.Errorf("%d events acknowledged alone: the passive does not hold them all", alone)
	}
	st, err := p.Status()
	if err != nil {
		return PromoRow{}, err
	}
	if q, _ := st["queue"].(map[string]any); q == nil || q["events"].(float64) < float64(queued) {
		return PromoRow{}, fmt.Errorf("passive queue %v, want %d events", st["queue"], queued)
	}
	if err := a.Kill(); err != nil {
		return PromoRow{}, err
	}
	if _, err := c.WaitActive(context.Background(), 60*time.Second, a); err != nil {
		return PromoRow{}, err
	}
	row, err := promotionMetrics(p.URL())
	row.Queued = queued
	return row, err
}

// sendState sends n events of the State app's In stream, event i keyed "key-<(from+i) mod
// promoKeys>", in batches of promoBatch with idempotency keys keyPrefix-<batch>, and counts the
// events acknowledged alone.
func sendState(addr string, from, n int, keyPrefix string) (alone int, err error) {
	return sendKeyed(addr, "State", "In", n, promoBatch, keyPrefix, func(i int) []engine.Value {
		return []engine.Value{engine.StringValue(fmt.Sprintf("key-%07d", (from+i)%promoKeys)), engine.DoubleValue(1.5)}
	})
}

// sendKeyed sends n events of app's stream over one TCP ingest connection, per events to a batch,
// each batch with the idempotency key keyPrefix-<batch>, up to 64 batches in flight; it returns
// once all are acknowledged, with the number of events acknowledged alone.
func sendKeyed(addr, app, stream string, n, per int, keyPrefix string, values func(i int) []engine.Value) (alone int, err error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	batches := (n + per - 1) / per
	slots := make(chan struct{}, 64)
	werr := make(chan error, 1)
	go func() {
		w := bufio.NewWriterSize(c, 1<<20)
		for b := 0; b < batches; b++ {
			slots <- struct{}{}
			var raw []tcpingest.RawEvent
			for i := b * per; i < min(n, (b+1)*per); i++ {
				raw = append(raw, tcpingest.RawEvent{Values: tcpingest.EncodeEvent(values(i))})
			}
			f := tcpingest.AppendBatch(nil, &tcpingest.Batch{ID: uint64(b), App: app, Stream: stream,
				Key: keyPrefix + "-" + strconv.Itoa(b), Events: raw})
			if _, err := w.Write(f); err != nil {
				werr <- err
				return
			}
			if len(slots) == cap(slots) || b == batches-1 {
				if err := w.Flush(); err != nil {
					werr <- err
					return
				}
			}
		}
		werr <- nil
	}()
	r := bufio.NewReaderSize(c, 64<<10)
	var buf []byte
	for b := 0; b < batches; b++ {
		c.SetReadDeadline(time.Now().Add(30 * time.Second))
		_, p, err := tcpingest.ReadFrame(r, &buf)
		if err != nil {
			return alone, err
		}
		ack, err := tcpingest.DecodeAck(p)
		if err != nil {
			return alone, err
		}
		switch ack.Status {
		case tcpingest.StatusOK:
		case tcpingest.StatusOKAlone:
			alone += int(ack.LastSeq - ack.FirstSeq + 1)
		default:
			return alone, fmt.Errorf("batch %d: ack status %d: %s", ack.ID, ack.Status, ack.Message)
		}
		<-slots
	}
	return alone, <-werr
}

// promotionMetrics reads the one promotion a node made from its metrics: the time
// (streamha_promotion_seconds), the path (streamha_promotions_total) and the inputs applied.
func promotionMetrics(base string) (PromoRow, error) {
	var row PromoRow
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		return row, err
	}
	defer resp.Body.Close()
	var sum, count float64
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 2 {
			continue
		}
		v, _ := strconv.ParseFloat(f[1], 64)
		switch {
		case f[0] == "streamha_promotion_seconds_sum":
			sum = v
		case f[0] == "streamha_promotion_seconds_count":
			count = v
		case f[0] == "streamha_promotion_replayed_inputs":
			row.Replayed = int(v)
		case strings.HasPrefix(f[0], `streamha_promotions_total{path="`) && v > 0:
			path := strings.TrimSuffix(strings.TrimPrefix(f[0], `streamha_promotions_total{path="`), `"}`)
			if row.Path != "" {
				path = row.Path + "+" + path
			}
			row.Path = path
		}
	}
	if count != 1 {
		return row, fmt.Errorf("%s made %v promotions, want 1", base, count)
	}
	row.Promotion = time.Duration(sum * float64(time.Second))
	return row, nil
}
