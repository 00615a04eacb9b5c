package podrun

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Line is one line of a container log read with timestamps.
type Line struct {
	T    time.Time
	Text string
}

// ParseLog splits a log read with timestamps (RFC 3339 time, a space, the
// text) into lines. A line without a timestamp is an error.
func ParseLog(s string) ([]Line, error) {
	var ls []Line
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return nil, nil
	}
	for l := range strings.SplitSeq(s, "\n") {
		ts, text, _ := strings.Cut(l, " ")
		tm, err := time.Parse(time.RFC3339Nano, ts)
		if err != nil {
			return nil, fmt.Errorf("log line without a timestamp: %q", l)
		}
		ls = append(ls, Line{tm, text})
	}
	return ls, nil
}

// Has reports whether some line is exactly text.
func Has(ls []Line, text string) bool {
	return slices.ContainsFunc(ls, func(l Line) bool { return l.Text == text })
}

// Find returns the first line containing s.
func Find(ls []Line, s string) (Line, bool) {
	i := slices.IndexFunc(ls, func(l Line) bool { return strings.Contains(l.Text, s) })
	if i < 0 {
		return Line{}, false
	}
	return ls[i], true
}

// PrintPID1 is a shell line that prints "pid1: " and the first word of PID 1's
// command line, for PID1 to read back: which init the container runs.
const PrintPID1 = `tr '\0' '\n' </proc/1/cmdline | { read -r a; echo "pid1: $a"; }`

// PID1 is what PrintPID1 printed in ls: PID 1's program.
func PID1(ls []Line) (string, bool) {
	for _, l := range ls {
		if v, ok := strings.CutPrefix(l.Text, "pid1: "); ok {
			return v, true
		}
	}
	return "", false
}
