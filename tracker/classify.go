package tracker

import (
	"hash/maphash"
	"sync"
)

// Client is what the tracker stores about the client that sent an event,
// classified once from its user agent at write time: the device_type,
// browser, os and is_bot fields of the item, the lake line and the Athena
// table. Every reader uses these stored values, so the admin page, the
// queries and the dashboard agree.
type Client struct {
	// DeviceType is DeviceDesktop, DeviceMobile, DeviceTablet, DeviceBot or
	// "" when the user agent says too little (or is empty).
	DeviceType string `json:"device_type,omitempty"`
	// Browser is the browser or client name ("Chrome", "curl"), or "".
	Browser string `json:"browser,omitempty"`
	// OS is the operating system's name ("Windows", "Android"), or "".
	OS string `json:"os,omitempty"`
	// Bot reports a crawler, a command-line tool or an HTTP library.
	Bot bool `json:"is_bot"`
}

// Classify returns the Client of a user agent: ParseUserAgent's verdict,
// reduced to the stored fields. It is safe for concurrent use and cheap for
// user agents seen recently: results are cached (a bounded cache of a few
// thousand user agents per shard, cleared shard by shard when full).
func Classify(ua string) Client {
	if ua == "" {
		return Client{}
	}
	sh := &classifyCache[maphash.String(classifySeed, ua)%classifyShards]
	sh.mu.RLock()
	c, ok := sh.m[ua]
	sh.mu.RUnlock()
	if ok {
		return c
	}
	d := ParseUserAgent(ua)
	c = Client{DeviceType: d.Type(), Browser: d.Browser, OS: d.OS, Bot: d.Bot}
	sh.mu.Lock()
	if sh.m == nil || len(sh.m) >= classifyShardSize {
		sh.m = make(map[string]Client, 64)
	}
	sh.m[ua] = c
	sh.mu.Unlock()
	return c
}

const (
	classifyShards    = 16
	classifyShardSize = 1024
)

var (
	classifySeed  = maphash.MakeSeed()
	classifyCache [classifyShards]struct {
		mu sync.RWMutex
		m  map[string]Client
		_  [32]byte // keep shards on separate cache lines
	}
)
