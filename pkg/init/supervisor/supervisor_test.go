package supervisor

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestBudget(t *testing.T) {
	for grace, want := range map[time.Duration]time.Duration{
		0:                      0,
		600 * time.Millisecond: 300 * time.Millisecond,  // margin capped at half
		3 * time.Second:        2500 * time.Millisecond, // 10% is below the 500ms floor
		10 * time.Second:       9 * time.Second,
		30 * time.Second:       28 * time.Second, // 10% is above the 2s ceiling
		5 * time.Minute:        5*time.Minute - 2*time.Second,
	} {
		if got := Budget(grace); got != want {
			t.Errorf("Budget(%v) = %v, want %v", grace, got, want)
		}
	}
	if got := DrainFor(40*time.Second, 28*time.Second); got != 14*time.Second {
		t.Errorf("DrainFor caps at half the budget: got %v", got)
	}
	if got := DrainFor(5*time.Second, 28*time.Second); got != 5*time.Second {
		t.Errorf("DrainFor(5s): got %v", got)
	}
}

func TestParseStat(t *testing.T) {
	p, ok := parseStat(42, []byte("42 (we (ird) name) S 7 40 40 0 -1 4194560 ..."))
	if !ok || p != (Process{PID: 42, PPID: 7, Pgrp: 40, State: 'S'}) {
		t.Errorf("parseStat: %+v %v", p, ok)
	}
	if _, ok := parseStat(1, []byte("1 (x")); ok {
		t.Errorf("truncated stat accepted")
	}
}

func TestDescendants(t *testing.T) {
	all := []Process{{PID: 1}, {PID: 10, PPID: 1}, {PID: 11, PPID: 10}, {PID: 12, PPID: 11, State: 'Z'}, {PID: 13, PPID: 12}, {PID: 20, PPID: 2}}
	var got []int
	for _, p := range Descendants(all, 10) {
		got = append(got, p.PID)
	}
	if want := []int{11, 13}; !reflect.DeepEqual(got, want) {
		t.Errorf("Descendants = %v, want %v (zombies skipped, their children kept)", got, want)
	}
}

func TestExitCode(t *testing.T) {
	if got := ExitCode(unix.WaitStatus(7 << 8)); got != 7 {
		t.Errorf("exit 7: %d", got)
	}
	if got := ExitCode(unix.WaitStatus(unix.SIGKILL)); got != 137 {
		t.Errorf("SIGKILL: %d", got)
	}
}

func TestLogTime(t *testing.T) {
	var b strings.Builder
	l := newLogger(&b, levelInfo)
	l.start = time.Now().Add(-1234 * time.Millisecond)
	l.infof("signal %s received", "TERM")
	got, ok := LogTime(b.String())
	if !ok || got < 1234*time.Millisecond || got > 2*time.Second {
		t.Errorf("LogTime(%q) = %v, %v; want about 1.234s", b.String(), got, ok)
	}
	for _, line := range []string{"", "initprobe: ready", "graceful-init: started"} {
		if _, ok := LogTime(line); ok {
			t.Errorf("LogTime(%q) ok, want not a graceful-init time", line)
		}
	}
}
