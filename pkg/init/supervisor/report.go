package supervisor

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/graceful-dev/graceful/pkg/contract"
)

// report is the shutdown report written to --termination-log: one line an
// event, "+S.SSSs what", times from the termination mark if one came, else
// from the shutdown's start. The kubelet keeps the end of the file
// (contract.TerminationLogLimit bytes), so the lines that matter most come
// last: first the processes that exited during the shutdown, in order, then
// the shutdown itself in order (the mark, the stop signal, whom it went to,
// what was SIGKILLed or left running), and the exit code as the last line.
type report struct {
	exits     []string // the least important lines: cut first
	exitBytes int
	lines     []string
}

// exited adds the exit of a process. Only the last TerminationLogLimit bytes
// of exits are kept, so that reaping thousands of processes does not grow
// the report without end.
func (r *report) exited(at time.Duration, format string, args ...any) {
	l := stamp(at, format, args...)
	r.exits = append(r.exits, l)
	r.exitBytes += len(l) + 1
	for r.exitBytes > contract.TerminationLogLimit && len(r.exits) > 1 {
		r.exitBytes -= len(r.exits[0]) + 1
		r.exits = r.exits[1:]
	}
}

// add adds a line about the shutdown.
func (r *report) add(at time.Duration, format string, args ...any) {
	r.lines = append(r.lines, stamp(at, format, args...))
}

func stamp(at time.Duration, format string, args ...any) string {
	return compactLine(fmt.Sprintf("+%.3fs ", at.Seconds()) + fmt.Sprintf(format, args...))
}

// maxLine bounds a report line: one process with a long command line (a
// Java classpath) must not push every other line out of the 4096 bytes.
const maxLine = 300

// compactLine keeps a report line one short line: a command line may hold
// newlines, and is cut (at a character boundary) when it is too long.
func compactLine(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) <= maxLine {
		return s
	}
	cut := maxLine - len("...")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}

// text is the report, at most limit bytes.
func (r *report) text(limit int) string {
	return cutFront(strings.Join(append(append([]string(nil), r.exits...), r.lines...), "\n")+"\n", limit)
}

// cutFront returns the end of s that fits in limit bytes, cut at a line
// start: the kubelet would cut the front anyway, but in the middle of a
// line. A last line longer than limit is cut at its front.
func cutFront(s string, limit int) string {
	if len(s) <= limit {
		return s
	}
	tail := s[len(s)-limit:]
	if s[len(s)-limit-1] == '\n' {
		return tail
	}
	if i := strings.IndexByte(tail, '\n'); i >= 0 && i+1 < len(tail) {
		return tail[i+1:]
	}
	return tail
}

// errNotEmpty is a termination log that holds something already.
var errNotEmpty = errors.New("not empty")

// writeReport writes text to path unless the file holds something: the
// app's own termination message matters more than the init's report, and
// everything the app runs has exited when the init writes, so nothing
// writes to it after the check. The file is created if missing (the
// kubelet creates the real one before the container starts).
func writeReport(path, text string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	fi, err := f.Stat()
	if err == nil && fi.Size() > 0 {
		err = fmt.Errorf("%w: %d bytes", errNotEmpty, fi.Size())
	}
	if err == nil {
		_, err = f.WriteString(text)
	}
	return errors.Join(err, f.Close())
}
