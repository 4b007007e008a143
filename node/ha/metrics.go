package ha

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/streamha/streamha/node/cluster"
)

type metrics struct {
	ingested          prometheus.Counter
	promotion         prometheus.Histogram
	persistSeconds    prometheus.Histogram
	persistBytes      *prometheus.GaugeVec
	persistErrors     prometheus.Counter
	persistRevisions  *prometheus.CounterVec
	compactions       prometheus.Counter
	pressurePersists  prometheus.Counter
	failovers         prometheus.Counter
	notReemitted      prometheus.Counter
	sinkErrors        *prometheus.CounterVec
	restoreFailures   prometheus.Counter
	sinkDelivered     *prometheus.CounterVec
	sinkDropped       *prometheus.CounterVec
	sinkStored        *prometheus.CounterVec
	errorsStored      prometheus.Counter
	errorsReplayed    prometheus.Counter
	sinkPending       *prometheus.GaugeVec
	sinkPendingBytes  *prometheus.GaugeVec
	backpressureWaits prometheus.Counter
	takeoverHolds     prometheus.Counter
	overloaded        prometheus.Counter
	promotions        *prometheus.CounterVec
	promotionReplayed prometheus.Gauge
	hotFailures       prometheus.Counter
	logAppends        prometheus.Counter
	logErrors         prometheus.Counter
	logSeconds        prometheus.Histogram
	switchover        prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer, n *Node) *metrics {
	m := &metrics{
		ingested:         prometheus.NewCounter(prometheus.CounterOpts{Name: "streamha_ingested_events_total", Help: "Events accepted and acknowledged by this node as active."}),
		promotion:        prometheus.NewHistogram(prometheus.HistogramOpts{Name: "streamha_promotion_seconds", Help: "Time to restore and replay when promoted.", Buckets: prometheus.ExponentialBuckets(0.001, 2, 15)}),
		persistSeconds:   prometheus.NewHistogram(prometheus.HistogramOpts{Name: "streamha_persist_seconds", Help: "Time to snapshot and store one app.", Buckets: prometheus.ExponentialBuckets(0.001, 2, 15)}),
		persistBytes:     prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "streamha_persist_bytes", Help: "Size of the newest snapshot per app."}, []string{"app"}),
		persistErrors:    prometheus.NewCounter(prometheus.CounterOpts{Name: "streamha_persist_errors_total", Help: "Snapshots that could not be stored."}),
		persistRevisions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "streamha_persist_revisions_total", Help: "Snapshot revisions stored, by kind: base (full state) or delta (what changed since the previous revision)."}, []string{"kind"}),
		compactions:      prometheus.NewCounter(prometheus.CounterOpts{Name: "streamha_snapshot_compactions_total", Help: "Delta chains folded into a new base revision in the background."}),
		pressurePersists: prometheus.NewCounter(prometheus.CounterOpts{Name: "streamha_pressure_persists_total", Help: "Early persists because the passive's queue passed half its bound."}),
		failovers:        prometheus.NewCounter(prometheus.CounterOpts{Name: "streamha_failovers_total", Help: "Takeovers from another node: promotions to active after a term another node held (not a first election)."}),
		notReemitted:     prometheus.NewCounter(prometheus.CounterOpts{Name: "streamha_outputs_not_reemitted_total", Help: "Outputs a promotion did not emit again because the previous active reported them written."}),
		sinkErrors:       prometheus.NewCounterVec(prometheus.CounterOpts{Name: "streamha_sink_errors_total", Help: "Failed opens and writes of a sink (sink is <stream>:<type>; kind enospc, erofs, eio, permission, http_4xx, http_5xx, connection or other); the outputs stay pending and are retried."}, []string{"app", "sink", "kind"}),
		restoreFailures:  prometheus.NewCounter(prometheus.CounterOpts{Name: "streamha_restore_failures_total", Help: "Promotions and readiness checks that found no snapshot revision restorable without loss."}),
		overloaded:       prometheus.NewCounter(prometheus.CounterOpts{Name: "streamha_input_overloaded_total", Help: "Requests refused because max_inflight_input_bytes stayed in use (503 / TCP status 5)."}),
	}
	m.sinkDelivered = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "streamha_sink_delivered_outputs_total", Help: "Outputs a sink wrote (sink is <stream>:<type>)."}, []string{"app", "sink"})
	m.sinkDropped = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "streamha_sink_dropped_outputs_total", Help: "Outputs dropped after a failed write because the sink has on.error='log'."}, []string{"app", "sink"})
	m.sinkPending = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "streamha_sink_pending_outputs", Help: "Outputs of the sink's stream it has not written yet (its lag), on the active."}, []string{"app", "sink"})
	m.sinkPendingBytes = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "streamha_sink_pending_bytes", Help: "Estimated bytes of the outputs the sink has not written yet."}, []string{"app", "sink"})
	m.logAppends = prometheus.NewCounter(prometheus.CounterOpts{Name: "streamha_input_log_appends_total", Help: "Appends to the input log: how an active with no passive makes acknowledged inputs durable in ack mode."})
	m.logErrors = prometheus.NewCounter(prometheus.CounterOpts{Name: "streamha_input_log_errors_total", Help: "Failed appends to the input log (retried)."})
	m.logSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "streamha_input_log_append_seconds", Help: "Time of one input log append.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 15)})
	m.switchover = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "streamha_switchover_seconds", Help: "Planned switchovers handed over by this node: from refusing input until the new active served (the handover alone when that was not seen within 10 s).", Buckets: prometheus.ExponentialBuckets(0.005, 2, 14)})
	reg.MustRegister(m.logAppends, m.logErrors, m.logSeconds, m.switchover)
	m.takeoverHolds = prometheus.NewCounter(prometheus.CounterOpts{Name: "streamha_takeover_holds_total", Help: "Client requests a passive held because it expected to take over (the active stopped renewing) instead of redirecting them to the silent active."})
	m.backpressureWaits = prometheus.NewCounter(prometheus.CounterOpts{Name: "streamha_backpressure_waits_total", Help: "Ingest batches that had to wait because the pending outputs were over max_pending_output_bytes."})
	m.promotions = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "streamha_promotions_total", Help: "App promotions by path: hot (the passive's runtime, nothing restored), cold (snapshot restore and queue replay), resumed (state kept from the node's own term)."}, []string{"path"})
	m.promotionReplayed = prometheus.NewGauge(prometheus.GaugeOpts{Name: "streamha_promotion_replayed_inputs", Help: "Inputs the last promotion applied: a cold app's replay, a hot app's catch-up (0 when the passive was in step)."})
	m.hotFailures = prometheus.NewCounter(prometheus.CounterOpts{Name: "streamha_passive_apply_failures_total", Help: "Times a passive app's runtime failed or could not warm from the active's snapshot (it is cold until the next one)."})
	reg.MustRegister(m.promotions, m.promotionReplayed, m.hotFailures,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "streamha_passive_hot", Help: "1 while this node is a passive whose every app keeps a runtime in step with the active (a promotion restores and replays nothing), else 0."}, func() float64 {
			if n.Hot() {
				return 1
			}
			return 0
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "streamha_passive_apply_lag_events", Help: "Inputs the passive's queue holds that its runtime has not applied yet, all apps."}, func() float64 {
			return float64(n.applyLag())
		}))
	m.sinkStored = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "streamha_sink_stored_outputs_total", Help: "Outputs written to the error store after a failed write because the sink has on.error='store'."}, []string{"app", "sink"})
	m.errorsStored = prometheus.NewCounter(prometheus.CounterOpts{Name: "streamha_error_store_writes_total", Help: "Records written to the error store (sink outputs and source records)."})
	m.errorsReplayed = prometheus.NewCounter(prometheus.CounterOpts{Name: "streamha_error_store_replayed_total", Help: "Stored outputs a replay delivered and removed from the error store."})
	reg.MustRegister(m.sinkStored, m.errorsStored, m.errorsReplayed)
	reg.MustRegister(m.sinkDelivered, m.sinkDropped, m.sinkPending, m.sinkPendingBytes, m.backpressureWaits, m.takeoverHolds,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "streamha_pending_output_bytes", Help: "Estimated bytes of the outputs held for the sinks, all apps (bounded by max_pending_output_bytes)."}, func() float64 {
			return float64(n.outBudget.bytes.Load())
		}))
	reg.MustRegister(m.ingested, m.promotion, m.persistSeconds, m.persistBytes, m.persistErrors, m.persistRevisions, m.compactions, m.pressurePersists, m.failovers, m.notReemitted, m.sinkErrors, m.restoreFailures, m.overloaded,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "streamha_inflight_input_bytes", Help: "Input memory reserved by requests being read, decoded and applied."}, func() float64 {
			return float64(n.InflightInputBytes())
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "streamha_persist_failing", Help: "1 while this active cannot store a snapshot of some app (it keeps its lease and acknowledges through the input log or the passive; see /ha/status last_persist_error)."}, func() float64 {
			for _, a := range n.apps {
				a.mu.Lock()
				failing := !a.persistFail.IsZero()
				a.mu.Unlock()
				if failing {
					return 1
				}
			}
			return 0
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "streamha_restore_failed", Help: "1 while this node cannot restore its state without loss and stays out of the election (see /ha/status restore_failed)."}, func() float64 {
			if n.restoreFail.Load() != nil {
				return 1
			}
			return 0
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "streamha_sync_lag_events", Help: "Inputs sent to the passive and not yet acknowledged."}, func() float64 {
			if s := n.session(); s != nil {
				return float64(s.Lag())
			}
			return 0
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "streamha_sync_lag_bytes", Help: "Encoded size of the inputs sent to the passive and not yet acknowledged."}, func() float64 {
			if s := n.session(); s != nil {
				return float64(s.LagBytes())
			}
			return 0
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "streamha_peer_synced", Help: "1 while the pair is in sync: on the active, its passive holds a committed snapshot point and every input after it; on the passive, it has one for every app. A failure of the active while 0 can lose what it acknowledged alone."}, func() float64 {
			if n.Status().Peer.Synced {
				return 1
			}
			return 0
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "streamha_persist_interval_seconds", Help: "The configured persist_interval: how often the active snapshots each app."}, func() float64 {
			return n.cfg.PersistInterval.Seconds()
		}),
		&appCollector{n: n},
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "streamha_queue_events", Help: "Inputs held in this passive's replay queue."}, func() float64 {
			return float64(n.server.Stats().Events)
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "streamha_queue_bytes", Help: "Bytes held in this passive's replay queue."}, func() float64 {
			return float64(n.server.Stats().Bytes)
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "streamha_replay_gaps", Help: "Replay gaps found at promotion (inputs nobody held)."}, func() float64 {
			return float64(n.gaps.Load())
		}),
	)
	return m
}

// appCollector reports each app's sink and snapshot position at scrape time.
type appCollector struct{ n *Node }

var (
	descOutputsPending = prometheus.NewDesc("streamha_outputs_pending", "Sink outputs of applied inputs not yet written (they pile up while a sink fails).", []string{"app"}, nil)
	descOutputsWritten = prometheus.NewDesc("streamha_outputs_written_total", "Sink outputs written by this node.", []string{"app"}, nil)
	descSinkLag        = prometheus.NewDesc("streamha_sink_lag_inputs", "Inputs applied whose outputs are not all written yet (last_seq - delivered_seq).", []string{"app"}, nil)
	descLastPersist    = prometheus.NewDesc("streamha_last_persist_timestamp_seconds", "When this node last stored (active) or restored a snapshot of the app, Unix time; absent before the first.", []string{"app"}, nil)
)

func (c *appCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descOutputsPending
	ch <- descOutputsWritten
	ch <- descSinkLag
	ch <- descLastPersist
}

func (c *appCollector) Collect(ch chan<- prometheus.Metric) {
	for _, a := range c.n.apps {
		a.mu.Lock()
		pending, written, delivered, at := len(a.outbox), a.written, a.deliveredLocked(), a.persistedAt
		last := uint64(0)
		if a.rt != nil {
			last = a.rt.LastSeq()
		}
		a.mu.Unlock()
		lag := uint64(0)
		if last > delivered {
			lag = last - delivered
		}
		ch <- prometheus.MustNewConstMetric(descOutputsPending, prometheus.GaugeValue, float64(pending), a.name)
		ch <- prometheus.MustNewConstMetric(descOutputsWritten, prometheus.CounterValue, float64(written), a.name)
		ch <- prometheus.MustNewConstMetric(descSinkLag, prometheus.GaugeValue, float64(lag), a.name)
		if !at.IsZero() {
			ch <- prometheus.MustNewConstMetric(descLastPersist, prometheus.GaugeValue, float64(at.UnixMilli())/1000, a.name)
		}
	}
}

func (m *metrics) role(tr cluster.Transition) {
	if tr.To == cluster.Active && tr.Takeover {
		m.failovers.Inc()
	}
}
