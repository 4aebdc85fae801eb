package tracker_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/eventlake/eventlake/tracker"
)

func TestParseUserAgent(t *testing.T) {
	cases := []struct {
		name, ua string
		want     tracker.Device
		kind     string
	}{
		{"empty", "", tracker.Device{}, ""},
		{"blank", "   ", tracker.Device{}, ""},
		{"chrome on windows", uaChrome,
			tracker.Device{Browser: "Chrome", BrowserVersion: "126.0.0.0", OS: "Windows", OSVersion: "10", Platform: "Windows"}, "desktop"},
		{"safari on iphone", uaIPhone,
			tracker.Device{Browser: "Safari", BrowserVersion: "17.5", OS: "iPhone OS", OSVersion: "17.5", Platform: "iPhone", Model: "iPhone", Mobile: true}, "mobile"},
		{"chrome on android", "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36",
			tracker.Device{Browser: "Chrome", BrowserVersion: "126.0.0.0", OS: "Android", OSVersion: "14", Platform: "Linux", Model: "Pixel 8", Mobile: true}, "mobile"},
		{"chrome on android phone, generic model", "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36",
			tracker.Device{Browser: "Chrome", BrowserVersion: "126.0.0.0", OS: "Android", OSVersion: "10", Platform: "Linux", Model: "K", Mobile: true}, "mobile"},
		{"chrome on android tablet", "Mozilla/5.0 (Linux; Android 14; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
			tracker.Device{Browser: "Chrome", BrowserVersion: "126.0.0.0", OS: "Android", OSVersion: "14", Platform: "Linux", Model: "SM-X710", Mobile: true, Tablet: true}, "tablet"},
		{"safari on ipad", "Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
			tracker.Device{Browser: "Safari", BrowserVersion: "17.5", OS: "iPadOS", OSVersion: "17.5", Platform: "iPad", Model: "iPad", Mobile: true, Tablet: true}, "tablet"},
		{"firefox on android tablet", "Mozilla/5.0 (Android 14; Tablet; rv:127.0) Gecko/127.0 Firefox/127.0",
			tracker.Device{Browser: "Firefox", BrowserVersion: "127.0", OS: "Android", OSVersion: "14", Platform: "Tablet", Mobile: true, Tablet: true}, "tablet"},
		{"firefox on linux", "Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0",
			tracker.Device{Browser: "Firefox", BrowserVersion: "127.0", OS: "Linux", Platform: "X11"}, "desktop"},
		{"safari on mac", "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
			tracker.Device{Browser: "Safari", BrowserVersion: "17.5", OS: "Mac OS X", OSVersion: "10.15.7", Platform: "Macintosh"}, "desktop"},
		{"googlebot", "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
			tracker.Device{Browser: "Googlebot", BrowserVersion: "2.1", Bot: true}, "bot"},
		{"curl", "curl/8.5.0", tracker.Device{Browser: "curl", BrowserVersion: "8.5.0", Bot: true}, "bot"},
		{"go client", "Go-http-client/1.1", tracker.Device{Browser: "Go-http-client", BrowserVersion: "1.1", Bot: true}, "bot"},
		{"garbage", "garbage!!", tracker.Device{}, ""},
		{"markup", `<script>alert(1)</script>`, tracker.Device{}, ""},
		{"attribute breakout", `"><img src=x onerror=alert(1)>`, tracker.Device{}, ""},
		{"parentheses", "(((((", tracker.Device{}, ""},
		{"invalid UTF-8", "Mozilla/5.0 (\xff\xfe; \x00)", tracker.Device{Browser: "Mozilla", BrowserVersion: "5.0"}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := tracker.ParseUserAgent(tc.ua)
			if got != tc.want {
				t.Errorf("ParseUserAgent(%q)\n got %#v\nwant %#v", tc.ua, got, tc.want)
			}
			if got.Type() != tc.kind {
				t.Errorf("Type = %q, want %q", got.Type(), tc.kind)
			}
		})
	}
}

func TestDeviceString(t *testing.T) {
	cases := []struct {
		d    tracker.Device
		want string
	}{
		{tracker.Device{}, ""},
		{tracker.ParseUserAgent(uaChrome), "Chrome 126.0.0.0 on Windows 10"},
		{tracker.ParseUserAgent(uaIPhone), "Safari 17.5 on iPhone OS 17.5 (iPhone)"},
		{tracker.Device{OS: "Linux"}, "on Linux"},
	}
	for _, tc := range cases {
		if got := tc.d.String(); got != tc.want {
			t.Errorf("%+v.String() = %q, want %q", tc.d, got, tc.want)
		}
	}
}

// FuzzParseUserAgent feeds the parser arbitrary headers: it must not panic,
// and every field must be short, valid UTF-8 without markup characters.
func FuzzParseUserAgent(f *testing.F) {
	for _, s := range []string{"", uaChrome, uaIPhone, "curl/8", "garbage!!", "<script>", "Mozilla/5.0 (", "((((;;;;))))",
		"Mozilla/5.0 (compatible; MSIE 10.0; Windows NT 6.1; Trident/6.0)", "\xff\xfe", strings.Repeat("Mozilla/5.0 (X11; ", 200)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, ua string) {
		d := tracker.ParseUserAgent(ua)
		for _, s := range []string{d.Browser, d.BrowserVersion, d.OS, d.OSVersion, d.Platform, d.Model} {
			if len(s) > 64 || !utf8.ValidString(s) || strings.ContainsAny(s, "<>\"'&;/\\\x00") {
				t.Fatalf("ParseUserAgent(%q) = %+v: field %q", ua, d, s)
			}
		}
		_ = d.String()
		if strings.TrimSpace(ua) == "" && d != (tracker.Device{}) {
			t.Fatalf("empty header parsed to %+v", d)
		}
	})
}

func TestClassify(t *testing.T) {
	cases := []struct {
		ua   string
		want tracker.Client
	}{
		{"", tracker.Client{}},
		{uaChrome, tracker.Client{DeviceType: tracker.DeviceDesktop, Browser: "Chrome", OS: "Windows"}},
		{uaIPhone, tracker.Client{DeviceType: tracker.DeviceMobile, Browser: "Safari", OS: "iPhone OS"}},
		// The demo's most common agent: a phone, which regular expressions
		// on "Android" once called a tablet.
		{"Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36",
			tracker.Client{DeviceType: tracker.DeviceMobile, Browser: "Chrome", OS: "Android"}},
		{"Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
			tracker.Client{DeviceType: tracker.DeviceTablet, Browser: "Safari", OS: "iPadOS"}},
		{"Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
			tracker.Client{DeviceType: tracker.DeviceBot, Browser: "bingbot", Bot: true}},
		{"python-requests/2.31.0", tracker.Client{DeviceType: tracker.DeviceBot, Browser: "python-requests", Bot: true}},
	}
	for _, tc := range cases {
		// Twice: the second answer comes from the cache.
		for range 2 {
			if got := tracker.Classify(tc.ua); got != tc.want {
				t.Errorf("Classify(%q) = %#v, want %#v", tc.ua, got, tc.want)
			}
		}
		d := tracker.ParseUserAgent(tc.ua)
		if got := tracker.Classify(tc.ua); got.DeviceType != d.Type() || got.Bot != d.Bot {
			t.Errorf("Classify(%q) = %#v disagrees with ParseUserAgent %#v", tc.ua, got, d)
		}
	}
}

func BenchmarkClassifyCached(b *testing.B) {
	b.ReportAllocs()
	tracker.Classify(uaChrome)
	for b.Loop() {
		tracker.Classify(uaChrome)
	}
}
