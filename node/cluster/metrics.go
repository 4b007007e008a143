package cluster

import "github.com/prometheus/client_golang/prometheus"

// Metrics counts role changes and exposes the current role and term to Prometheus.
type Metrics struct {
	transitions *prometheus.CounterVec
	role        *prometheus.GaugeVec
	term        prometheus.Gauge
}

// NewMetrics registers the coordination metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		transitions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "streamha_role_transitions_total", Help: "Role changes of this node, by target role.",
		}, []string{"from", "to"}),
		role: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "streamha_role", Help: "1 for the node's current role, 0 for the others.",
		}, []string{"role"}),
		term: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "streamha_term", Help: "Term of the lease this node holds or last held.",
		}),
	}
	reg.MustRegister(m.transitions, m.role, m.term)
	for r := Starting; r <= Stopped; r++ {
		m.role.WithLabelValues(r.String()).Set(0)
	}
	m.role.WithLabelValues(Starting.String()).Set(1)
	return m
}

func (m *Metrics) observe(tr Transition) {
	if m == nil {
		return
	}
	m.transitions.WithLabelValues(tr.From.String(), tr.To.String()).Inc()
	m.role.WithLabelValues(tr.From.String()).Set(0)
	m.role.WithLabelValues(tr.To.String()).Set(1)
	m.term.Set(float64(tr.Term))
}
