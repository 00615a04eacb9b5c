package seed

import (
	"strings"
	"testing"
	"time"

	"github.com/graceful-dev/graceful/test/podrun"
)

func lines(t *testing.T, texts ...string) []podrun.Line {
	t.Helper()
	var b strings.Builder
	for _, s := range texts {
		b.WriteString("2026-11-27T03:00:00Z " + s + "\n")
	}
	ls, err := podrun.ParseLog(b.String())
	if err != nil {
		t.Fatal(err)
	}
	return ls
}

func TestAnalyzeAndTable(t *testing.T) {
	started := []string{"main: started", "worker: started", "daemon: started"}
	plain := Analyze("plain", 20*time.Second, lines(t, append([]string{"pid1: /bin/sh"}, append(started,
		"main: got SIGTERM", "main: cleanup done")...)...),
		podrun.Stop{Gone: 20900 * time.Millisecond, ExitCode: 137})
	graceful := Analyze("graceful", 20*time.Second, lines(t, append([]string{"pid1: /graceful/graceful-init"}, append(started,
		"main: got SIGTERM", "worker: got SIGTERM", "daemon: got SIGTERM",
		"worker: cleanup done", "daemon: cleanup done", "main: cleanup done", "main: children gone")...)...),
		podrun.Stop{Gone: 2800 * time.Millisecond, ExitCode: 0})
	cut := Analyze("cut", 2*time.Second, lines(t, append(started, "main: got SIGTERM", "worker: got SIGTERM")...),
		podrun.Stop{Gone: 2 * time.Second, ExitCode: 137})

	if plain.Clean() || !graceful.Clean() || cut.Clean() {
		t.Errorf("Clean: plain %v graceful %v cut %v, want false true false", plain.Clean(), graceful.Clean(), cut.Clean())
	}
	fates := func(o Outcome) []string {
		var s []string
		for _, p := range o.Processes {
			s = append(s, o.Fate(p))
		}
		return s
	}
	for _, c := range []struct {
		o    Outcome
		want []string
	}{
		{plain, []string{"SIGTERM, cleanup done; SIGKILLed waiting for its children", "no SIGTERM; SIGKILLed", "no SIGTERM; SIGKILLed"}},
		{graceful, []string{"SIGTERM, cleanup done", "SIGTERM, cleanup done", "SIGTERM, cleanup done"}},
		{cut, []string{"SIGTERM, cleanup cut short; SIGKILLed", "SIGTERM, cleanup cut short; SIGKILLed", "no SIGTERM; SIGKILLed"}},
	} {
		if got := fates(c.o); strings.Join(got, "|") != strings.Join(c.want, "|") {
			t.Errorf("%s: fates %q, want %q", c.o.Pod, got, c.want)
		}
	}

	var b strings.Builder
	if err := WriteTable(&b, []string{"without graceful", "with graceful"}, []Outcome{plain, graceful}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"PID 1 ", "/bin/sh", "/graceful/graceful-init",
		"137 (SIGKILL)", "20.9 s of 20 s grace", "2.8 s of 20 s grace",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, b.String())
		}
	}
	// A container the kubelet lost track of also reports 137: not a SIGKILL.
	lost := Analyze("lost", 20*time.Second, lines(t, started...), podrun.Stop{ExitCode: 137, Reason: "ContainerStatusUnknown"})
	if lost.Killed() || strings.Contains(lost.Fate(lost.Processes[1]), "SIGKILL") {
		t.Errorf("ContainerStatusUnknown counted as SIGKILL: %q", lost.Fate(lost.Processes[1]))
	}
	b.Reset()
	if err := WriteTable(&b, []string{"lost"}, []Outcome{lost}); err != nil || !strings.Contains(b.String(), "137 (ContainerStatusUnknown)") {
		t.Errorf("exit row does not name the reason (err %v):\n%s", err, b.String())
	}
	if err := WriteTable(&b, []string{"one"}, []Outcome{plain, graceful}); err == nil {
		t.Error("WriteTable accepted 1 heading for 2 outcomes")
	}
}
