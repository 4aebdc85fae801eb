package tracker

import (
	"strings"
	"unicode/utf8"

	"github.com/mssola/useragent"
)

// Device is what a User-Agent header says about the client, as parsed by
// github.com/mssola/useragent. Every field is empty (false) when the header is
// empty or says nothing recognisable; names that do not look like product
// names (for example the fragments a header full of markup parses into) are
// dropped rather than shown. The values are still client-controlled text:
// escape them when rendering.
type Device struct {
	// Browser is the browser or client name: "Chrome", "Firefox", "Safari",
	// "curl", "Googlebot", ...
	Browser string `json:"browser,omitempty"`
	// BrowserVersion is the browser's version, "126.0.0.0".
	BrowserVersion string `json:"browser_version,omitempty"`
	// OS is the operating system's name: "Windows", "Mac OS X", "Android",
	// "iPhone OS", "Linux", ...
	OS string `json:"os,omitempty"`
	// OSVersion is the operating system's version, "10", "17.5".
	OSVersion string `json:"os_version,omitempty"`
	// Platform is the platform token: "Windows", "Macintosh", "X11",
	// "iPhone", "Linux", ...
	Platform string `json:"platform,omitempty"`
	// Model is the device model when the header names one ("Pixel 8").
	Model string `json:"model,omitempty"`
	// Mobile reports a phone or tablet.
	Mobile bool `json:"mobile,omitempty"`
	// Tablet reports a tablet: an iPad, an Android device without the
	// "Mobile" token, or a header that says "Tablet".
	Tablet bool `json:"tablet,omitempty"`
	// Bot reports an automated client: a crawler the parser recognises, or a
	// command-line tool or HTTP library (curl, Wget, python-requests,
	// Go-http-client, ...).
	Bot bool `json:"bot,omitempty"`
}

// Type returns the device type stored in the device_type field:
// DeviceBot, DeviceTablet, DeviceMobile, DeviceDesktop, or "" when the
// header says too little to tell.
func (d Device) Type() string {
	switch {
	case d.Bot:
		return DeviceBot
	case d.Tablet:
		return DeviceTablet
	case d.Mobile:
		return DeviceMobile
	case d.OS != "" || d.Platform != "":
		return DeviceDesktop
	}
	return ""
}

// String describes the device for people: "Chrome 126.0.0.0 on Windows 10",
// "Safari 17.5 on iPhone OS 17.5 (iPhone)", or "" when nothing is known.
func (d Device) String() string {
	var b strings.Builder
	join := func(parts ...string) {
		for _, p := range parts {
			if p == "" {
				continue
			}
			if b.Len() > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(p)
		}
	}
	join(d.Browser, d.BrowserVersion)
	if d.OS != "" {
		join("on", d.OS, d.OSVersion)
	}
	if d.Model != "" {
		join("(" + d.Model + ")")
	}
	return b.String()
}

// toolPrefixes are User-Agent prefixes of command-line tools and HTTP
// libraries that the parser does not flag as bots.
var toolPrefixes = []string{
	"curl/", "wget/", "python-requests/", "python-urllib/", "python-httpx/", "aiohttp/",
	"go-http-client/", "java/", "apache-httpclient/", "libwww-perl/", "httpie/", "postmanruntime/",
}

// maxDeviceField bounds every string field of a Device.
const maxDeviceField = 64

// ParseUserAgent parses a User-Agent header. It never fails: an empty or
// unrecognisable header gives the zero Device. It is safe for concurrent use
// and costs a few microseconds; the read path parses each distinct header
// of a page once.
func ParseUserAgent(ua string) (d Device) {
	ua = strings.TrimSpace(ua)
	if ua == "" {
		return Device{}
	}
	if len(ua) > MaxUserAgentBytes {
		ua = cleanUserAgent(ua)
	}
	defer func() {
		// The parser is third-party code fed with client-controlled text; a
		// header it cannot handle must not take the read path down.
		if recover() != nil {
			d = Device{}
		}
	}()
	p := useragent.New(ua)
	name, version := p.Browser()
	if productName(name) && productVersion(version) {
		d.Browser, d.BrowserVersion = name, version
	}
	info := p.OSInfo()
	if productName(info.Name) && productVersion(info.Version) {
		d.OS, d.OSVersion = info.Name, info.Version
	}
	if pl := p.Platform(); productName(pl) {
		d.Platform = pl
	}
	if d.Platform == "iPad" && (d.OS == "OS" || d.OS == "CPU OS") {
		d.OS = "iPadOS" // the parser names the iPad's OS by the header's "CPU OS" token
	}
	if m := p.Model(); productName(m) {
		d.Model = m
	}
	d.Mobile = p.Mobile()
	d.Tablet = isTablet(ua)
	if d.Tablet {
		d.Mobile = true
	}
	d.Bot = p.Bot() || isTool(ua)
	return d
}

// isTablet recognises tablets, which the parser reports as mobile: iPads,
// headers with a "Tablet" token (Firefox on Android tablets, Windows
// tablets, Kindle's "Silk"), and Android devices whose header lacks the
// "Mobile" token that Android phones' browsers send.
func isTablet(ua string) bool {
	switch {
	case strings.Contains(ua, "iPad"), strings.Contains(ua, "Tablet"), strings.Contains(ua, "Silk/"):
		return true
	case strings.Contains(ua, "Android"):
		return !strings.Contains(ua, "Mobile")
	}
	return false
}

func isTool(ua string) bool {
	for _, p := range toolPrefixes {
		if len(ua) >= len(p) && strings.EqualFold(ua[:len(p)], p) {
			return true
		}
	}
	return false
}

// productName reports whether s looks like a product, OS, platform or model
// name: a letter, then letters, digits, spaces and ". _ - + ( )".
func productName(s string) bool {
	if s == "" || len(s) > maxDeviceField || !utf8.ValidString(s) {
		return false
	}
	for i, r := range s {
		letter := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z'
		if i == 0 && !letter {
			return false
		}
		if !letter && !(r >= '0' && r <= '9') && !strings.ContainsRune(" ._-+()", r) {
			return false
		}
	}
	return true
}

// productVersion reports whether s is empty or looks like a version: letters,
// digits and ". _ -".
func productVersion(s string) bool {
	if len(s) > maxDeviceField {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}
