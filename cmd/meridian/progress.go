package main

import (
	"io"
	"os"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// bar is a progress bar on a terminal, and nothing elsewhere.
type bar struct {
	mu sync.Mutex
	pb *progressbar.ProgressBar
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func newBar(w io.Writer, total int64, label string) *bar {
	if !isTerminal(w) {
		return &bar{}
	}
	return &bar{pb: progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(w), progressbar.OptionSetDescription(label),
		progressbar.OptionShowBytes(true), progressbar.OptionShowCount(),
		progressbar.OptionSetPredictTime(true), progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionClearOnFinish())}
}

func (b *bar) add(n int64) {
	if b.pb == nil {
		return
	}
	b.mu.Lock()
	b.pb.Add64(n)
	b.mu.Unlock()
}

func (b *bar) done() {
	if b.pb != nil {
		b.pb.Finish()
	}
}

// barProgress adapts bar to transfer.Progress.
type barProgress struct {
	w io.Writer
	b *bar
}

func (p *barProgress) Start(label string, total int64) { p.b = newBar(p.w, total, label) }

func (p *barProgress) Add(n int64) {
	if p.b != nil {
		p.b.add(n)
	}
}

func (p *barProgress) Done() {
	if p.b != nil {
		p.b.done()
	}
}
