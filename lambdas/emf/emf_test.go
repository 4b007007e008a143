package emf_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/streamha/streamha/lambdas/emf"
)

func TestWriteProducesValidLine(t *testing.T) {
	var buf bytes.Buffer
	w := emf.NewWriter("StreamHA", &buf)
	w.Now = func() time.Time { return time.UnixMilli(1_700_000_000_123) }
	err := w.Write(emf.Record{
		Dimensions: map[string]string{"ClusterGroup": "g1", "NodeId": "n1"},
		Metrics: []emf.Metric{
			{Name: "HeartbeatAgeSeconds", Unit: emf.Seconds, Value: 2.5, Resolution: emf.HighResolution},
			{Name: "SyncLagEvents", Unit: emf.Count, Value: 7},
		},
		Properties: map[string]any{"role": "active"},
	})
	if err != nil {
		t.Fatal(err)
	}
	line := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	if bytes.Contains(line, []byte("\n")) {
		t.Fatal("record spans more than one line")
	}
	p, err := emf.Validate(line)
	if err != nil {
		t.Fatal(err)
	}
	if p.Namespace != "StreamHA" || p.Timestamp != 1_700_000_000_123 {
		t.Fatalf("namespace %q timestamp %d", p.Namespace, p.Timestamp)
	}
	if got := p.Dimensions; len(got) != 1 || strings.Join(got[0], ",") != "ClusterGroup,NodeId" {
		t.Fatalf("dimensions %v", got)
	}
	if p.Values["HeartbeatAgeSeconds"] != 2.5 || p.Resolution["HeartbeatAgeSeconds"] != 1 || p.Units["SyncLagEvents"] != "Count" {
		t.Fatalf("parsed %+v", p)
	}
	if p.Resolution["SyncLagEvents"] != 60 {
		t.Fatalf("default resolution %d", p.Resolution["SyncLagEvents"])
	}
}

func TestMarshalRejects(t *testing.T) {
	many := make([]emf.Metric, 101)
	for i := range many {
		many[i] = emf.Metric{Name: "m" + strings.Repeat("x", i), Value: 1}
	}
	dims31 := map[string]string{}
	for i := 0; i < 31; i++ {
		dims31[strings.Repeat("d", i+1)] = "v"
	}
	ok := []emf.Metric{{Name: "A", Value: 1}}
	cases := map[string]struct {
		ns string
		r  emf.Record
	}{
		"no namespace":       {"", emf.Record{Metrics: ok}},
		"no metrics":         {"N", emf.Record{}},
		"101 metrics":        {"N", emf.Record{Metrics: many}},
		"31 dimensions":      {"N", emf.Record{Dimensions: dims31, Metrics: ok}},
		"bad resolution":     {"N", emf.Record{Metrics: []emf.Metric{{Name: "A", Value: 1, Resolution: 5}}}},
		"bad unit":           {"N", emf.Record{Metrics: []emf.Metric{{Name: "A", Value: 1, Unit: "Parsecs"}}}},
		"missing dimension":  {"N", emf.Record{DimensionSets: [][]string{{"ClusterGroup"}}, Metrics: ok}},
		"name collides":      {"N", emf.Record{Dimensions: map[string]string{"A": "x"}, Metrics: ok}},
		"duplicate metric":   {"N", emf.Record{Metrics: []emf.Metric{{Name: "A", Value: 1}, {Name: "A", Value: 2}}}},
		"not a finite value": {"N", emf.Record{Metrics: []emf.Metric{{Name: "A", Value: posInf()}}}},
	}
	for name, c := range cases {
		if _, err := emf.Marshal(c.ns, time.Now(), c.r); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func posInf() float64 { z := 0.0; return 1 / z }

func TestValidateRejects(t *testing.T) {
	for name, line := range map[string]string{
		"not json":         `{`,
		"no _aws":          `{"A":1}`,
		"float timestamp":  `{"_aws":{"Timestamp":1.5,"CloudWatchMetrics":[{"Namespace":"N","Dimensions":[],"Metrics":[{"Name":"A"}]}]},"A":1}`,
		"metric missing":   `{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"N","Dimensions":[],"Metrics":[{"Name":"A"}]}]}}`,
		"metric is string": `{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"N","Dimensions":[],"Metrics":[{"Name":"A"}]}]},"A":"1"}`,
		"dimension absent": `{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"N","Dimensions":[["G"]],"Metrics":[{"Name":"A"}]}]},"A":1}`,
		"resolution 10":    `{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"N","Dimensions":[],"Metrics":[{"Name":"A","StorageResolution":10}]}]},"A":1}`,
	} {
		if _, err := emf.Validate([]byte(line)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
