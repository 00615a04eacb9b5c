package supervisor

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"

	"golang.org/x/sys/unix"

	"github.com/graceful-dev/graceful/pkg/contract"
)

func TestCutFront(t *testing.T) {
	for _, tc := range []struct {
		s     string
		limit int
		want  string
	}{
		{"a\nb\n", 10, "a\nb\n"},
		{"aaa\nbbb\nccc\n", 12, "aaa\nbbb\nccc\n"},
		{"aaa\nbbb\nccc\n", 11, "bbb\nccc\n"}, // the cut lands in "aaa": that line goes
		{"aaa\nbbb\nccc\n", 9, "bbb\nccc\n"},  // ... also with only its newline left
		{"aaa\nbbb\nccc\n", 8, "bbb\nccc\n"},  // the cut lands on a line start: nothing more goes
		{"aaa\nbbb\nccc\n", 7, "ccc\n"},
		{"aaa\nbbbbbbbbbb\n", 5, "bbbb\n"}, // a last line too long: its end
	} {
		if got := cutFront(tc.s, tc.limit); got != tc.want {
			t.Errorf("cutFront(%q, %d) = %q, want %q", tc.s, tc.limit, got, tc.want)
		}
	}
}

// The report keeps the shutdown's own lines and the newest exits, whole
// lines only, within the limit, the exit code last.
func TestReportLimit(t *testing.T) {
	var r report
	for i := 0; i < 1000; i++ {
		r.exited(time.Duration(i)*time.Millisecond, "pid %d exited (code 0): worker %s", 1000+i, strings.Repeat("x", 40))
	}
	r.add(0, "termination started: preStop hook's mark")
	r.add(time.Second, "exit 143: main process 7 killed by SIGTERM")
	if r.exitBytes > contract.TerminationLogLimit {
		t.Errorf("%d bytes of exits kept, want at most %d", r.exitBytes, contract.TerminationLogLimit)
	}
	text := r.text(contract.TerminationLogLimit)
	if len(text) > contract.TerminationLogLimit {
		t.Fatalf("report of %d bytes, limit %d", len(text), contract.TerminationLogLimit)
	}
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if !strings.HasPrefix(lines[0], "+") || !strings.Contains(lines[0], "pid ") {
		t.Errorf("the report starts in the middle of a line: %q", lines[0])
	}
	if last := lines[len(lines)-1]; last != "+1.000s exit 143: main process 7 killed by SIGTERM" {
		t.Errorf("last line %q, want the exit", last)
	}
	if !strings.Contains(text, "+0.999s pid 1999 exited") || strings.Contains(text, "pid 1000 exited") {
		t.Errorf("the newest exits are not the ones kept:\n%s", text)
	}
}

func TestWriteReport(t *testing.T) {
	dir := t.TempDir()
	fresh := filepath.Join(dir, "fresh")
	if err := writeReport(fresh, "report\n"); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(fresh); string(b) != "report\n" {
		t.Errorf("written %q", b)
	}
	// An empty file (what the kubelet mounts) is written.
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := writeReport(empty, "report\n"); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(empty); string(b) != "report\n" {
		t.Errorf("written %q", b)
	}
	// The app's message stays.
	app := filepath.Join(dir, "app")
	if err := os.WriteFile(app, []byte("app: bye"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := writeReport(app, "report\n"); !errors.Is(err, errNotEmpty) {
		t.Errorf("writeReport over the app's message: %v, want errNotEmpty", err)
	}
	if b, _ := os.ReadFile(app); string(b) != "app: bye" {
		t.Errorf("the app's message became %q", b)
	}
	if err := writeReport(filepath.Join(dir, "no", "such"), "x"); err == nil || errors.Is(err, errNotEmpty) {
		t.Errorf("writeReport into a missing folder: %v", err)
	}
}

// A whole shutdown as the report tells it: mark, stop signal, forward, an
// exit, the SIGKILL at the budget, the exit code last.
func TestReportOfAShutdown(t *testing.T) {
	path := filepath.Join(t.TempDir(), "termination-log")
	s, k, log := newFake(t, "--grace-period=30s", "--stop-signal=QUIT", "--signal-map=QUIT=TERM", "--termination-log="+path)
	deliver(s, contract.MarkSignal, t0)
	deliver(s, syscall.SIGQUIT, t0.Add(12*time.Second))
	k.exits = []exit{{11, 0}}
	deliver(s, syscall.SIGCHLD, t0.Add(13*time.Second))
	s.procs = fakeTable{{PID: 10, PPID: 1, Pgrp: 10}, {PID: 20, PPID: 1, Pgrp: 20}}
	s.onDeadline(t0.Add(28 * time.Second))
	k.exits, k.gone = []exit{{20, unix.WaitStatus(unix.SIGKILL)}, {10, unix.WaitStatus(unix.SIGKILL)}}, true
	now := t0.Add(28*time.Second + 5*time.Millisecond)
	deliver(s, syscall.SIGCHLD, now)
	wantPhase(t, s, done)
	if code := s.finish(now); code != 137 {
		t.Errorf("exit %d, want 137", code)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("no report: %v; log:\n%s", err, log)
	}
	want := `+13.000s pid 11 exited (code 0): cmd11
+28.005s pid 20 exited (killed by SIGKILL): cmd20
+28.005s pid 10 exited (killed by SIGKILL): cmd10
+0.000s termination started: preStop hook's mark
+12.000s signal QUIT received 12.000s after the termination mark; SIGKILL due at +28.000s
+12.000s SIGTERM forwarded to 3 processes: 2 in group 10, 1 that left it: 20 (cmd20)
+28.000s SIGKILL pid 10, budget spent: cmd10
+28.000s SIGKILL pid 20, budget spent: cmd20
+28.005s exit 137: main process 10 killed by SIGKILL; 2 SIGKILLed at the budget
`
	if string(b) != want {
		t.Errorf("report:\n%s\nwant:\n%s", b, want)
	}
}

// A run that ends by itself writes no report (FallbackToLogsOnError then
// shows the log), and a report never replaces the app's message.
func TestNoReport(t *testing.T) {
	path := filepath.Join(t.TempDir(), "termination-log")
	s, k, _ := newFake(t, "--termination-log="+path)
	k.exits, k.gone = []exit{{10, unix.WaitStatus(1 << 8)}}, true
	deliver(s, syscall.SIGCHLD, t0)
	if code := s.finish(t0); code != 1 {
		t.Errorf("exit %d", code)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("a report for a run that ended by itself: %v", err)
	}

	if err := os.WriteFile(path, []byte("app: disk full\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s, k, log := newFake(t, "--termination-log="+path)
	deliver(s, syscall.SIGTERM, t0)
	k.exits, k.gone = []exit{{10, unix.WaitStatus(unix.SIGTERM)}, {11, 0}, {20, 0}}, true
	deliver(s, syscall.SIGCHLD, t0.Add(time.Second))
	s.finish(t0.Add(time.Second))
	if b, _ := os.ReadFile(path); string(b) != "app: disk full\n" {
		t.Errorf("the app's message became %q", b)
	}
	wantLogged(t, log, "termination log "+path+" holds a message already (not empty: 15 bytes): the shutdown report is not written")
}

// One process with a very long command line (a Java classpath) keeps its
// line short, so the other lines still fit in the kubelet's 4096 bytes.
func TestReportLongCommandLine(t *testing.T) {
	long := strings.Repeat("/opt/app/lib/dependency-é.jar:", 200)
	line := stamp(time.Second, "SIGKILL pid 7, budget spent: java -cp %s Main", long)
	if len(line) > maxLine || !utf8.ValidString(line) || !strings.HasSuffix(line, "...") {
		t.Errorf("a long line comes out as %d bytes (valid UTF-8: %v): %q", len(line), utf8.ValidString(line), line[max(0, len(line)-40):])
	}
	var r report
	r.add(0, "termination started: preStop hook's mark")
	r.add(time.Second, "SIGKILL pid 7, budget spent: java -cp %s Main", long)
	r.add(time.Second, "exit 137: main process 7 killed by SIGKILL")
	if got := r.text(contract.TerminationLogLimit); !strings.Contains(got, "termination started") || !strings.Contains(got, "SIGKILL pid 7") {
		t.Errorf("the report lost its lines to one long one:\n%s", got)
	}
}
