package supervisor

import (
	"fmt"
	"io"
	"time"
)

// logger writes one line an event: "graceful-init: +1.234s message".
// Levels follow tini's verbosity: 0 errors only, 1 (default) the shutdown
// timeline, 2 (-v) every signal, 3 (-vv) every process.
type logger struct {
	w     io.Writer
	level int
	start time.Time
}

func newLogger(w io.Writer, level int) *logger {
	return &logger{w: w, level: level, start: time.Now()}
}

func (l *logger) printf(level int, format string, args ...any) {
	if l.level < level {
		return
	}
	fmt.Fprintf(l.w, "graceful-init: +%.3fs %s\n", time.Since(l.start).Seconds(), fmt.Sprintf(format, args...))
}

const (
	levelError = iota
	levelInfo
	levelVerbose
	levelDebug
)

func (l *logger) errorf(format string, args ...any)   { l.printf(levelError, "error: "+format, args...) }
func (l *logger) infof(format string, args ...any)    { l.printf(levelInfo, format, args...) }
func (l *logger) verbosef(format string, args ...any) { l.printf(levelVerbose, format, args...) }
func (l *logger) debugf(format string, args ...any)   { l.printf(levelDebug, format, args...) }
