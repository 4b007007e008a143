package eventsync

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
)

// mac authenticates a hello: HMAC-SHA256 over the passive's nonce and the hello's identity
// fields, keyed by the shared auth_token. The token itself never crosses the wire.
func mac(token string, nonce []byte, h *hello) []byte {
	if token == "" {
		return nil
	}
	m := hmac.New(sha256.New, []byte(token))
	m.Write(nonce)
	for _, s := range []string{h.Group, h.From, h.To} {
		var n [2]byte
		binary.BigEndian.PutUint16(n[:], uint16(len(s)))
		m.Write(n[:])
		m.Write([]byte(s))
	}
	var t [8]byte
	binary.BigEndian.PutUint64(t[:], uint64(h.Term))
	m.Write(t[:])
	return m.Sum(nil)
}

func newNonce() []byte {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return b
}
