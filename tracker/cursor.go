package tracker

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
)

// ErrInvalidCursor is matched by every error about a continuation cursor
// (errors.Is(err, ErrInvalidCursor)): one that is malformed, was altered,
// was signed with a key this process does not have, or was issued for
// another query (another user, type filter, time range or table). The
// caller should start again from the first page.
var ErrInvalidCursor = errors.New("invalid cursor")

// CursorError says why a cursor was rejected. errors.Is(err,
// ErrInvalidCursor) holds for it.
type CursorError struct {
	// Reason is a short explanation for people.
	Reason string
}

func (e *CursorError) Error() string { return "invalid cursor: " + e.Reason }

// Is makes errors.Is(err, ErrInvalidCursor) hold.
func (e *CursorError) Is(target error) bool { return target == ErrInvalidCursor }

// Cursor wire format, version 1, before base64url (no padding):
//
//	version  1 byte (1)
//	query    8 bytes: SHA-256 of (table, user, types, lower and upper key bound), truncated
//	position uvarint length + the event_key to continue after
//	tag      16 bytes: HMAC-SHA256 over "eventlake/cursor/v1" and the bytes above, truncated
//
// The cursor is signed, not encrypted: it reveals the time and ID of the
// last event of the page it came with, which that page showed anyway. The
// query digest holds no user ID or filter in the clear.
const (
	cursorVersion   = 1
	cursorDigestLen = 8
	cursorTagLen    = 16
	// cursorMaxLen bounds the encoded cursor accepted, before any decoding.
	cursorMaxLen = 256
	// MinCursorKeyBytes is the shortest cursor key ReadConfig accepts.
	MinCursorKeyBytes = 16
)

var cursorDomain = []byte("eventlake/cursor/v1\x00")

// processCursorKey is the key used when ReadConfig.CursorKeys is empty: random
// per process, so cursors survive for the life of the process only and other
// processes reject them.
var processCursorKey = sync.OnceValue(func() []byte {
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		// crypto/rand.Read does not fail on supported platforms (Go 1.24+).
		panic("tracker: crypto/rand: " + err.Error())
	}
	return k
})

// cursorCodec signs and checks cursors. It is immutable and safe for
// concurrent use.
type cursorCodec struct {
	keys [][]byte // keys[0] signs; every key verifies
}

// queryDigest identifies a query's constraints; a cursor only continues the
// query it was issued for.
func queryDigest(table, user string, types []string, lo, hi string) [cursorDigestLen]byte {
	h := sha256.New()
	put := func(s string) {
		var n [binary.MaxVarintLen64]byte
		h.Write(n[:binary.PutUvarint(n[:], uint64(len(s)))])
		h.Write([]byte(s))
	}
	put(table)
	put(user)
	var n [binary.MaxVarintLen64]byte
	h.Write(n[:binary.PutUvarint(n[:], uint64(len(types)))])
	for _, t := range types {
		put(t)
	}
	put(lo)
	put(hi)
	var d [cursorDigestLen]byte
	copy(d[:], h.Sum(nil))
	return d
}

func (c cursorCodec) tag(key, body []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(cursorDomain)
	m.Write(body)
	return m.Sum(nil)[:cursorTagLen]
}

// encode returns the cursor that continues the query with digest d after the
// item with sort key position.
func (c cursorCodec) encode(d [cursorDigestLen]byte, position string) string {
	body := make([]byte, 0, 1+cursorDigestLen+binary.MaxVarintLen64+len(position)+cursorTagLen)
	body = append(body, cursorVersion)
	body = append(body, d[:]...)
	body = binary.AppendUvarint(body, uint64(len(position)))
	body = append(body, position...)
	body = append(body, c.tag(c.keys[0], body)...)
	return base64.RawURLEncoding.EncodeToString(body)
}

// decode checks s and returns the position it continues after. The error is
// a *CursorError.
func (c cursorCodec) decode(s string, want [cursorDigestLen]byte) (string, error) {
	if len(s) > cursorMaxLen {
		return "", &CursorError{Reason: fmt.Sprintf("longer than %d characters", cursorMaxLen)}
	}
	// Only the canonical encoding is accepted (the decoder alone would skip
	// line breaks and ignore the trailing bits), so one cursor has one form.
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return "", &CursorError{Reason: "not base64url"}
		}
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(s)
	if err != nil {
		return "", &CursorError{Reason: "not base64url"}
	}
	if len(raw) < 1+cursorDigestLen+1+cursorTagLen {
		return "", &CursorError{Reason: "too short"}
	}
	if raw[0] != cursorVersion {
		return "", &CursorError{Reason: fmt.Sprintf("unsupported version %d", raw[0])}
	}
	body, tag := raw[:len(raw)-cursorTagLen], raw[len(raw)-cursorTagLen:]
	ok := false
	for _, k := range c.keys {
		if hmac.Equal(c.tag(k, body), tag) {
			ok = true
			break
		}
	}
	if !ok {
		return "", &CursorError{Reason: "signature does not match: the cursor was altered, or issued by a process with another cursor key"}
	}
	if [cursorDigestLen]byte(body[1:1+cursorDigestLen]) != want {
		return "", &CursorError{Reason: "issued for another query (user, type filter or time range)"}
	}
	rest := body[1+cursorDigestLen:]
	n, k := binary.Uvarint(rest)
	if k <= 0 || uint64(len(rest)-k) != n || n == 0 {
		return "", &CursorError{Reason: "malformed position"}
	}
	return string(rest[k:]), nil
}
