package contract

import (
	"fmt"
	"strconv"
	"strings"
)

// The shutdown report's lines that tools read back (docs/init.md, "The
// shutdown report"): graceful-init writes them with ReportKill and
// ReportExit, and the drift controller reads them with ParseReport, so the
// format has one home. Each report line is "+S.SSSs " and the text.

const (
	reportKillPrefix = "SIGKILL pid "
	reportKillInfix  = ", budget spent: "
	reportExitPrefix = "exit "
	reportKilledTail = " SIGKILLed at the budget"
)

// ReportKill is the line of a process graceful-init SIGKILLed at its budget.
func ReportKill(pid int, command string) string {
	return fmt.Sprintf("%s%d%s%s", reportKillPrefix, pid, reportKillInfix, command)
}

// ReportExit is the report's last line: the exit code, the main process and
// how it ended (how), a code remapped to 0 by -e (raw differs from code),
// and how many processes were SIGKILLed at the budget.
func ReportExit(code, mainPID int, how string, raw, killed int) string {
	s := fmt.Sprintf("%s%d: main process %d %s", reportExitPrefix, code, mainPID, how)
	if raw != code {
		s += fmt.Sprintf(", code %d remapped to 0 (-e)", raw)
	}
	if killed > 0 {
		s += fmt.Sprintf("; %d%s", killed, reportKilledTail)
	}
	return s
}

// KilledProcess is a process a report says was SIGKILLed at the budget.
type KilledProcess struct {
	PID int
	// Command is its command line as the report has it (cut at 300
	// characters with "...").
	Command string
}

// Report is what ParseReport reads.
type Report struct {
	// ExitCode is the code on the exit line.
	ExitCode int
	// Killed counts the processes SIGKILLed at the budget (the exit line's
	// count, which survives when the kill lines were cut from the front).
	Killed int
	// KilledProcesses are the kill lines still in the report.
	KilledProcesses []KilledProcess
}

// ParseReport reads a termination message as graceful-init's shutdown
// report. ok is false when msg is not one: its last line is not the exit
// line (an app's own message, a report cut short, no report at all).
func ParseReport(msg string) (r Report, ok bool) {
	lines := strings.Split(strings.TrimRight(msg, "\n"), "\n")
	last, ok := reportText(lines[len(lines)-1])
	if !ok || !strings.HasPrefix(last, reportExitPrefix) {
		return Report{}, false
	}
	codeText, rest, ok := strings.Cut(strings.TrimPrefix(last, reportExitPrefix), ": main process ")
	code, err := strconv.Atoi(codeText)
	if !ok || err != nil {
		return Report{}, false
	}
	r.ExitCode = code
	if i := strings.LastIndex(rest, "; "); i >= 0 && strings.HasSuffix(rest, reportKilledTail) {
		if n, err := strconv.Atoi(strings.TrimSuffix(rest[i+2:], reportKilledTail)); err == nil {
			r.Killed = n
		}
	}
	for _, l := range lines[:len(lines)-1] {
		text, ok := reportText(l)
		if !ok || !strings.HasPrefix(text, reportKillPrefix) {
			continue
		}
		pidText, cmd, ok := strings.Cut(strings.TrimPrefix(text, reportKillPrefix), reportKillInfix)
		pid, err := strconv.Atoi(pidText)
		if !ok || err != nil {
			continue
		}
		r.KilledProcesses = append(r.KilledProcesses, KilledProcess{PID: pid, Command: cmd})
	}
	if r.Killed < len(r.KilledProcesses) {
		r.Killed = len(r.KilledProcesses)
	}
	return r, true
}

// reportText strips a line's "+S.SSSs " stamp.
func reportText(line string) (string, bool) {
	stamp, text, ok := strings.Cut(line, " ")
	if !ok || len(stamp) < 3 || stamp[0] != '+' || !strings.HasSuffix(stamp, "s") {
		return "", false
	}
	if _, err := strconv.ParseFloat(stamp[1:len(stamp)-1], 64); err != nil {
		return "", false
	}
	return text, true
}
