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

// logPrefix starts every line; the time since start follows it.
const logPrefix = "graceful-init: +"

// LogTime reads the time since graceful-init started from one of its log
// lines ("graceful-init: +1.234s ..."); ok is false for any other line.
func LogTime(line string) (d time.Duration, ok bool) {
	var s float64
	if _, err := fmt.Sscanf(line, logPrefix+"%fs", &s); err != nil {
		return 0, false
	}
	return time.Duration(s * float64(time.Second)), true
}

func newLogger(w io.Writer, level int) *logger {
	return &logger{w: w, level: level, start: time.Now()}
}

func (l *logger) printf(level int, format string, args ...any) {
	if l.level < level {
		return
	}
	fmt.Fprintf(l.w, logPrefix+"%.3fs %s\n", time.Since(l.start).Seconds(), fmt.Sprintf(format, args...))
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
