// Package emf writes CloudWatch Embedded Metric Format (EMF) log lines: one JSON object per line
// whose "_aws" member tells CloudWatch Logs which root members are metrics and which are
// dimensions. A Lambda only has to print them to stdout.
package emf

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"sync"
	"time"
)

// Units used by streamha's metrics (CloudWatch standard unit names).
const (
	Count   = "Count"
	Seconds = "Seconds"
	Bytes   = "Bytes"
	None    = "None"
)

// Storage resolutions CloudWatch accepts: standard (60 s) and high resolution (1 s).
const (
	StandardResolution = 60
	HighResolution     = 1
)

// Limits from the EMF specification.
const (
	MaxMetricsPerDirective = 100
	MaxDimensionsPerSet    = 30
	MaxValuesPerMetric     = 100
)

// Metric is one value to publish.
type Metric struct {
	Name       string
	Unit       string // one of the CloudWatch units; "" means None
	Value      float64
	Resolution int // 1 or 60; 0 means 60
}

// Record is one EMF line: metrics sharing one set of dimension values.
type Record struct {
	// Dimensions maps each dimension name to its value, e.g. {"ClusterGroup": "g1"}.
	Dimensions map[string]string
	// DimensionSets lists the dimension combinations to aggregate by; nil means one set holding
	// every key of Dimensions, in sorted order.
	DimensionSets [][]string
	Metrics       []Metric
	// Properties are extra searchable members of the log line that are not metrics.
	Properties map[string]any
}

// Writer prints records to Out, one line each, under one namespace.
type Writer struct {
	Namespace string
	Out       io.Writer
	Now       func() time.Time // nil means time.Now

	mu sync.Mutex
}

// NewWriter returns a writer for namespace onto out.
func NewWriter(namespace string, out io.Writer) *Writer {
	return &Writer{Namespace: namespace, Out: out}
}

// Write validates r and prints it as one line; an invalid record is an error, never a bad line.
func (w *Writer) Write(r Record) error {
	now := time.Now
	if w.Now != nil {
		now = w.Now
	}
	line, err := Marshal(w.Namespace, now(), r)
	if err != nil {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, err := w.Out.Write(append(line, '\n')); err != nil {
		return fmt.Errorf("emf: write: %w", err)
	}
	return nil
}

type directive struct {
	Namespace  string       `json:"Namespace"`
	Dimensions [][]string   `json:"Dimensions"`
	Metrics    []metricDefn `json:"Metrics"`
}

type metricDefn struct {
	Name              string `json:"Name"`
	Unit              string `json:"Unit,omitempty"`
	StorageResolution int    `json:"StorageResolution,omitempty"`
}

type metadata struct {
	Timestamp         int64       `json:"Timestamp"`
	CloudWatchMetrics []directive `json:"CloudWatchMetrics"`
}

// Marshal renders r as one EMF JSON object (without the trailing newline).
func Marshal(namespace string, ts time.Time, r Record) ([]byte, error) {
	if namespace == "" || len(namespace) > 255 {
		return nil, fmt.Errorf("emf: namespace %q must have 1 to 255 characters", namespace)
	}
	if len(r.Metrics) == 0 || len(r.Metrics) > MaxMetricsPerDirective {
		return nil, fmt.Errorf("emf: %d metrics in one record, want 1 to %d", len(r.Metrics), MaxMetricsPerDirective)
	}
	sets := r.DimensionSets
	if sets == nil {
		sets = [][]string{sortedKeys(r.Dimensions)}
	}
	root := make(map[string]any, len(r.Dimensions)+len(r.Metrics)+len(r.Properties)+1)
	for k, v := range r.Properties {
		root[k] = v
	}
	for _, set := range sets {
		if len(set) > MaxDimensionsPerSet {
			return nil, fmt.Errorf("emf: dimension set %v has more than %d keys", set, MaxDimensionsPerSet)
		}
		for _, k := range set {
			if _, ok := r.Dimensions[k]; !ok {
				return nil, fmt.Errorf("emf: dimension %q has no value", k)
			}
		}
	}
	for k, v := range r.Dimensions {
		root[k] = v
	}
	d := directive{Namespace: namespace, Dimensions: sets}
	for _, m := range r.Metrics {
		if m.Name == "" || len(m.Name) > 1024 {
			return nil, fmt.Errorf("emf: metric name %q must have 1 to 1024 characters", m.Name)
		}
		if _, dup := root[m.Name]; dup {
			return nil, fmt.Errorf("emf: metric %q collides with another member of the record", m.Name)
		}
		if math.IsNaN(m.Value) || math.IsInf(m.Value, 0) {
			return nil, fmt.Errorf("emf: metric %q has no finite value", m.Name)
		}
		unit := m.Unit
		if unit == "" {
			unit = None
		}
		if !validUnits[unit] {
			return nil, fmt.Errorf("emf: metric %q has unknown unit %q", m.Name, unit)
		}
		res := m.Resolution
		if res == 0 {
			res = StandardResolution
		}
		if res != StandardResolution && res != HighResolution {
			return nil, fmt.Errorf("emf: metric %q: storage resolution %d, want 1 or 60", m.Name, res)
		}
		root[m.Name] = m.Value
		d.Metrics = append(d.Metrics, metricDefn{Name: m.Name, Unit: unit, StorageResolution: res})
	}
	root["_aws"] = metadata{Timestamp: ts.UnixMilli(), CloudWatchMetrics: []directive{d}}
	b, err := json.Marshal(root)
	if err != nil {
		return nil, fmt.Errorf("emf: marshal: %w", err)
	}
	return b, nil
}
