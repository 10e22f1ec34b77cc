package app

import (
	"fmt"
	"io"
	"os"
	"time"
)

// Terminal returns w when it is a terminal, for progress lines; nil when
// it is a file, a pipe or anything else, so that scripts and logs stay
// quiet.
func Terminal(w io.Writer) io.Writer {
	f, ok := w.(*os.File)
	if !ok {
		return nil
	}
	fi, err := f.Stat()
	if err != nil || fi.Mode()&os.ModeCharDevice == 0 || f.Name() == os.DevNull {
		return nil
	}
	return w
}

// progressEvery is how often a progress line is redrawn at most.
const progressEvery = 250 * time.Millisecond

// progress draws one self-updating line: count done of total, the rate
// since start and the time left at that rate. With a nil writer every
// method does nothing.
type progress struct {
	w           io.Writer
	what, unit  string
	total       int64
	start, last time.Time
	base        int64 // done at start (work of an earlier, resumed run)
	started     bool
	now         func() time.Time
}

func newProgress(w io.Writer, what, unit string, total int64) *progress {
	return &progress{w: w, what: what, unit: unit, total: total, now: time.Now}
}

// update redraws the line when enough time has passed since the last.
func (p *progress) update(done int64) {
	if p == nil || p.w == nil {
		return
	}
	t := p.now()
	if !p.started {
		p.started, p.start, p.base = true, t, done
	}
	if t.Sub(p.last) < progressEvery {
		return
	}
	p.last = t
	_, _ = fmt.Fprintf(p.w, "\r\033[K%s", p.line(done, t))
}

// finish draws the final line and ends it.
func (p *progress) finish(done int64) {
	if p == nil || p.w == nil || !p.started {
		return
	}
	_, _ = fmt.Fprintf(p.w, "\r\033[K%s\n", p.line(done, p.now()))
}

// line is "what: 12,345 of 100,000 unit (12%), 5,120 unit/s, 17s left".
func (p *progress) line(done int64, t time.Time) string {
	s := fmt.Sprintf("%s: %s", p.what, count(done))
	if p.total > 0 {
		s += fmt.Sprintf(" of %s %s (%d%%)", count(p.total), p.unit, min(100, done*100/p.total))
	} else {
		s += " " + p.unit
	}
	elapsed := t.Sub(p.start).Seconds()
	if elapsed <= 0 || done <= p.base {
		return s
	}
	rate := float64(done-p.base) / elapsed
	s += fmt.Sprintf(", %s %s/s", count(int64(rate)), p.unit)
	if p.total > done && rate > 0 {
		left := time.Duration(float64(p.total-done) / rate * float64(time.Second))
		s += fmt.Sprintf(", %s left", left.Round(time.Second))
	}
	return s
}

// count writes n with thousands separators.
func count(n int64) string {
	s := fmt.Sprint(n)
	if n < 0 {
		return s
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
