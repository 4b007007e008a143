// Package engine compiles and runs stream apps written in a subset of SiddhiQL, deterministically.
//
// Usage contract:
//
//	app, err := engine.Compile("app.siddhi", src) // *CompileError with file:line:col and a caret
//	rt := engine.NewRuntime(app)                  // or engine.Restore(app, blob)
//	for each input in log order:
//	    err := rt.Apply(engine.Input{Seq: n, TS: ms, Stream: "S", Data: vals}, emit)
//	blob, _ := rt.Snapshot()                      // between Applys
//
// A Runtime is single-threaded and does no I/O. All time is logical: the clock is the highest
// timestamp of the inputs applied so far (events and clock ticks, Stream ""), and time windows fire
// when the clock passes their deadlines, before the input that moved the clock is processed. So
// the outputs depend only on the input log, and Restore(snapshot at k) followed by inputs k+1..n
// yields exactly the outputs of an uninterrupted run, with the same ids
// ("<app>/<query>/<input seq>/<index>"): sinks drop the ids they have already written.
//
// Outputs are emitted in processing order: an output is emitted, then routed depth-first to
// the queries reading its stream, before the next output of the same query.
//
// Language: @app:name; define stream with @sink annotations; queries
// "from S[filter]#window.W(args)[filter] select ... group by ... having ... insert [current|expired|all]
// events into T" (T is created with the select's schema when not defined); windows length,
// lengthBatch, time, timeBatch, externalTime, externalTimeBatch; aggregates count, sum, avg, min,
// max, distinctCount; functions ifThenElse, coalesce, cast/convert (both convert), concat,
// eventTimestamp, "x is null"; patterns "every e1=A[..] -> e2=B[.. e1.x ..] within 10 sec" and
// sequences with "," and the quantifiers + * ? on middle elements (e2[0].x, e2[last].x; a bare
// e2.x is e2[0].x).
//
// Semantics follow Siddhi's playback mode: sliding windows (length, time, externalTime) emit each
// event as current on arrival and as expired when it leaves (expired first when an arrival pushes
// one out); batch windows (lengthBatch, timeBatch, externalTimeBatch) emit at batch end the
// previous batch as expired, then the new batch as current; with aggregates a batch collapses to
// the last row per group. Aggregates skip nulls; sum/avg/min/max of nothing are null.
// Comparisons with null are false; arithmetic with null, or integer division by zero, is null.
package engine
