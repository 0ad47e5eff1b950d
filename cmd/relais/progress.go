package main

import (
	"io"
	"os"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// Long jobs (imports, exports, digest runs) show a progress bar on
// standard error when it is a terminal, and nothing elsewhere (a pipe, a
// log, cron): there the command's one summary line says what was done.
// RELAIS_PROGRESS=0 turns the bar off on a terminal too.

func showProgress() bool {
	if os.Getenv("RELAIS_PROGRESS") == "0" {
		return false
	}
	return term.IsTerminal(int(os.Stderr.Fd()))
}

// newBar returns a bar of total steps (-1: unknown, a spinner), nil when
// no bar is shown; its methods are safe on nil through barAdd and barDone.
func newBar(total int64, what string, bytes bool) *progressbar.ProgressBar {
	if !showProgress() {
		return nil
	}
	opts := []progressbar.Option{
		progressbar.OptionSetWriter(os.Stderr),
		progressbar.OptionSetDescription(what),
		progressbar.OptionClearOnFinish(),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(100e6),
		progressbar.OptionShowCount(),
	}
	if bytes {
		opts = append(opts, progressbar.OptionShowBytes(true))
	}
	return progressbar.NewOptions64(total, opts...)
}

func barAdd(b *progressbar.ProgressBar, n int) {
	if b != nil {
		_ = b.Add(n)
	}
}

func barDone(b *progressbar.ProgressBar) {
	if b != nil {
		_ = b.Finish()
	}
}

// progressReader is f, counted by a bar of its size while it is read.
func progressReader(f *os.File, what string) io.Reader {
	size := int64(-1)
	if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
		size = fi.Size()
	}
	bar := newBar(size, what, true)
	if bar == nil {
		return f
	}
	r := progressbar.NewReader(f, bar)
	return &r
}

// progressWriter is w, counted by a spinner of the bytes written.
func progressWriter(w io.Writer, what string) (io.Writer, func()) {
	bar := newBar(-1, what, true)
	if bar == nil {
		return w, func() {}
	}
	return io.MultiWriter(w, bar), func() { barDone(bar) }
}
