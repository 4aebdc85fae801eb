package tracker

import (
	"encoding/hex"
	"math/rand/v2"
	"time"
)

// idSource generates UUIDv7 event IDs (RFC 9562): a 48-bit Unix millisecond
// timestamp, then 74 random bits. IDs sort by the event time; the random bits
// make a collision between two events of one user in the same millisecond
// practically impossible (about 2^-35 for a million events in one
// millisecond).
//
// The random bits come from math/rand/v2's top-level generator: a ChaCha8
// stream per thread, seeded from the operating system's entropy, so New takes
// no lock and never fails. It is safe for concurrent use; the zero value is
// ready to use.
type idSource struct{}

func newIDSource() *idSource { return &idSource{} }

// New returns a UUIDv7 string for time t. It allocates the 36-byte string
// and nothing else.
func (*idSource) New(t time.Time) string {
	var buf [36]byte
	appendUUIDv7(&buf, t.UnixMilli(), rand.Uint64(), rand.Uint64())
	return string(buf[:])
}

// appendUUIDv7 writes the canonical text form of a UUIDv7 with Unix
// millisecond timestamp ms and random bits from r1 (12 bits used) and r2
// (62 bits used) into buf.
func appendUUIDv7(buf *[36]byte, ms int64, r1, r2 uint64) {
	var u [16]byte
	u[0] = byte(ms >> 40)
	u[1] = byte(ms >> 32)
	u[2] = byte(ms >> 24)
	u[3] = byte(ms >> 16)
	u[4] = byte(ms >> 8)
	u[5] = byte(ms)
	u[6] = byte(r1>>8)&0x0f | 0x70 // version 7 and rand_a
	u[7] = byte(r1)
	for i := 8; i < 16; i++ {
		u[i] = byte(r2 >> (8 * (15 - i)))
	}
	u[8] = u[8]&0x3f | 0x80 // RFC 9562 variant and rand_b
	hex.Encode(buf[0:8], u[0:4])
	buf[8] = '-'
	hex.Encode(buf[9:13], u[4:6])
	buf[13] = '-'
	hex.Encode(buf[14:18], u[6:8])
	buf[18] = '-'
	hex.Encode(buf[19:23], u[8:10])
	buf[23] = '-'
	hex.Encode(buf[24:], u[10:])
}
