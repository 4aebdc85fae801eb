package tracker

import (
	crand "crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"math/rand/v2"
	"sync"
	"time"
)

// idSource generates UUIDv7 event IDs (RFC 9562): a 48-bit Unix millisecond
// timestamp, then 74 random bits from a ChaCha8 stream seeded from
// crypto/rand. IDs sort by generation time; the random bits make a collision
// between two events of one user in the same millisecond practically
// impossible (about 2^-37 for a million events in one millisecond).
// It is safe for concurrent use.
type idSource struct {
	mu  sync.Mutex
	rng *rand.ChaCha8
}

func newIDSource() *idSource {
	var seed [32]byte
	if _, err := crand.Read(seed[:]); err != nil {
		// crypto/rand.Read does not fail on supported platforms (Go 1.24+).
		panic("tracker: crypto/rand: " + err.Error())
	}
	return &idSource{rng: rand.NewChaCha8(seed)}
}

// New returns a UUIDv7 string for time t.
func (s *idSource) New(t time.Time) string {
	var u [16]byte
	ms := uint64(t.UnixMilli())
	s.mu.Lock()
	r1, r2 := s.rng.Uint64(), s.rng.Uint64()
	s.mu.Unlock()
	binary.BigEndian.PutUint64(u[8:], r2)
	binary.BigEndian.PutUint16(u[6:], uint16(r1))
	u[0] = byte(ms >> 40)
	u[1] = byte(ms >> 32)
	u[2] = byte(ms >> 24)
	u[3] = byte(ms >> 16)
	u[4] = byte(ms >> 8)
	u[5] = byte(ms)
	u[6] = u[6]&0x0f | 0x70 // version 7
	u[8] = u[8]&0x3f | 0x80 // RFC 9562 variant
	var buf [36]byte
	hex.Encode(buf[0:8], u[0:4])
	buf[8] = '-'
	hex.Encode(buf[9:13], u[4:6])
	buf[13] = '-'
	hex.Encode(buf[14:18], u[6:8])
	buf[18] = '-'
	hex.Encode(buf[19:23], u[8:10])
	buf[23] = '-'
	hex.Encode(buf[24:], u[10:])
	return string(buf[:])
}
