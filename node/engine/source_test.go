package engine_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/streamha/streamha/node/engine"
)

func TestSourceAnnotationsAreRecorded(t *testing.T) {
	src := `@app:name('Src')
@source(type='http', receiver.url='http://0.0.0.0:8006/in', basic.auth.enabled='false',
    @map(type='json', fail.on.missing.attribute='true', @attributes(id='$.order.id', sym='$.items[0].name')))
@source(type='wso2event')
define stream In (id long, sym string);
from In select id, sym insert into Out;`
	a, err := engine.Compile("src.siddhi", src)
	if err != nil {
		t.Fatal(err)
	}
	def, _ := a.Stream("In")
	if len(def.Sources) != 2 {
		t.Fatalf("sources = %d, want 2", len(def.Sources))
	}
	h := def.Sources[0]
	want := engine.SourceSpec{
		Type:    "http",
		Options: map[string]string{"receiver.url": "http://0.0.0.0:8006/in", "basic.auth.enabled": "false"},
		Map: engine.MapSpec{Type: "json", Options: map[string]string{"fail.on.missing.attribute": "true"},
			Attributes: map[string]string{"id": "$.order.id", "sym": "$.items[0].name"}},
		Line: 2, Col: 1,
	}
	if !reflect.DeepEqual(h, want) {
		t.Fatalf("http source = %+v\nwant %+v", h, want)
	}
	if w := def.Sources[1]; w.Type != "wso2event" || len(w.Options) != 0 || w.Map.Type != "" || w.Line != 4 {
		t.Fatalf("wso2event source = %+v", w)
	}
}

func TestSourceAnnotationErrors(t *testing.T) {
	for _, c := range []struct{ src, want string }{
		{"@source(receiver.url='x') define stream S (a int);", "@source needs a type"},
		{"@source(type='http', @map(type='json'), @map(type='json')) define stream S (a int);", "two @map"},
		{"@source(type='http', @sink(type='log')) define stream S (a int);", "only a nested @map"},
		{"@source(type='http', @map(@attributes(a='$.a'))) define stream S (a int);", "@map needs a type"},
	} {
		_, err := engine.Compile("s.siddhi", c.src)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want %q", c.src, err, c.want)
		}
	}
}
