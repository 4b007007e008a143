package eventsync

import "fmt"

// ProtocolVersion is what an active speaks; a passive accepts MinProtocolVersion up to it, so
// an old active can still sync to an upgraded passive during a rolling deploy (the deploy
// replaces the passive first). Version 2 added the delivered frame; version 3 the passive's
// applied positions (hot passive) in its acks; version 4 mutual authentication: the active
// sends a nonce in its hello and the passive proves in its welcome that it holds the secret.
//
// An active never falls back below AuthProtocolVersion: a passive that refuses version 4 could
// not prove itself, so the active refuses it (ErrPassiveTooOld) and runs without a standby until
// that node is upgraded, rather than acknowledge inputs on the word of an unauthenticated peer.
const (
	ProtocolVersion     = 4
	AuthProtocolVersion = 4
	MinProtocolVersion  = 1
)

// Frame types. Each frame is u32 length (of type + payload) | u8 type | payload, big-endian.
const (
	typeChallenge uint8 = 1  // passive → active: nonce, passive node id
	typeHello     uint8 = 2  // active → passive: group, ids, term, HMAC; v4: the active's nonce
	typeWelcome   uint8 = 3  // passive → active: accepted, queue bound; v4: HMAC over the active's nonce
	typeRefuse    uint8 = 4  // passive → active: refused, reason; then close
	typeEntries   uint8 = 5  // active → passive: ordered inputs of one app
	typeControl   uint8 = 6  // active → passive: a snapshot covering app up to seq is committed
	typeAck       uint8 = 7  // passive → active: cumulative per-app seq held, queue depth
	typeHandover  uint8 = 8  // active → passive: lease released for a planned switchover
	typeError     uint8 = 9  // either way: fatal session error, reason; then close
	typePing      uint8 = 10 // active → passive: liveness probe; answered by an ack
	typeDelivered uint8 = 11 // active → passive (v2): every sink output of app's inputs up to seq is written
)

// Entry is one input of an app's log as it travels to the passive: an event (Stream set, Data the
// engine's value encoding) or a clock tick (Stream ""). Key, when set, is the idempotency key of
// the request that this entry ends, and KeyCount its number of events.
type Entry struct {
	Seq      uint64
	TS       int64
	Stream   string
	Data     []byte
	Key      string
	KeyCount uint32
}

// Size is the entry's weight against the passive's queue bound.
func (e *Entry) Size() int64 { return int64(48 + len(e.Stream) + len(e.Data) + len(e.Key)) }

type challenge struct {
	Nonce  []byte
	NodeID string
}

type hello struct {
	Version  uint16
	Group    string
	From, To string
	Term     int64
	MAC      []byte
	// Nonce (version 4) is the active's challenge to the passive, answered in the welcome.
	Nonce []byte
}

type welcome struct {
	MaxQueueBytes uint64
	// MAC (version 4) proves the passive holds the shared secret: welcomeMAC over the
	// hello's Nonce and identities. Absent from older welcomes.
	MAC []byte
}

type entries struct {
	App     string
	Entries []Entry
}

type control struct {
	App      string
	Seq      uint64
	Revision int64
}

// AppSeq is the highest contiguous sequence the passive holds for an app.
type AppSeq struct {
	App string
	Seq uint64
}

type ack struct {
	QueueBytes  uint64
	QueueEvents uint64
	Apps        []AppSeq
	// Applied (version 3): per app, the last input the passive's runtime applied; an app not
	// listed is cold (no runtime kept in step). Absent from older acks.
	Applied []AppSeq
	v3      bool
}

func (m *challenge) encode() []byte {
	var e enc
	e.bytes(m.Nonce)
	e.str(m.NodeID)
	return e.b
}

func (m *challenge) decode(p []byte) error {
	d := dec{b: p}
	m.Nonce, m.NodeID = d.bytes(), d.str()
	return d.done()
}

func (m *hello) encode() []byte {
	var e enc
	e.u16(m.Version)
	e.str(m.Group)
	e.str(m.From)
	e.str(m.To)
	e.i64(m.Term)
	e.bytes(m.MAC)
	if m.Version >= AuthProtocolVersion {
		e.bytes(m.Nonce)
	}
	return e.b
}

func (m *hello) decode(p []byte) error {
	d := dec{b: p}
	m.Version, m.Group, m.From, m.To, m.Term, m.MAC = d.u16(), d.str(), d.str(), d.str(), d.i64(), d.bytes()
	if d.err == nil && m.Version >= AuthProtocolVersion {
		m.Nonce = d.bytes()
	}
	return d.done()
}

func (m *welcome) encode() []byte {
	var e enc
	e.u64(m.MaxQueueBytes)
	if m.MAC != nil {
		e.bytes(m.MAC)
	}
	return e.b
}

func (m *welcome) decode(p []byte) error {
	d := dec{b: p}
	m.MaxQueueBytes = d.u64()
	if d.err == nil && len(d.b) > 0 { // version 4
		m.MAC = d.bytes()
	}
	return d.done()
}

// appendEntries encodes an entries frame payload straight into dst.
func appendEntries(dst []byte, app string, es []Entry) []byte {
	e := enc{b: dst}
	e.str(app)
	e.u32(uint32(len(es)))
	for i := range es {
		x := &es[i]
		e.u64(x.Seq)
		e.i64(x.TS)
		e.str(x.Stream)
		e.bytes(x.Data)
		e.str(x.Key)
		e.u32(x.KeyCount)
	}
	return e.b
}

// walkEntries checks an entries payload's structure and calls visit with each entry's seq and
// weight (Entry.Size) without allocating; it returns the app name's bytes (aliasing p). The
// passive stores frames whole and decodes them only at replay.
func walkEntries(p []byte, visit func(seq uint64, size int64)) (app []byte, err error) {
	d := dec{b: p}
	app = d.rawStr()
	n := d.count(8 + 8 + 2 + 4 + 2 + 4)
	for i := 0; i < n && d.err == nil; i++ {
		seq := d.u64()
		d.u64()
		size := int64(48 + len(d.rawStr()) + len(d.rawBytes()) + len(d.rawStr()))
		d.u32()
		if d.err == nil {
			visit(seq, size)
		}
	}
	return app, d.done()
}

// decode reads an entries payload (at replay: the queue's own copy of the frame). The entries'
// Data alias p, and repeated stream names share one string.
func (m *entries) decode(p []byte) error {
	d := dec{b: p}
	m.App = d.str()
	n := d.count(8 + 8 + 2 + 4 + 2 + 4)
	m.Entries = make([]Entry, 0, n)
	var last string
	for i := 0; i < n && d.err == nil; i++ {
		e := Entry{Seq: d.u64(), TS: d.i64()}
		if sb := d.rawStr(); string(sb) == last {
			e.Stream = last
		} else {
			e.Stream = string(sb)
			last = e.Stream
		}
		e.Data = d.rawBytes()
		e.Key, e.KeyCount = d.str(), d.u32()
		m.Entries = append(m.Entries, e)
	}
	return d.done()
}

func (m *control) encode() []byte {
	var e enc
	e.str(m.App)
	e.u64(m.Seq)
	e.i64(m.Revision)
	return e.b
}

func (m *control) decode(p []byte) error {
	d := dec{b: p}
	m.App, m.Seq, m.Revision = d.str(), d.u64(), d.i64()
	return d.done()
}

func (m *AppSeq) encode() []byte {
	var e enc
	e.str(m.App)
	e.u64(m.Seq)
	return e.b
}

func (m *AppSeq) decode(p []byte) error {
	d := dec{b: p}
	m.App, m.Seq = d.str(), d.u64()
	return d.done()
}

func (m *ack) encode() []byte {
	var e enc
	e.u64(m.QueueBytes)
	e.u64(m.QueueEvents)
	e.u32(uint32(len(m.Apps)))
	for _, a := range m.Apps {
		e.str(a.App)
		e.u64(a.Seq)
	}
	if m.v3 {
		e.u32(uint32(len(m.Applied)))
		for _, a := range m.Applied {
			e.str(a.App)
			e.u64(a.Seq)
		}
	}
	return e.b
}

func (m *ack) decode(p []byte) error {
	d := dec{b: p}
	m.QueueBytes, m.QueueEvents = d.u64(), d.u64()
	n := d.count(2 + 8)
	m.Apps = make([]AppSeq, 0, n)
	for i := 0; i < n && d.err == nil; i++ {
		m.Apps = append(m.Apps, AppSeq{App: d.str(), Seq: d.u64()})
	}
	if d.err == nil && len(d.b) > 0 { // version 3
		m.v3 = true
		n := d.count(2 + 8)
		for i := 0; i < n && d.err == nil; i++ {
			m.Applied = append(m.Applied, AppSeq{App: d.str(), Seq: d.u64()})
		}
	}
	return d.done()
}

func encodeReason(s string) []byte {
	var e enc
	e.str(s)
	return e.b
}

func decodeReason(p []byte) string {
	d := dec{b: p}
	s := d.str()
	if d.err != nil {
		return fmt.Sprintf("(undecodable reason: %v)", d.err)
	}
	return s
}

func encodeTerm(t int64) []byte {
	var e enc
	e.i64(t)
	return e.b
}

func decodeTerm(p []byte) (int64, error) {
	d := dec{b: p}
	t := d.i64()
	return t, d.done()
}
