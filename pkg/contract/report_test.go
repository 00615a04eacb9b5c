package contract

import (
	"reflect"
	"testing"
)

// The example of docs/init.md, "The shutdown report".
const docsReport = `+12.104s pid 31 exited (code 0): worker --queue=mail
+12.388s pid 7 exited (killed by SIGTERM): /app/server --port=8080
+28.004s pid 40 exited (killed by SIGKILL): rsync -a /data /backup
+0.000s termination started: preStop hook's mark
+12.003s signal QUIT received 12.003s after the termination mark; SIGKILL due at +28.000s
+12.003s SIGTERM forwarded to 3 processes: 2 in group 7, 1 that left it: 40 (rsync -a /data /backup)
+28.000s SIGKILL pid 40, budget spent: rsync -a /data /backup
+28.004s exit 143: main process 7 killed by SIGTERM; 1 SIGKILLed at the budget
`

func TestParseReport(t *testing.T) {
	for _, tc := range []struct {
		name string
		msg  string
		ok   bool
		want Report
	}{
		{"the docs' example", docsReport, true, Report{ExitCode: 143, Killed: 1, KilledProcesses: []KilledProcess{{40, "rsync -a /data /backup"}}}},
		{"clean", "+0.000s SIGTERM received; SIGKILL due at +28.000s\n+0.010s exit 143: main process 7 killed by SIGTERM\n", true, Report{ExitCode: 143}},
		{"remapped", "+0.010s exit 0: main process 7 killed by SIGTERM, code 143 remapped to 0 (-e)\n", true, Report{ExitCode: 0}},
		{"kill lines cut from the front", "+1.000s exit 137: main process 7 killed by SIGKILL; 12 SIGKILLed at the budget", true, Report{ExitCode: 137, Killed: 12}},
		{"an app's message", "panic: out of cheese\n", false, Report{}},
		{"empty", "", false, Report{}},
		{"exit line not last", "+1.000s exit 0: main process 7 exited (code 0)\n+2.000s more\n", false, Report{}},
		{"a bad stamp", "12s exit 0: main process 7 exited (code 0)", false, Report{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := ParseReport(tc.msg)
			if ok != tc.ok || !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ParseReport = %+v, %v; want %+v, %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}

// What the writer's functions write, the parser reads.
func TestReportRoundTrip(t *testing.T) {
	msg := "+0.000s x\n+1.500s " + ReportKill(41, "sleep 100") + "\n+1.600s " + ReportKill(42, "sh -c trap '' TERM; sleep 100") + "\n+1.700s " +
		ReportExit(137, 7, "killed by SIGKILL", 137, 2) + "\n"
	got, ok := ParseReport(msg)
	want := Report{ExitCode: 137, Killed: 2, KilledProcesses: []KilledProcess{{41, "sleep 100"}, {42, "sh -c trap '' TERM; sleep 100"}}}
	if !ok || !reflect.DeepEqual(got, want) {
		t.Errorf("ParseReport = %+v, %v; want %+v", got, ok, want)
	}
}
