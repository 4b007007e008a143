package engine

import "strconv"

// Input is one entry of the ordered input log: an event for a defined stream, or a clock tick
// when Stream is "". Seq must increase (the first is 1; gaps are allowed); TS is the event time
// in epoch milliseconds.
type Input struct {
	Seq    uint64
	TS     int64
	Stream string
	Data   []Value
}

// Output is one event a query inserted into a stream. ID is "<app>/<query>/<input seq>/<index>",
// identical on every replay of the same input, so that sinks can drop duplicates.
type Output struct {
	ID      string
	Query   string
	Seq     uint64
	Index   int
	Stream  string
	TS      int64
	Attrs   []Attr
	Data    []Value
	Expired bool
}

// AppendJSON appends {"id":…,"stream":…,"ts":…,"data":{…}} (plus "expired":true) to dst.
func (o *Output) AppendJSON(dst []byte) []byte {
	dst = append(dst, `{"id":`...)
	dst = AppendJSONString(dst, o.ID)
	dst = append(dst, `,"stream":`...)
	dst = AppendJSONString(dst, o.Stream)
	dst = append(dst, `,"ts":`...)
	dst = strconv.AppendInt(dst, o.TS, 10)
	dst = append(dst, `,"data":{`...)
	for i, v := range o.Data {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = AppendJSONString(dst, o.DataName(i))
		dst = append(dst, ':')
		dst = v.AppendJSON(dst)
	}
	dst = append(dst, '}')
	if o.Expired {
		dst = append(dst, `,"expired":true`...)
	}
	return append(dst, '}')
}

// DataName is the JSON key of o.Data[i]: its attribute's name, or "_<i>" past the attributes;
// exported so a sink caching the keys names values as AppendJSON does.
func (o *Output) DataName(i int) string {
	if i < len(o.Attrs) {
		return o.Attrs[i].Name
	}
	return "_" + strconv.Itoa(i)
}

// Clone returns a deep copy of o, for callers that keep outputs beyond the emit callback.
func (o *Output) Clone() *Output {
	c := *o
	c.Data = append([]Value(nil), o.Data...)
	return &c
}
