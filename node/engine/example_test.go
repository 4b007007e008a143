package engine_test

import (
	"fmt"
	"os"

	"github.com/streamha/streamha/node/engine"
)

func Example() {
	app, err := engine.Compile("temp.siddhi", `@app:name('TempMonitor')
define stream TempStream (deviceID long, roomNo int, temp double);
from TempStream[temp > 40.0] select roomNo, temp insert into HighTemp;`)
	if err != nil {
		fmt.Println(err)
		return
	}
	rt := engine.NewRuntime(app)
	print := func(o *engine.Output) { os.Stdout.Write(append(o.AppendJSON(nil), '\n')) }
	vals := []engine.Value{engine.LongValue(7), engine.IntValue(101), engine.DoubleValue(42.5)}
	rt.Apply(engine.Input{Seq: 1, TS: 1000, Stream: "TempStream", Data: vals}, print)

	blob, _ := rt.Snapshot() // e.g. shipped to the passive node
	restored, _ := engine.Restore(app, blob)
	fmt.Println("restored at seq", restored.LastSeq())
	// Output:
	// {"id":"TempMonitor/q1/1/0","stream":"HighTemp","ts":1000,"data":{"roomNo":101,"temp":42.5}}
	// restored at seq 1
}

func ExampleCompile_error() {
	_, err := engine.Compile("temp.siddhi", "define stream T (roomNo int);\nfrom T[temp > 40.0] select roomNo insert into O;")
	fmt.Println(err)
	// Output:
	// temp.siddhi:2:8: stream T has no attribute temp
	// from T[temp > 40.0] select roomNo insert into O;
	//        ^
}
