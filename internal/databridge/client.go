// Package databridge is a publisher for WSO2's binary databridge protocol, written from the
// protocol's description (WSO2 carbon-analytics-common: BinaryEventSender, BinaryDataReceiver)
// independently of the node's receiver, for tests and benchmarks: login, publish, logout.
package databridge

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"net"
	"time"
)

// Client is one publisher connection.
type Client struct {
	c       net.Conn
	r       *bufio.Reader
	Session string
	// Timeout bounds the wait for each answer (0: 30 s); a publisher with a failover list
	// sets it short to leave a node that accepts connections but does not answer (frozen).
	Timeout time.Duration
	buf     []byte
}

// ServerError is an error answer: the exception class and message the receiver sent.
type ServerError struct{ Class, Message string }

func (e *ServerError) Error() string { return e.Class + ": " + e.Message }

// Dial connects to a receiver.
func Dial(addr string) (*Client, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	return &Client{c: c, r: bufio.NewReader(c)}, nil
}

// NewClient speaks the protocol on an open connection, e.g. a tls.Client for a TLS port.
func NewClient(c net.Conn) *Client { return &Client{c: c, r: bufio.NewReader(c)} }

// Close closes the connection.
func (cl *Client) Close() error { return cl.c.Close() }

// Conn is the underlying connection (tests write broken frames on it).
func (cl *Client) Conn() net.Conn { return cl.c }

func frame(typ byte, payload []byte) []byte {
	out := make([]byte, 0, 5+len(payload))
	out = append(out, typ)
	out = binary.BigEndian.AppendUint32(out, uint32(len(payload)))
	return append(out, payload...)
}

func appendStr(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

// Login sends user and password; on success the session id is kept for Publish.
func (cl *Client) Login(user, password string) error {
	p := binary.BigEndian.AppendUint32(nil, uint32(len(user)))
	p = binary.BigEndian.AppendUint32(p, uint32(len(password)))
	p = append(append(p, user...), password...)
	if _, err := cl.c.Write(frame(0, p)); err != nil {
		return err
	}
	s, err := cl.answer()
	if err != nil {
		return err
	}
	cl.Session = s
	return nil
}

// Logout ends the session.
func (cl *Client) Logout() error {
	if _, err := cl.c.Write(frame(1, appendStr(nil, cl.Session))); err != nil {
		return err
	}
	_, err := cl.answer()
	return err
}

// Event is one event: its stream id (name:version), timestamp and attribute values, each group
// in the stream definition's order. Values are string, int32, int64, float32, float64 or bool.
type Event struct {
	StreamID    string
	Timestamp   int64
	Meta        []any
	Correlation []any
	Payload     []any
	Arbitrary   map[string]string
}

// AppendPublish encodes a publish message of events under session.
func AppendPublish(dst []byte, session string, events []Event) []byte {
	p := appendStr(nil, session)
	p = binary.BigEndian.AppendUint32(p, uint32(len(events)))
	for _, e := range events {
		var b []byte
		b = binary.BigEndian.AppendUint64(b, uint64(e.Timestamp))
		b = appendStr(b, e.StreamID)
		for _, group := range [][]any{e.Meta, e.Correlation, e.Payload} {
			for _, v := range group {
				b = appendValue(b, v)
			}
		}
		for k, v := range e.Arbitrary {
			b = appendStr(appendStr(b, k), v)
		}
		p = binary.BigEndian.AppendUint32(p, uint32(len(b)))
		p = append(p, b...)
	}
	return append(dst, frame(2, p)...)
}

func appendValue(b []byte, v any) []byte {
	switch x := v.(type) {
	case string:
		return appendStr(b, x)
	case int32:
		return binary.BigEndian.AppendUint32(b, uint32(x))
	case int64:
		return binary.BigEndian.AppendUint64(b, uint64(x))
	case float32:
		return binary.BigEndian.AppendUint32(b, math.Float32bits(x))
	case float64:
		return binary.BigEndian.AppendUint64(b, math.Float64bits(x))
	case bool:
		if x {
			return append(b, 1)
		}
		return append(b, 0)
	case nil:
		return binary.BigEndian.AppendUint32(b, 0) // as WSO2's sender writes a null
	}
	panic(fmt.Sprintf("databridge: unsupported value %T", v))
}

// Publish sends events and waits for the receiver's answer.
func (cl *Client) Publish(events []Event) error {
	cl.buf = AppendPublish(cl.buf[:0], cl.Session, events)
	if _, err := cl.c.Write(cl.buf); err != nil {
		return err
	}
	_, err := cl.answer()
	return err
}

// WriteRaw sends bytes as they are (broken frames in tests).
func (cl *Client) WriteRaw(b []byte) error {
	_, err := cl.c.Write(b)
	return err
}

// ReadAnswer reads one answer: nil for OK, the session id for a login, or a *ServerError.
func (cl *Client) ReadAnswer() (string, error) { return cl.answer() }

func (cl *Client) answer() (string, error) {
	d := cl.Timeout
	if d == 0 {
		d = 30 * time.Second
	}
	_ = cl.c.SetReadDeadline(time.Now().Add(d))
	defer cl.c.SetReadDeadline(time.Time{})
	t, err := cl.r.ReadByte()
	if err != nil {
		return "", err
	}
	var hdr [8]byte
	switch t {
	case 0:
		return "", nil
	case 1:
		if _, err := io.ReadFull(cl.r, hdr[:8]); err != nil {
			return "", err
		}
		cn, mn := binary.BigEndian.Uint32(hdr[:4]), binary.BigEndian.Uint32(hdr[4:])
		b := make([]byte, cn+mn)
		if _, err := io.ReadFull(cl.r, b); err != nil {
			return "", err
		}
		return "", &ServerError{Class: string(b[:cn]), Message: string(b[cn:])}
	case 2:
		if _, err := io.ReadFull(cl.r, hdr[:4]); err != nil {
			return "", err
		}
		b := make([]byte, binary.BigEndian.Uint32(hdr[:4]))
		if _, err := io.ReadFull(cl.r, b); err != nil {
			return "", err
		}
		return string(b), nil
	}
	return "", fmt.Errorf("databridge: unknown answer type %d", t)
}
