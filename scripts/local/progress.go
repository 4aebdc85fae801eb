package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/eventlake/eventlake/local/pipeline"
)

// progress shows where the events are. On a terminal it redraws one line;
// otherwise (CI, a file) it prints a line every few seconds and the last.
type progress struct {
	out   io.Writer
	total int
	tty   bool
	start time.Time

	mu      sync.Mutex
	printed time.Time
	last    string
}

func newProgress(out io.Writer, total int) *progress {
	tty := false
	if f, ok := out.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			tty = true
		}
	}
	return &progress{out: out, total: total, tty: tty, start: time.Now()}
}

// line renders the counters.
func (p *progress) line(pr pipeline.Progress) string {
	s := fmt.Sprintf("  %5.1fs  put %d/%d · in DynamoDB %d · relayed by the Lambda %d",
		time.Since(p.start).Seconds(), pr.Accepted, p.total, pr.Written, pr.Relayed)
	if pr.Direct > 0 {
		s += fmt.Sprintf(" · straight to Firehose %d", pr.Direct)
	}
	s += fmt.Sprintf(" · in the lake %d · summarized %d", pr.InLake, pr.Summarized)
	if pr.Failed > 0 {
		s += fmt.Sprintf(" · failed %d", pr.Failed)
	}
	return s
}

// show draws the progress; final ends the line.
func (p *progress) show(pr pipeline.Progress, final bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	line := p.line(pr)
	switch {
	case p.tty:
		fmt.Fprintf(p.out, "\r\033[K%s", line)
		if final {
			fmt.Fprintln(p.out)
		}
	case final || time.Since(p.printed) >= 3*time.Second:
		fmt.Fprintln(p.out, line)
		p.printed = time.Now()
	}
	p.last = line
}

// every calls show with get() every d until the returned stop is called.
func (p *progress) every(d time.Duration, get func() pipeline.Progress) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(d)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				p.show(get(), false)
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() { close(done); <-finished })
	}
}
