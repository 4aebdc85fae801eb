package collector

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
)

// KeySet is the set of valid write keys. Several keys are valid at once, so
// a key is rotated by adding the new one, moving the clients over, then
// removing the old one; Set replaces the whole set at run time (the Lambda
// re-reads its secret periodically). A KeySet is safe for concurrent use.
//
// Keys are kept as SHA-256 digests and looked up by digest, so the time a
// check takes says nothing about how much of a key matched.
type KeySet struct {
	p atomic.Pointer[map[[sha256.Size]byte]struct{}]
}

// MaxWriteKeyBytes bounds a write key's length.
const MaxWriteKeyBytes = 256

// NewKeySet returns a KeySet holding keys (see Set).
func NewKeySet(keys ...string) (*KeySet, error) {
	k := &KeySet{}
	if err := k.Set(keys...); err != nil {
		return nil, err
	}
	return k, nil
}

// Set replaces the valid keys. It fails, changing nothing, when keys is
// empty or a key is empty, longer than MaxWriteKeyBytes, or holds white
// space, a control character or ':' (which HTTP Basic authentication
// cannot carry in a user name).
func (k *KeySet) Set(keys ...string) error {
	if len(keys) == 0 {
		return errors.New("collector: no write keys")
	}
	m := make(map[[sha256.Size]byte]struct{}, len(keys))
	for i, key := range keys {
		switch {
		case key == "":
			return fmt.Errorf("collector: write key %d is empty", i+1)
		case len(key) > MaxWriteKeyBytes:
			return fmt.Errorf("collector: write key %d is over %d bytes", i+1, MaxWriteKeyBytes)
		case strings.ContainsFunc(key, func(r rune) bool { return r <= ' ' || r == ':' || r == 0x7f }):
			return fmt.Errorf("collector: write key %d holds white space, a control character or ':'", i+1)
		}
		m[sha256.Sum256([]byte(key))] = struct{}{}
	}
	k.p.Store(&m)
	return nil
}

// Valid reports whether key is one of the valid keys.
func (k *KeySet) Valid(key string) bool {
	if key == "" || len(key) > MaxWriteKeyBytes {
		return false
	}
	m := k.p.Load()
	if m == nil {
		return false
	}
	_, ok := (*m)[sha256.Sum256([]byte(key))]
	return ok
}

// Len returns the number of valid keys.
func (k *KeySet) Len() int {
	if m := k.p.Load(); m != nil {
		return len(*m)
	}
	return 0
}
