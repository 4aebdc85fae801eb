package dashboard

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The charts are SVG drawn by the page's template from the geometry below:
// every number is computed here, every text (labels, values, titles) is a
// string the template escapes. Each chart is drawn twice, for a wide and a
// narrow screen; the stylesheet shows one.

// num is a coordinate, written with at most one decimal.
type num float64

func (n num) String() string { return strconv.FormatFloat(math.Round(float64(n)*10)/10, 'f', -1, 64) }

// size is the drawing area of a chart, in the SVG's own units (12-unit
// text), and the margins of its plot.
type size struct {
	Class                    string // "wide" or "narrow"
	W, H                     num
	Left, Right, Top, Bottom num
	XTicks                   int // how many x labels fit
	Label                    int // longest category label, in runes
}

var (
	fullSize   = size{Class: "wide", W: 960, H: 300, Left: 56, Right: 16, Top: 14, Bottom: 46, XTicks: 8, Label: 80}
	halfSize   = size{Class: "wide", W: 560, H: 280, Left: 52, Right: 14, Top: 14, Bottom: 46, XTicks: 5, Label: 60}
	narrowSize = size{Class: "narrow", W: 360, H: 250, Left: 44, Right: 10, Top: 14, Bottom: 44, XTicks: 3, Label: 40}
)

// figure is one chart at one size.
type figure struct {
	Class string
	W, H  num
	// Label describes the chart for screen readers.
	Label  string
	Grid   []gridLine
	XTicks []text
	YLabel *text
	XLabel *text
	Bars   []bar
	Lines  []line
	Texts  []text
}

type gridLine struct {
	X1, X2, Y num
	Text      string
}

type text struct {
	X, Y      num
	Text      string
	Anchor    string // start, middle, end
	Class     string
	Transform string
	// Title is the full text when Text is shortened.
	Title string
}

type bar struct {
	X, Y, W, H num
	Class      string
	Title      string
}

type line struct {
	Class  string
	Points string
	Title  string
}

// series is one line or one kind of bar of a chart.
type series struct {
	Name   string
	Class  string // s0, s1, ...
	Values []float64
}

// niceScale returns the top of a y axis at or above v and its tick step,
// in steps of 1, 2, 2.5 or 5 times a power of ten, whole numbers.
func niceScale(v float64, ticks int) (top, step float64) {
	if v <= 0 || math.IsNaN(v) {
		return 1, 1
	}
	raw := v / float64(ticks)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step = 10 * mag
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	step = max(step, 1)
	step = math.Ceil(step)
	return math.Ceil(v/step) * step, step
}

// count writes n with thousands separators: 12,345.
func count(n float64) string {
	if n != math.Trunc(n) {
		return strconv.FormatFloat(n, 'f', 2, 64)
	}
	s := strconv.FormatInt(int64(n), 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// short writes a tick value compactly: 950, 1.2k, 3M.
func short(n float64) string {
	switch {
	case n >= 1e6:
		return strings.TrimSuffix(strconv.FormatFloat(n/1e6, 'f', 1, 64), ".0") + "M"
	case n >= 1e4:
		return strings.TrimSuffix(strconv.FormatFloat(n/1e3, 'f', 1, 64), ".0") + "k"
	}
	return count(n)
}

// clip shortens s to n runes, ending it with "…".
func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// plot is the frame of an x-y chart: the y grid and the axis titles.
func plot(sz size, label, yTitle, xTitle string, top, step float64) (figure, func(v float64) num) {
	f := figure{Class: sz.Class, W: sz.W, H: sz.H, Label: label}
	bottom := sz.H - sz.Bottom
	height := bottom - sz.Top
	y := func(v float64) num { return bottom - num(v/top)*height }
	for v := 0.0; v <= top+step/2; v += step {
		f.Grid = append(f.Grid, gridLine{X1: sz.Left, X2: sz.W - sz.Right, Y: y(v), Text: short(v)})
	}
	if yTitle != "" {
		mid := sz.Top + height/2
		f.YLabel = &text{X: 12, Y: mid, Text: yTitle, Anchor: "middle", Class: "axis-title",
			Transform: fmt.Sprintf("rotate(-90 12 %s)", mid)}
	}
	if xTitle != "" {
		f.XLabel = &text{X: sz.Left + (sz.W-sz.Right-sz.Left)/2, Y: sz.H - 6, Text: xTitle, Anchor: "middle", Class: "axis-title"}
	}
	return f, y
}

// xTicks picks at most n evenly spaced labels of xs, the last one
// included, skipping empty ones.
func xTicks(xs []string, n int, at func(i int) num, y num) []text {
	if len(xs) == 0 || n < 1 {
		return nil
	}
	// The labels that exist, then every k-th of them from the last.
	var idx []int
	for i, x := range xs {
		if x != "" {
			idx = append(idx, i)
		}
	}
	every := max(1, int(math.Ceil(float64(len(idx))/float64(n))))
	var out []text
	for k := len(idx) - 1; k >= 0; k -= every {
		out = append([]text{{X: at(idx[k]), Y: y, Text: xs[idx[k]], Anchor: "middle", Class: "tick"}}, out...)
	}
	return out
}

// keepInside anchors the labels at the plot's edges so that they do not
// run past the drawing: the last one ends at its point when it is near
// the right edge, the first starts at its point near the left edge.
func keepInside(ts []text, left, right num) []text {
	for i := range ts {
		switch {
		case ts[i].X > right-28:
			ts[i].Anchor = "end"
		case ts[i].X < left+20:
			ts[i].Anchor = "start"
		}
	}
	return ts
}

// lineChart draws series over the x labels (one value per label). ticks
// are the labels shown under the axis ("" for none at that point).
func lineChart(sz size, label, yTitle, xTitle string, xs, ticks []string, ss []series) figure {
	peak := 0.0
	for _, s := range ss {
		for _, v := range s.Values {
			peak = max(peak, v)
		}
	}
	top, step := niceScale(peak, 4)
	f, y := plot(sz, label, yTitle, xTitle, top, step)
	width := sz.W - sz.Right - sz.Left
	x := func(i int) num {
		if len(xs) <= 1 {
			return sz.Left + width/2
		}
		return sz.Left + num(i)*width/num(len(xs)-1)
	}
	f.XTicks = keepInside(xTicks(ticks, sz.XTicks, x, sz.H-sz.Bottom+16), sz.Left, sz.W-sz.Right)
	dense := len(xs) > 200
	for _, s := range ss {
		var b strings.Builder
		for i, v := range s.Values {
			if i > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(x(i).String() + "," + y(v).String())
		}
		if len(s.Values) == 1 { // a single day: a short level line
			b.Reset()
			fmt.Fprintf(&b, "%s,%s %s,%s", x(0)-8, y(s.Values[0]), x(0)+8, y(s.Values[0]))
		}
		class := s.Class
		if dense {
			class += " dense"
		}
		f.Lines = append(f.Lines, line{Class: class, Points: b.String(), Title: s.Name})
	}
	return f
}

// barChart draws one bar per x label and series, side by side; titles
// name each bar's label and value with unit.
func barChart(sz size, label, yTitle, xTitle string, xs, ticks []string, ss []series, unit string) figure {
	peak := 0.0
	for _, s := range ss {
		for _, v := range s.Values {
			peak = max(peak, v)
		}
	}
	top, step := niceScale(peak, 4)
	f, y := plot(sz, label, yTitle, xTitle, top, step)
	width := sz.W - sz.Right - sz.Left
	slot := width / num(max(len(xs), 1))
	gap := min(slot*0.2, 8)
	bw := (slot - gap) / num(max(len(ss), 1))
	center := func(i int) num { return sz.Left + slot*num(i) + slot/2 }
	n := sz.XTicks
	if len(xs) <= 6 { // a few categories: every one is labelled
		n = len(xs)
	}
	f.XTicks = keepInside(xTicks(ticks, n, center, sz.H-sz.Bottom+16), sz.Left, sz.W-sz.Right)
	for j, s := range ss {
		for i, v := range s.Values {
			x0 := sz.Left + slot*num(i) + gap/2 + bw*num(j)
			f.Bars = append(f.Bars, bar{X: x0, Y: y(v), W: max(bw, 0.5), H: y(0) - y(v), Class: s.Class,
				Title: fmt.Sprintf("%s: %s %s", xs[i], count(v), unitFor(s, unit))})
		}
	}
	return f
}

func unitFor(s series, unit string) string {
	if unit != "" {
		return unit
	}
	return strings.ToLower(s.Name)
}

// hbarRow is one category of a horizontal bar chart.
type hbarRow struct {
	Label  string
	Values []float64 // one per series
	Note   string    // shown after the values, e.g. "12% converted"
}

// hbarChart draws one row per category: its label above, then a bar per
// series with its value at the end. Long labels are shortened (the full
// text is the bar's title).
func hbarChart(sz size, label string, rows []hbarRow, ss []series) figure {
	const labelH, barH, gap = 16, 11, 10
	rowH := num(labelH + barH*len(ss) + gap)
	f := figure{Class: sz.Class, W: sz.W, Label: label}
	f.H = 8 + rowH*num(len(rows))
	peak := 0.0
	for _, r := range rows {
		for _, v := range r.Values {
			peak = max(peak, v)
		}
	}
	if peak <= 0 {
		peak = 1
	}
	left, valueW := num(4), num(64)
	width := sz.W - left - valueW
	for i, r := range rows {
		top := 4 + rowH*num(i)
		t := text{X: left, Y: top + 12, Text: clip(r.Label, sz.Label), Anchor: "start", Class: "cat"}
		if t.Text != r.Label {
			t.Title = r.Label
		}
		if r.Note != "" {
			f.Texts = append(f.Texts, text{X: sz.W - 4, Y: top + 12, Text: r.Note, Anchor: "end", Class: "note"})
		}
		f.Texts = append(f.Texts, t)
		for j, s := range ss {
			v := 0.0
			if j < len(r.Values) {
				v = r.Values[j]
			}
			w := max(num(v/peak)*width, 1)
			yb := top + labelH + num(j*barH)
			f.Bars = append(f.Bars, bar{X: left, Y: yb, W: w, H: barH - 2, Class: s.Class,
				Title: fmt.Sprintf("%s: %s %s", r.Label, count(v), strings.ToLower(s.Name))})
			f.Texts = append(f.Texts, text{X: left + w + 4, Y: yb + barH - 3, Text: count(v), Anchor: "start", Class: "value"})
		}
	}
	return f
}
