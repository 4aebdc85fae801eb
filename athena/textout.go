package athena

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/width"
)

// TerminalText returns s as it can be shown on a terminal without acting on
// it: every character that a terminal would obey rather than print is
// replaced by a visible stand-in, so client-controlled text (user agents,
// attributes, user IDs) cannot write the clipboard (OSC 52), clear the
// screen, move the cursor, forge lines (CR, LF) or reorder what follows
// (bidirectional overrides).
//
//   - C0 controls and DEL become their Control Pictures: ESC is ␛, LF ␊,
//     CR ␍, TAB ␉, DEL ␡; an escape sequence loses its ESC and prints as
//     text.
//   - C1 controls (U+0080-U+009F, among them the one-character CSI and OSC),
//     the bidirectional controls (U+061C, U+200E, U+200F, U+202A-U+202E,
//     U+2066-U+2069) and the line and paragraph separators (U+2028, U+2029)
//     become "<U+202E>".
//   - Bytes that are not UTF-8 become U+FFFD.
//
// Everything else, wide and combining characters included, is kept.
func TerminalText(s string) string {
	if safeForTerminal(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n <= 1 {
			b.WriteRune(utf8.RuneError)
			i++
			continue
		}
		i += n
		switch {
		case r < 0x20:
			b.WriteRune(0x2400 + r)
		case r == 0x7f:
			b.WriteRune(0x2421)
		case isTerminalControl(r):
			fmt.Fprintf(&b, "<U+%04X>", r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// safeForTerminal reports whether TerminalText would return s unchanged.
func safeForTerminal(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == 0x7f {
			return false
		}
		if c >= utf8.RuneSelf {
			for _, r := range s[i:] {
				if r == utf8.RuneError || r < 0x20 || r == 0x7f || isTerminalControl(r) {
					// RuneError is also what a literal U+FFFD decodes
					// to; rewriting it changes nothing.
					return false
				}
			}
			return true
		}
	}
	return true
}

// isTerminalControl reports the non-ASCII runes TerminalText replaces with
// "<U+XXXX>".
func isTerminalControl(r rune) bool {
	switch {
	case r >= 0x80 && r <= 0x9f: // C1
		return true
	case r == 0x061c, r == 0x200e, r == 0x200f, r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069: // bidi
		return true
	case r == 0x2028, r == 0x2029: // line and paragraph separators
		return true
	}
	return false
}

// DisplayWidth returns the number of terminal columns s takes once it is
// TerminalText: East Asian wide and fullwidth characters take two, combining
// marks and other zero-width characters none, the rest one.
func DisplayWidth(s string) int {
	n := 0
	for _, r := range s {
		n += runeWidth(r)
	}
	return n
}

func runeWidth(r rune) int {
	if r < utf8.RuneSelf {
		if r < 0x20 || r == 0x7f {
			return 0
		}
		return 1
	}
	switch {
	case r == 0x200b || r == 0x200c || r == 0x200d || r == 0xfeff: // zero-width space, joiners, BOM
		return 0
	case unicode.In(r, unicode.Mn, unicode.Me, unicode.Cf):
		return 0
	}
	switch width.LookupRune(r).Kind() {
	case width.EastAsianWide, width.EastAsianFullwidth:
		return 2
	}
	return 1
}

// truncateWidth shortens s to at most w columns, ending it with "…" when
// it was cut.
func truncateWidth(s string, w int) string {
	if w <= 0 || DisplayWidth(s) <= w {
		return s
	}
	used := 0
	for i, r := range s {
		rw := runeWidth(r)
		if used+rw > w-1 {
			return s[:i] + "…"
		}
		used += rw
	}
	return s
}

// csvFormulaStart reports whether a spreadsheet would read a cell starting
// with r as a formula (OWASP's list, = + - @ TAB CR, and their fullwidth
// forms, which some spreadsheets accept too).
func csvFormulaStart(r rune) bool {
	switch r {
	case '=', '+', '-', '@', '\t', '\r', '＝', '＋', '－', '＠':
		return true
	}
	return false
}
