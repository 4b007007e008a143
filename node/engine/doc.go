// Package engine compiles and runs stream apps written in a subset of SiddhiQL, deterministically.
//
// Usage contract:
//
//	app, err := engine.Compile("app.siddhi", src) // *CompileError with file:line:col and a caret
//	rt := engine.NewRuntime(app)                  // or engine.Restore(app, base, deltas...)
//	for each input in log order:
//	    err := rt.Apply(engine.Input{Seq: n, TS: ms, Stream: "S", Data: vals}, emit)
//	blob, _ := rt.Snapshot()                      // between Applys: a base revision
//	delta, _ := rt.SnapshotDelta()                // later: only what changed since the last revision
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
// Language: @app:name; define stream with @sink and @source annotations (a source and its @map
// are recorded in StreamDef.Sources, @map's fail.on.missing.attribute in StreamDef.MissingAsNull;
// the node opens and checks them); define table (below); queries
// "from S[filter]#window.W(args)[filter] [as s] select ... group by ... having ... order by ...
// limit N offset N output ... insert [current|expired|all] events into T" (T is created with the
// select's schema when not defined; a table is also written with delete, update and update or
// insert into; s.x or S.x qualify attributes); windows length, lengthBatch, time, timeBatch,
// externalTime, externalTimeBatch; aggregates count, sum, avg, min, max, distinctCount, stdDev
// (population), maxForever, minForever (removals ignored), and, or (of bools);
// functions ifThenElse, coalesce, default (one type), cast/convert (both convert; to bool, only "true" or 1 is true), concat, eventTimestamp,
// instanceOfBoolean/String/Integer/Long/Float/Double, maximum/minimum (one numeric type, nulls
// skipped), UUID() (in select: a version-5 UUID of app, query, input seq and position, so that
// a replay gives the same one), "x is null"; patterns "every e1=A[..] -> e2=B[.. e1.x ..] within 10 sec" with
// counting and absent elements (below), and sequences with "," and the quantifiers + * ? on
// any element but two in a row (e2[0].x, e2[last].x; a bare e2.x is e2[0].x; on an element that
// matches one event, e2[0].x and e2[last].x are e2.x and other indexes null). With "every", an
// event a pending sequence match took starts no new match, as in Siddhi.
//
// Patterns: a partial match waits for its next element; events that do not satisfy it are
// ignored (in a sequence they drop the partial). "every" on the first element starts a partial
// for each matching event (also written "(every e1=A -> e2=B) within T"), "every (...)" around the whole pattern restarts it when no partial is
// pending, and without "every" the pattern matches once. "every" on a group of first elements
// followed by more ("every (e1=A -> e2=B) -> e3=C", also "(every (...) -> e3=C) within T")
// starts a new partial only while none waits inside the group; "every" on a later element or
// group ("e1=A -> every e2=B -> e3=C", "e0=A -> every (e1=B -> e2=B) -> e3=C") leaves, each time
// a partial passes the group's last element, a copy of it waiting at the group's first element
// (after the current event), its events from there on dropped; one such group per pattern, no
// absent element in it, not in sequences. Having may read pattern events (e1[1].x) besides the
// select's outputs. An alias may name two elements ("every e1=A -> e1=B"); references read the
// first, as in Siddhi. Aggregates in select (count() as n) run over the matches, which never
// expire (no group by); their state is part of the pattern's snapshot state. "within T" drops partials started more
// than T before (logical clock), before the event is offered, so with "every (...)" the event
// arriving after a timed-out attempt starts the next one, as in Siddhi.
//
// Counting elements ("->" patterns only): "e2=B[cond]<n:m>" collects n to m events, "<n:>" n or
// more, "<:m>" up to m (n is 0) and "<n>" exactly n, with 0 <= n <= m, m >= 1, both at most 65536.
// The collected events are e2[0].x, e2[1].x, ..., e2[last].x (a bare e2.x is e2[0].x), in select
// and in the conditions of later elements ("e2 is null", "e2[last-1] is null" test whether the
// element bound that event; in its own condition, e2.x without an index is the
// event being tested, as in Siddhi, and e2[last] the last event collected before it); an index beyond what was collected is null. Until n events
// are collected only the element takes events; then an event that satisfies the next element
// moves the match on (reluctantly: it is not also collected), and any other event that satisfies
// cond is collected until m (then ignored). A counting last element completes the match as soon
// as n events are collected, so its m has no effect. A counting first element starts a partial
// with its first event; with "every" on it, as in Siddhi, a matching event starts a new partial
// only when no pending partial is still short of n events (the event that brings one to n does
// not start another), and it is also collected by the pending ones. A counting last element
// needs n >= 1; a first one with n = 0 ("e1=A<0:5> -> e2=B") needs a plain second element and no
// "every" (an event of the second element may then complete the match with e1 empty). Two
// counting elements may follow each other (the first event of the second moves the match on).
// Counting elements in sequences are compile errors.
//
// Absent elements: "not B[cond] for T" (no alias; cond may read earlier
// aliases and B's attributes). A partial reaching it waits T on the logical clock: a B event that
// satisfies cond during the wait drops the partial; when the clock reaches the end of the wait
// (a timer, fired before the input that moved the clock, so a B at exactly that time comes too
// late) the partial passes the element, or, at the last element, completes the match with the
// end of the wait as timestamp and the id of the input whose clock advance fired it. With
// "every" on it ("e1=A -> every not B for T", "every not A for T -> e2=B", also "every (not B for
// T)"), each elapsed wait moves a copy of the match on (or completes it) and the wait starts
// again, until a B drops it or "within" ends it; a clock jump of n waits fires n times. As the
// first element ("not A for 5 sec -> e2=B") the wait starts at the app's first input, and with
// "every (...)" around the whole pattern again whenever no partial is pending; there a matching
// A restarts the wait rather than dropping the partial, so the pattern needs T without A (its
// "within" counts from the first event the match binds after the wait, as in Siddhi). Pending waits are part of snapshots; apps with
// absent elements use time (UsesTime). Timers due at the same time fire rate limiter period
// ends, then window timers, then absent waits, each kind in query order. In "," sequences
// absent and logical absent elements follow Siddhi's sequences: another stream's event drops a
// partial waiting out an absence, a B on an absent first element drops the partial rather than
// restarting the wait (without "every"), a B on either absent side drops an "or" pair, elapsed
// waits pass at most one new partial to a state until the next event, and "e1=A+, not B for T"
// waits from A's last event. Compile errors: an absent element without "for", alone, right
// after another absent or a counting element (but "e1=A+, not B for T" in a sequence, and a
// logical element after a counting element of a fixed count, which the match enters once the
// count is collected: "e2=A<2> -> not B and e3=C"), an
// absent element inside a later "every" group, and an absent side without "for" joined by "or"
// or to another absent side.
//
// Logical elements: "e2=B[..] and e3=C[..]" binds, for each side, the first event satisfying
// it (one event may bind both) and moves on once both are bound; "e2=B[..] or e3=C[..]" moves
// on with the first event satisfying either side, the other reading null. A logical element
// stands where an element does (first, "every" on it, in sequences, "every (e1=A and e2=B) ->
// e3=C"); with "every" on a logical first element, a new partial starts only once the pending
// one has completed the element (not with the event that completes it), as in Siddhi. "every"
// on a later logical element with an absent side ("e1=A -> every (not B and e3=C)") passes a copy
// of the match each time the element holds and waits again; on a first one whose absent side
// has no "for", a B makes it wait again only from the event after the B, as in Siddhi. Its sides
// take no quantifier, it joins exactly two elements, and it cannot follow a counting or
// quantified element.
//
// Deviations from Siddhi: time is the logical clock (an absent first element waits from the
// first input, not from the app's start in wall-clock time); an event that could both extend a
// counting element and match the next element goes to the next element only.
//
// Joins: "from L[filter]#window.W(args) [as l] [unidirectional] J R[filter]#window.W(args) [as r]
// [unidirectional] [on <bool condition>] select ..." with J one of join, inner join, left outer
// join, right outer join, full outer join, then the clauses of a simple query (select, group by,
// having, order by, limit, offset, output, insert). A side's window is optional and must be
// length, time or externalTime; its filters come before the window and read only its own
// attributes. Attributes are qualified by the side's alias, or by its stream name when it has
// none (l.x, L.x); an unqualified name
// must belong to one side only; a self-join (the same stream on both sides) needs an alias on
// each side; "select *" lists the left side's attributes then the right side's (their names must
// differ); order by names an output attribute, or an input attribute qualified as in select.
// When an event reaches a side (left first when the same stream feeds both) and passes its
// filters, it enters the side's window, which may expire older events first as it does for a
// simple query; each expired event, then the arrival, probes the other side's window: every
// retained event, in insertion order, for which "on" holds (every one without "on") yields one
// joined row, current for an arrival and expired for an expiry (timestamped like the event
// that probes). A probe by the left side of a left or full outer join, or by the right side of
// a right or full outer join, that matches nothing yields one row with nulls for the other
// side. Time windows expire on the logical clock (the earlier deadline first, the left side at a
// tie) and their expiries probe likewise. A side without a window retains nothing: its events
// probe but are never matched by later arrivals; as in Siddhi (its empty window), each arrival
// there gives a batch of its joined rows current, then, when the query outputs expired events,
// a batch of the same rows expired (each batch one row per group, the last, with aggregates or
// group by), then a reset of the aggregates, so they cover one arrival's rows (a stream-table
// join works the same way). In a join with a table, what one arrival or expiry makes the
// stream side's window emit (its expired rows, then the arrival) is one such batch, without a
// reset (JoinTestCase.joinTest18). Having may also read the joined rows' input attributes
// (having order.items == 'x'), except with output snapshot. With "unidirectional" on one side, only that
// side's arrivals and expiries probe; the other side only fills its window. Aggregates add
// current rows and remove expired ones (in any order). "within" and batch windows on join
// sides are not supported. Both windows are part of the query's snapshot state.
//
// Tables: "define table T (a string, b int);" is an in-memory list of rows in insertion order
// (@store, @sink and @source on a table are compile errors). @PrimaryKey('a', ...) keeps keys
// unique, as in Siddhi: inserting a row whose key the table holds drops it, and an update (or
// the update of an update or insert) that would give two rows one key changes nothing.
// @Index('a', ...) is accepted and changes nothing but its check of the names. A table
// is not a stream: it takes no inputs, emits nothing, is not in Streams (see Tables), and
// "from T", tables in patterns and tables on both sides of a join are compile errors. A query
// writes a table with its output rows (after having, order by, limit, offset and output rate
// limiting, current or expired as its output kind says); these rows are not emitted and use no
// output ids. "insert into T" appends each row (the select's attributes must equal the table's:
// names, types and order). "delete T on <cond>" removes every row for which cond holds,
// keeping the order of the rest; "update T set T.a = <expr>, ... on <cond>" assigns, in every
// row for which cond holds, all the values computed first (so "set T.a = T.b, T.b = T.a"
// swaps; a narrower number is widened to the attribute's type; "set a = ..." may omit "T."); without set, every table attribute the select has by name (same type) is assigned
// from it. "update or insert into T [set ...] on <cond>" updates like update and appends the row
// when no row matched (its select must then match the table as for insert). In cond and the set
// values, T.x is the table row's attribute and an unqualified name is the query's output
// attribute; "for ... events" is not supported. A join with a table ("from S#window.W(..) as s
// [left outer] join T [as t] on ... select ...", or the table first with "right outer join") is a
// join whose table side has no window, filter or unidirectional and never triggers: each event
// of the stream side (arrival, or expiry of its window) probes the table's rows in insertion
// order, as it probes a window; the outer side must be the stream (a full outer join is the
// stream side's outer join, as in Siddhi, since the table never triggers). A probe
// sees the table as it was when the probe started: changes the joined rows cause (through
// queries reading them) are seen by later probes. Queries run in source order for each event,
// so a query writing T before a query joining T on the same stream sees the change, and after it
// does not. Queries may form a cycle (a recursive join through a table): a query whose output
// leads back to its input hands its rows to their readers once the event being processed is
// done, in order, at most 100000 per input (Siddhi nests them depth first); not in partitions. Table rows are part of snapshots (after the queries' states; apps without tables
// encode exactly as before). Deviations from Siddhi: no stores or on-demand queries, lookups
// scan the rows (keys and indexes do not speed them up); no "for ... events" on delete/update; inserted rows must match the table's
// attribute names as well as its types; a table side of a join takes no filter.
//
// "<condition> in T" (filters and select items of stream and join queries; not in having,
// patterns, table conditions or another 'in') is true when some row of T, tried in insertion
// order, satisfies the condition; there T.x is the row's attribute and other names resolve as
// outside (an unqualified name unknown outside may name T's attribute). As in SiddhiQL, 'in'
// binds looser than comparisons and tighter than 'and': "a == T.a and b > 1 in T" tests only
// "b > 1" against T.
//
// Partitions: "partition with (<expr> of S, ...) begin <queries> end;" (value keys: the
// expression's value as a string; a null value drops the event) or "partition with (<cond> as 'label' or ... of S) begin ...
// end;" (range keys: every label whose condition holds, in the order written; none, the event
// is dropped). Each key gets its own instance of the partition's queries (windows, aggregates,
// pattern partials, join windows, rate limiters), created at its first event in arrival order.
// An event of a listed stream goes to its keys' instances; an event of another stream the
// queries read goes to every existing instance in creation order; within an instance, queries
// take it in source order. Inner streams ("insert into #I", "from #I", "#I.x") exist per
// instance and only inside their partition (a later partition's #I is another stream, named
// #I@<n> in outputs). Outputs to outer streams and tables are shared; a query's ids count over
// all its instances. At equal deadlines the order of timer kinds holds (below); within a kind,
// queries outside partitions fire first, then instances in creation order. "@purge(enable='true', interval='T1',
// idle.period='T2')" checks every T1 of the logical clock from the first input (before the input
// whose clock reaches a check, after the timers due by then) and drops the instances no keyed
// event reached for T2; a later event of the key starts afresh. Instances, in creation order,
// and purge checks are part of snapshots (after the tables; apps without partitions encode
// exactly as before).
//
// Semantics follow Siddhi's playback mode: sliding windows (length, time, externalTime) emit each
// event as current on arrival and as expired when it leaves (expired first when an arrival pushes
// one out); batch windows (lengthBatch, timeBatch, externalTimeBatch) emit at batch end the
// previous batch as expired, then the new batch as current; with aggregates or group by, as in
// Siddhi, each flush (the expired rows and the current ones together) collapses to one row per
// group: its last row of a kind the query outputs (and that passes having), placed where the
// group first appeared in the flush. length(0) and lengthBatch(0) retain nothing: each arrival
// is emitted as current and at once as expired, then the aggregates reset (for lengthBatch(0)
// each arrival is a batch of its own), as in Siddhi. Aggregates skip nulls; sum/avg/min/max of nothing are null.
// Comparisons with null are false; arithmetic with null, or integer division by zero, is null.
//
// "order by a [asc|desc], b ..., limit N, offset N" (simple queries only; N a non-negative integer
// literal; attributes are the select's output names, or input attributes the select projects)
// apply to each chunk of outputs: the rows the selector emits for one event reaching the query,
// or for one window timer (a whole batch for batch windows; for sliding windows an arrival's
// expired and current rows together). The chunk is sorted stably (ties keep emission order;
// null sorts first ascending, NaN before other numbers), then offset rows are skipped and at
// most limit rows kept.
//
// Output rate limiting, after order by/limit/offset, works on the rows that remain (current and
// expired alike). "output [all|first|last] every N events" (all is the default) groups the rows in
// runs of N: all releases the whole run at its Nth row, first releases the run's first row at once
// and drops the rest, last releases the run's last row at its Nth row. "output [all|first|last]
// every <time>" (e.g. 500 ms, 1 sec, 1 min 30 sec) uses periods of the logical clock: the first
// starts at the clock of the first row, the next ones follow back to back; all releases the
// period's rows at its end, first releases each period's first row at once and drops the rest,
// last releases the period's last row at its end. With group by, first and last apply per group-by
// key (the end of a run or period releases the keys' last rows in the order the keys first
// appeared in it); "first every N events" then counts runs of N rows per key, as Siddhi does (a
// key's first row is released, its Nth row ends its run), while "last every N events" counts
// all rows. "output snapshot every <time>" emits at the end of every period, as current events
// timestamped with the period end, what Siddhi's snapshot limiters emit: without a window the
// last row the query emitted (per group-by key); with a window and aggregates with group by, or
// only aggregates in select, the last row computed for each group the query holds (the groups
// of the events in the window; for batch windows, of the last batch) that passes having, in an
// unspecified but deterministic order (add order by to sort them); with a window otherwise,
// every event in the window (batch windows: the last batch), oldest first, selected with the
// current aggregates, those passing having. As in Siddhi, periods without events emit too, until
// the snapshot is empty; an event reaching the selector then re-arms the period holding the
// clock. One clock advance emits at most 10000 snapshots; then the periods skip to the one
// holding the new clock. Released rows keep their timestamps and kinds; a row released at a
// period end gets the id of the input whose clock advance reached it. Period ends are timers: they
// fire when the clock reaches them, before window timers due at the same time, and their state is
// part of snapshots.
package engine
