// Package kafkatest is the in-process Kafka of the Kafka-fed tests (node/e2e, node/chaos): a
// kfake cluster with the topics in and out, the producer and read_committed reader clients, and
// the reading of one output record of the Kafka sink.
package kafkatest

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	kafkasink "github.com/streamha/streamha/node/sink/kafka"
)

// NewCluster starts a one-broker cluster with topic in of inPartitions partitions and topic out
// of 2.
func NewCluster(inPartitions int32) (*kfake.Cluster, error) {
	kc, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(inPartitions, "in"), kfake.SeedTopics(2, "out"))
	if err != nil {
		return nil, fmt.Errorf("kafka cluster: %w", err)
	}
	return kc, nil
}

// Producer is a client that produces to the partition each record names.
func Producer(kc *kfake.Cluster) (*kgo.Client, error) {
	return kgo.NewClient(kgo.SeedBrokers(kc.ListenAddrs()...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
}

// Reader is a client that consumes topic out from its start as a consumer should:
// read_committed, so aborted transactions of a deposed active are never seen.
func Reader(kc *kfake.Cluster) (*kgo.Client, error) {
	return kgo.NewClient(kgo.SeedBrokers(kc.ListenAddrs()...), kgo.ConsumeTopics("out"),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
}

// Output is one record of topic out, as the Kafka sink writes it.
type Output struct {
	ID       string // the output id header: app/query/seq/index
	Group    string // the group header
	Term     int64  // the term header (0 when absent)
	InputSeq string // the input sequence part of ID ("" when ID is not app/query/seq/index)
	EventID  int64  // the id attribute of the {"event":{…}} value
}

// ParseOutput reads r's headers and value; the error is a value that is not JSON (the headers
// are read all the same).
func ParseOutput(r *kgo.Record) (Output, error) {
	var o Output
	var term string
	for _, h := range r.Headers {
		switch h.Key {
		case kafkasink.OutputIDHeader:
			o.ID = string(h.Value)
		case kafkasink.TermHeader:
			term = string(h.Value)
		case kafkasink.GroupHeader:
			o.Group = string(h.Value)
		}
	}
	o.Term, _ = strconv.ParseInt(term, 10, 64)
	if parts := strings.Split(o.ID, "/"); len(parts) == 4 {
		o.InputSeq = parts[2]
	}
	var v struct {
		Event struct{ ID int64 } `json:"event"`
	}
	if err := json.Unmarshal(r.Value, &v); err != nil {
		return o, fmt.Errorf("output %q: %w", r.Value, err)
	}
	o.EventID = v.Event.ID
	return o, nil
}
