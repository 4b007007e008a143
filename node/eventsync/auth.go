package eventsync

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
)

// MinTokenBytes is the shortest shared secret the sync handshake accepts (node/config enforces
// the same bound on auth_token with a message naming the key).
const MinTokenBytes = 16

// nonceBytes is the size of each side's per-connection challenge.
const nonceBytes = 16

// checkToken refuses a missing or short secret: the handshake is always authenticated.
func checkToken(token string) error {
	switch {
	case token == "":
		return errors.New("no shared secret (auth_token): the sync handshake is always authenticated")
	case len(token) < MinTokenBytes:
		return fmt.Errorf("shared secret (auth_token) is %d bytes, at least %d are needed", len(token), MinTokenBytes)
	}
	return nil
}

// mac authenticates a hello: HMAC-SHA256 over the passive's nonce and the hello's identity
// fields, keyed by the shared auth_token. The token itself never crosses the wire, and the
// nonce is fresh for every connection, so a captured hello is worthless on another one.
func mac(token string, nonce []byte, h *hello) []byte {
	return sessionMAC(token, nonce, []string{h.Group, h.From, h.To}, uint64(h.Term))
}

// sessionMAC is HMAC-SHA256, keyed by token, over prefix, then each field behind its length
// (two bytes, big-endian), then term (eight bytes, big-endian): the body of mac and welcomeMAC.
func sessionMAC(token string, prefix []byte, fields []string, term uint64) []byte {
	m := hmac.New(sha256.New, []byte(token))
	m.Write(prefix)
	for _, s := range fields {
		var n [2]byte
		binary.BigEndian.PutUint16(n[:], uint16(len(s)))
		m.Write(n[:])
		m.Write([]byte(s))
	}
	var t [8]byte
	binary.BigEndian.PutUint64(t[:], term)
	m.Write(t[:])
	return m.Sum(nil)
}

// welcomeLabel separates the passive's proof from the active's: both are HMACs under one
// secret, so without it a MAC one side computed could be reflected as the other's.
const welcomeLabel = "streamha eventsync welcome v4"

// welcomeMAC authenticates a welcome (protocol 4): HMAC-SHA256 over the active's nonce and the
// session's identities (group, passive, active, term) as the hello named them. Only a holder of
// the shared secret can compute it, and the active's nonce is fresh for every connection, so a
// node that took over the passive's sync address cannot accept a session (and acknowledge
// inputs it does not hold), nor replay a welcome captured on another connection.
func welcomeMAC(token string, activeNonce []byte, h *hello) []byte {
	prefix := append([]byte(welcomeLabel), activeNonce...)
	return sessionMAC(token, prefix, []string{h.Group, h.To, h.From}, uint64(h.Term))
}

// newNonce draws a challenge from crypto/rand (which never fails on supported platforms; it
// aborts the process rather than return predictable bytes).
func newNonce() []byte {
	b := make([]byte, nonceBytes)
	_, _ = rand.Read(b)
	return b
}
