package wso2event

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"unicode/utf8"

	"github.com/streamha/streamha/node/engine"
)

// Message types of WSO2's binary databridge protocol (client to server: type:u8, size:i32,
// payload; all integers big-endian, as Java's ByteBuffer writes them).
const (
	msgLogin   = 0 // userLen:i32 passLen:i32 user pass
	msgLogout  = 1 // sessLen:i32 sess
	msgPublish = 2 // sessLen:i32 sess count:i32 (eventLen:i32 event)×count
)

// Answers (server to client).
const (
	ansOK    = 0 // publish or logout accepted
	ansError = 1 // classLen:i32 msgLen:i32 class msg
	ansLogin = 2 // sessLen:i32 sess
)

// Exception classes the publisher sees, as WSO2's receiver names them; the Java agent loads
// the class by this name and reacts to it (re-login on SessionTimeoutException, etc.).
const (
	ClassAuthentication = "org.wso2.carbon.databridge.commons.exception.AuthenticationException"
	ClassSessionTimeout = "org.wso2.carbon.databridge.commons.exception.SessionTimeoutException"
	ClassUndefinedEvent = "org.wso2.carbon.databridge.commons.exception.UndefinedEventTypeException"
	ClassMalformedEvent = "org.wso2.carbon.databridge.commons.exception.MalformedEventException"
	// ClassDataBridge is the receiver's own failure: not active, not acknowledged, overloaded.
	ClassDataBridge = "org.wso2.carbon.databridge.core.exception.DataBridgeException"
)

// MaxFrame bounds one message's payload.
const MaxFrame = 32 << 20

// protoError is an error answered to the publisher with its exception class.
type protoError struct {
	class string
	msg   string
}

func (e *protoError) Error() string { return e.class + ": " + e.msg }

func errorf(class, format string, args ...any) *protoError {
	return &protoError{class: class, msg: fmt.Sprintf(format, args...)}
}

// appendError encodes an error answer.
func appendError(dst []byte, e *protoError) []byte {
	dst = append(dst, ansError)
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(e.class)))
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(e.msg)))
	dst = append(dst, e.class...)
	return append(dst, e.msg...)
}

func appendLogin(dst []byte, session string) []byte {
	dst = append(dst, ansLogin)
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(session)))
	return append(dst, session...)
}

// readFrame reads one message. io.EOF means the peer closed between messages; a frame cut
// short is io.ErrUnexpectedEOF.
func readFrame(r io.Reader, buf *[]byte) (typ byte, payload []byte, err error) {
	var hdr [5]byte
	if _, err := io.ReadFull(r, hdr[:1]); err != nil {
		return 0, nil, err
	}
	if _, err := io.ReadFull(r, hdr[1:]); err != nil {
		return 0, nil, fmt.Errorf("message header cut short: %w", io.ErrUnexpectedEOF)
	}
	n := int32(binary.BigEndian.Uint32(hdr[1:]))
	if n < 0 || n > MaxFrame {
		return 0, nil, errorf(ClassMalformedEvent, "message size %d out of range (at most %d bytes)", n, MaxFrame)
	}
	if cap(*buf) < int(n) {
		*buf = make([]byte, n)
	}
	p := (*buf)[:n]
	if _, err := io.ReadFull(r, p); err != nil {
		return 0, nil, fmt.Errorf("message of %d bytes cut short: %w", n, io.ErrUnexpectedEOF)
	}
	return hdr[0], p, nil
}

// reader walks a payload; the first overrun sets err and every later read returns zero.
type reader struct {
	b   []byte
	err error
}

func (r *reader) need(n int, what string) bool {
	if r.err != nil {
		return false
	}
	if n < 0 || len(r.b) < n {
		r.err = errorf(ClassMalformedEvent, "%s: need %d bytes, %d left", what, n, len(r.b))
		return false
	}
	return true
}

func (r *reader) i32(what string) int32 {
	if !r.need(4, what) {
		return 0
	}
	v := int32(binary.BigEndian.Uint32(r.b))
	r.b = r.b[4:]
	return v
}

func (r *reader) i64(what string) int64 {
	if !r.need(8, what) {
		return 0
	}
	v := int64(binary.BigEndian.Uint64(r.b))
	r.b = r.b[8:]
	return v
}

func (r *reader) bytes(n int, what string) []byte {
	if !r.need(n, what) {
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

// str reads len:i32 + UTF-8 bytes.
func (r *reader) str(what string) string {
	n := r.i32(what + " length")
	b := r.bytes(int(n), what)
	if r.err == nil && !utf8.Valid(b) {
		r.err = errorf(ClassMalformedEvent, "%s is not UTF-8", what)
	}
	return string(b)
}

// layout maps a stream's attributes to the wire: meta_* attributes first, then correlation_*,
// then the payload, each group in definition order (the attribute order of WSO2's stream
// definition that the publisher was built with).
func layout(def *engine.StreamDef) []int {
	var meta, corr, pay []int
	for i, a := range def.Attrs {
		switch {
		case len(a.Name) > 5 && a.Name[:5] == "meta_":
			meta = append(meta, i)
		case len(a.Name) > 12 && a.Name[:12] == "correlation_":
			corr = append(corr, i)
		default:
			pay = append(pay, i)
		}
	}
	return append(append(meta, corr...), pay...)
}

// decodeValue reads one attribute as WSO2's BinaryEventConverter does: int and float 4 bytes,
// long and double 8, bool 1 (1 = true), string length:i32 + UTF-8 with length 0 read as null.
func (r *reader) value(t engine.Type, name string) engine.Value {
	switch t {
	case engine.TypeInt:
		return engine.IntValue(r.i32(name))
	case engine.TypeLong:
		return engine.LongValue(r.i64(name))
	case engine.TypeFloat:
		return engine.FloatValue(math.Float32frombits(uint32(r.i32(name))))
	case engine.TypeDouble:
		return engine.DoubleValue(math.Float64frombits(uint64(r.i64(name))))
	case engine.TypeBool:
		b := r.bytes(1, name)
		if b == nil {
			return engine.Value{}
		}
		return engine.BoolValue(b[0] == 1)
	case engine.TypeString:
		s := r.str(name)
		if s == "" {
			return engine.NullValue()
		}
		return engine.StringValue(s)
	}
	r.err = errorf(ClassMalformedEvent, "attribute %s: unsupported type %s", name, t)
	return engine.Value{}
}
