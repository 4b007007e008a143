package chaos

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	kafkasink "github.com/streamha/streamha/node/sink/kafka"
)

// out is one output record of the Kafka sink: the input id in its event, its output id
// (app/query/input seq/index) and term in its headers.
func out(partition int32, offset int64, inputID, seq, term int64) *kgo.Record {
	return &kgo.Record{Topic: "out", Partition: partition, Offset: offset,
		Value: []byte(fmt.Sprintf(`{"event":{"id":%d,"v":1}}`, inputID)),
		Headers: []kgo.RecordHeader{
			{Key: kafkasink.OutputIDHeader, Value: []byte(fmt.Sprintf("KF/query1/%d/0", seq))},
			{Key: kafkasink.TermHeader, Value: []byte(strconv.FormatInt(term, 10))},
			{Key: kafkasink.GroupHeader, Value: []byte("default")},
		}}
}

// The Kafka-fed verdicts: a produced record without output is lost, an input under two input
// sequences was applied twice, a term falling back on one output partition is a deposed
// active's output; a re-emission under the same output id is neither.
func TestKafkaVerdicts(t *testing.T) {
	k := &KafkaLoad{produced: map[int64]kafkaPos{}, seqs: map[int64]map[string]bool{},
		outIDs: map[string]bool{}, newest: map[int32]int64{}}
	for id := int64(1); id <= 5; id++ {
		k.produced[id] = kafkaPos{Partition: int32(id % 4), Offset: id / 4}
	}
	k.observe(out(0, 0, 1, 1, 1))
	k.observe(out(0, 1, 1, 1, 2)) // re-emitted by the next active: same output id
	k.observe(out(0, 2, 2, 2, 2))
	k.observe(out(1, 0, 3, 3, 2))
	k.observe(out(1, 1, 3, 9, 2)) // input 3 applied again under another input sequence
	k.observe(out(0, 3, 4, 4, 1)) // term 1 after term 2 on out/0: deposed
	k.observe(out(1, 2, 6, 6, 1)) // term 1 after term 2 on out/1: deposed (6 was not produced)
	// 5 has no output.
	rep, twice, deposed := k.report()
	if len(rep.Lost) != 1 || rep.Lost[0] != 5 {
		t.Errorf("lost %v, want [5]", rep.Lost)
	}
	if rep.DupEvents != 1 || len(twice) != 1 || !strings.Contains(twice[0], "id 3") {
		t.Errorf("applied twice %d %v, want input 3", rep.DupEvents, twice)
	}
	if rep.DupOutputIDs != 1 || rep.OutputLines != 7 || rep.Acked != 5 || rep.Reflected != 4 {
		t.Errorf("report %+v", rep)
	}
	if len(deposed) != 2 || !strings.Contains(deposed[0], "term 1 on out/0") || !strings.Contains(deposed[1], "term 1 on out/1") {
		t.Errorf("deposed %v, want one per output partition", deposed)
	}
	if k.missing() != 1 {
		t.Errorf("missing %d, want 1", k.missing())
	}
	r := &Result{Source: SourceKafka, Acked: 5, DeposedOutputs: deposed}
	if r.OK() || !strings.Contains(r.String(), "outputs of a deposed term:          2") {
		t.Errorf("a deposed output must fail the run:\n%s", r)
	}
	r.DeposedOutputs = nil
	if !r.OK() {
		t.Errorf("clean Kafka result judged failing:\n%s", r)
	}
}
