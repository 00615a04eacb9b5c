package supervisor

import (
	"fmt"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/graceful-dev/graceful/pkg/contract"
	"github.com/graceful-dev/graceful/pkg/init/flags"
)

var t0 = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

func TestShutdownClock(t *testing.T) {
	c := newShutdownClock(30*time.Second, 5*time.Second)
	if c.started() {
		t.Fatal("a new clock has started")
	}
	c.startAt(t0)
	if !c.started() {
		t.Fatal("not started after startAt")
	}
	for p, want := range map[phase]time.Duration{draining: 5 * time.Second, stopping: 28 * time.Second} {
		if at, ok := c.deadline(p); !ok || !at.Equal(t0.Add(want)) {
			t.Errorf("deadline(%v) = %v %v, want start+%v", p, at, ok, want)
		}
	}
	for _, p := range []phase{running, killing, done} {
		if at, ok := c.deadline(p); ok {
			t.Errorf("deadline(%v) = %v, want none", p, at)
		}
	}
	if got := c.since(t0.Add(1500 * time.Millisecond)); got != 1500*time.Millisecond {
		t.Errorf("since = %v, want 1.5s", got)
	}
	// A drain delay longer than half the budget is cut to that half.
	c = newShutdownClock(30*time.Second, 40*time.Second)
	c.startAt(t0)
	if at, _ := c.deadline(draining); !at.Equal(t0.Add(14 * time.Second)) {
		t.Errorf("capped drain ends at start+%v, want +14s", at.Sub(t0))
	}
	// A mark a minute before the start puts the SIGKILL at the floor: the
	// kubelet gives 2 s after its stop signal whatever the hook used.
	c = newShutdownClock(30*time.Second, 40*time.Second)
	c.markAt(t0.Add(-time.Minute))
	c.startAt(t0)
	if at, _ := c.deadline(stopping); !at.Equal(t0.Add(1500*time.Millisecond)) || !c.floored() {
		t.Errorf("a mark a minute before the signal: SIGKILL at start+%v (floored %v), want +1.5s, floored", at.Sub(t0), c.floored())
	}
	// The drain delay is cut to half of what is left, here 0.75s.
	if at, _ := c.deadline(draining); !at.Equal(t0.Add(750 * time.Millisecond)) {
		t.Errorf("drain in the floor ends at start+%v, want +0.75s", at.Sub(t0))
	}
	if got := c.since(t0); got != time.Minute {
		t.Errorf("since counts from the mark: %v, want 1m", got)
	}
}

// fakeKernel records the signals sent and hands out exits from a queue.
type fakeKernel struct {
	sent  []sent
	exits []exit // reaped in order
	gone  bool   // ECHILD once exits is empty; else "children run"
}

type sent struct {
	pid int
	sig syscall.Signal
}

type exit struct {
	pid int
	ws  unix.WaitStatus
}

func (k *fakeKernel) kill(pid int, sig syscall.Signal) error {
	k.sent = append(k.sent, sent{pid, sig})
	return nil
}

func (k *fakeKernel) reap(ws *unix.WaitStatus) (int, error) {
	if len(k.exits) > 0 {
		e := k.exits[0]
		k.exits = k.exits[1:]
		*ws = e.ws
		return e.pid, nil
	}
	if k.gone {
		return -1, unix.ECHILD
	}
	return 0, nil
}

// takeSent returns what was sent since the last call.
func (k *fakeKernel) takeSent() []sent {
	s := k.sent
	k.sent = nil
	return s
}

type fakeTable []Process

func (f fakeTable) List() ([]Process, error) { return f, nil }
func (f fakeTable) Cmdline(pid int) string   { return fmt.Sprintf("cmd%d", pid) }

// newFake is a supervisor as PID 1 whose main child is 10, with 11 in its
// group and 20, a daemon, in a group of its own.
func newFake(t *testing.T, args ...string) (*Supervisor, *fakeKernel, *strings.Builder) {
	t.Helper()
	cfg, err := flags.Parse(append(args, "--", "app"), nil)
	if err != nil {
		t.Fatal(err)
	}
	var log strings.Builder
	s := New(cfg, nil, &log)
	k := &fakeKernel{}
	s.sys, s.procs = k, fakeTable{{PID: 10, PPID: 1, Pgrp: 10}, {PID: 11, PPID: 10, Pgrp: 10}, {PID: 20, PPID: 1, Pgrp: 20}}
	s.self, s.pid1, s.child, s.pgid = 1, true, 10, 10
	return s, k, &log
}

func wantPhase(t *testing.T, s *Supervisor, want phase) {
	t.Helper()
	if s.phase != want {
		t.Fatalf("phase %v, want %v", s.phase, want)
	}
}

func wantSent(t *testing.T, k *fakeKernel, want ...sent) {
	t.Helper()
	if got := k.takeSent(); !reflect.DeepEqual(got, want) {
		t.Fatalf("sent %v, want %v", got, want)
	}
}

// wantDeadline checks that the current phase ends at t0+want.
func wantDeadline(t *testing.T, s *Supervisor, want time.Duration) {
	t.Helper()
	if at, ok := s.clock.deadline(s.phase); !ok || !at.Equal(t0.Add(want)) {
		t.Errorf("%v ends at start+%v (%v), want +%v", s.phase, at.Sub(t0), ok, want)
	}
}

// wantLogged checks that the log holds each line.
func wantLogged(t *testing.T, log *strings.Builder, lines ...string) {
	t.Helper()
	for _, l := range lines {
		if !strings.Contains(log.String(), l) {
			t.Errorf("the log does not say %q:\n%s", l, log)
		}
	}
}

// deliver is one turn of the loop for a signal: handle it, then the exit check.
func deliver(s *Supervisor, sig syscall.Signal, now time.Time) {
	s.onSignal(sig, now)
	s.checkExit(now)
}

// stopped is the stop signal sent to group 10 and to the daemon 20 that left it.
func stopped(sig syscall.Signal) []sent { return []sent{{-10, sig}, {20, sig}} }

func TestStopWithDrainDelay(t *testing.T) {
	s, k, log := newFake(t, "--grace-period=30s", "--drain-delay=5s")
	deliver(s, syscall.SIGTERM, t0)
	wantPhase(t, s, draining)
	wantSent(t, k)
	wantDeadline(t, s, 5*time.Second)

	// Other signals pass while the stop signal waits; a repeat of it waits too.
	deliver(s, syscall.SIGUSR1, t0.Add(time.Second))
	wantSent(t, k, sent{-10, syscall.SIGUSR1})
	deliver(s, syscall.SIGTERM, t0.Add(2*time.Second))
	wantPhase(t, s, draining)
	wantSent(t, k)

	s.onDeadline(t0.Add(5 * time.Second))
	wantPhase(t, s, stopping)
	wantSent(t, k, stopped(syscall.SIGTERM)...)
	wantDeadline(t, s, 28*time.Second)

	deliver(s, syscall.SIGTERM, t0.Add(6*time.Second))
	wantPhase(t, s, stopping)
	wantSent(t, k, stopped(syscall.SIGTERM)...)

	s.onDeadline(t0.Add(28 * time.Second))
	wantPhase(t, s, killing)
	wantSent(t, k, sent{10, syscall.SIGKILL}, sent{11, syscall.SIGKILL}, sent{20, syscall.SIGKILL})
	wantLogged(t, log, "budget spent: SIGKILL pid 20 (cmd20)")

	k.exits, k.gone = []exit{{11, unix.WaitStatus(unix.SIGKILL)}, {20, unix.WaitStatus(unix.SIGKILL)}, {10, unix.WaitStatus(unix.SIGKILL)}}, true
	deliver(s, syscall.SIGCHLD, t0.Add(28*time.Second))
	wantPhase(t, s, done)
	if code := s.exitCode(t0.Add(28 * time.Second)); code != 137 {
		t.Errorf("exit code %d, want 137", code)
	}
}

func TestStopWithoutDrainDelay(t *testing.T) {
	s, k, log := newFake(t, "--grace-period=3s", "--signal-map=TERM=QUIT")
	deliver(s, syscall.SIGTERM, t0)
	wantPhase(t, s, stopping)
	wantSent(t, k, stopped(syscall.SIGQUIT)...)
	wantDeadline(t, s, 2500*time.Millisecond)
	wantLogged(t, log, "signal TERM received: shutdown started, grace period 3s, SIGKILL at +2.5s")
}

// The main child's exit cuts the drain short but leaves the SIGKILL where the
// stop signal put it.
func TestMainExitsWhileDraining(t *testing.T) {
	s, k, _ := newFake(t, "--grace-period=30s", "--drain-delay=5s")
	deliver(s, syscall.SIGTERM, t0)
	wantPhase(t, s, draining)
	k.exits = []exit{{10, unix.WaitStatus(3 << 8)}}
	deliver(s, syscall.SIGCHLD, t0.Add(time.Second))
	wantPhase(t, s, stopping)
	wantSent(t, k, stopped(syscall.SIGTERM)...)
	wantDeadline(t, s, 28*time.Second)
}

// The main child exits on its own: the rest is stopped, and the clock starts
// then.
func TestMainExitsFirst(t *testing.T) {
	s, k, log := newFake(t, "--grace-period=10s")
	k.exits = []exit{{10, unix.WaitStatus(3 << 8)}}
	deliver(s, syscall.SIGCHLD, t0)
	wantPhase(t, s, stopping)
	wantSent(t, k, stopped(syscall.SIGTERM)...)
	wantDeadline(t, s, 9*time.Second)
	wantLogged(t, log, "main process 10 exited (code 3): shutdown started")
	k.exits, k.gone = []exit{{20, 0}}, true
	t1 := t0.Add(2 * time.Second)
	deliver(s, syscall.SIGCHLD, t1)
	wantPhase(t, s, done)
	if code := s.exitCode(t1); code != 3 {
		t.Errorf("exit code %d, want the main child's 3", code)
	}
	wantLogged(t, log, "pid 20 (cmd20) exited (code 0) +2.00s", "all processes gone +2.00s, exiting 3")
}

// The main child exits and nothing else runs: done at once, no shutdown, and
// -e applies.
func TestMainExitsAlone(t *testing.T) {
	s, k, log := newFake(t, "-e", "3")
	k.exits, k.gone = []exit{{10, unix.WaitStatus(3 << 8)}}, true
	deliver(s, syscall.SIGCHLD, t0)
	wantPhase(t, s, done)
	wantSent(t, k)
	if s.clock.started() {
		t.Error("the clock started for a run that ended by itself")
	}
	if code := s.exitCode(t0); code != 0 {
		t.Errorf("exit code %d, want 3 remapped to 0", code)
	}
	if log.Len() != 0 {
		t.Errorf("a quiet end logged at the default verbosity:\n%s", log)
	}
}

// After the main child's exit the exit check reaps on every event, so an exit
// whose SIGCHLD still waits behind another signal ends the run just the same.
func TestExitCheckReapsOnAnyEvent(t *testing.T) {
	s, k, _ := newFake(t, "--grace-period=10s")
	deliver(s, syscall.SIGTERM, t0)
	k.exits = []exit{{10, unix.WaitStatus(unix.SIGTERM)}}
	deliver(s, syscall.SIGCHLD, t0)
	wantPhase(t, s, stopping)
	k.takeSent()
	k.exits, k.gone = []exit{{11, 0}, {20, 0}}, true
	deliver(s, syscall.SIGUSR1, t0.Add(time.Second))
	wantPhase(t, s, done)
	wantSent(t, k, sent{-10, syscall.SIGUSR1})
	if code := s.exitCode(t0); code != 143 {
		t.Errorf("exit code %d, want 143", code)
	}
}

// The mark moves the SIGKILL to mark + budget: a stop signal 10s after a
// mark in a 30s pod leaves 18s, not 28s. The mark itself sends nothing.
func TestMarkStartsTheClock(t *testing.T) {
	s, k, log := newFake(t, "--grace-period=30s")
	deliver(s, contract.MarkSignal, t0)
	wantPhase(t, s, running)
	wantSent(t, k)
	wantLogged(t, log, "termination mark received (preStop hook): grace period 30s counts from now, SIGKILL at +28s or, if the hook uses the grace period up, 1.5s after the stop signal")
	deliver(s, contract.MarkSignal, t0.Add(time.Second))
	wantLogged(t, log, "termination mark received again: ignored")
	wantSent(t, k)

	deliver(s, syscall.SIGTERM, t0.Add(10*time.Second))
	wantPhase(t, s, stopping)
	wantSent(t, k, stopped(syscall.SIGTERM)...)
	wantDeadline(t, s, 28*time.Second)
	wantLogged(t, log, "signal TERM received 10.000s after the termination mark: shutdown started, grace period 30s, SIGKILL at +18s")
}

// A hook that used the grace period up: the stop signal comes at mark +
// grace, and the processes get the kubelet's 2s floor less the margin.
func TestMarkFloor(t *testing.T) {
	s, k, log := newFake(t, "--grace-period=10s", "--drain-delay=5s")
	deliver(s, contract.MarkSignal, t0)
	deliver(s, syscall.SIGTERM, t0.Add(10*time.Second))
	wantPhase(t, s, draining)
	wantSent(t, k)
	// Half of the 1.5s left.
	wantDeadline(t, s, 10*time.Second+750*time.Millisecond)
	wantLogged(t, log, "SIGKILL at +1.5s (the hook used the grace period: the kubelet's 2s floor less the margin)",
		"drain delay 5s capped at 750ms, half of the 1.5s until the SIGKILL")
	s.onDeadline(t0.Add(10*time.Second + 750*time.Millisecond))
	wantPhase(t, s, stopping)
	wantDeadline(t, s, 11500*time.Millisecond)
}

// --stop-signal=QUIT with --signal-map=QUIT=TERM: QUIT starts the shutdown
// and goes out as TERM; a TERM is just forwarded.
func TestStopSignalMapped(t *testing.T) {
	s, k, log := newFake(t, "--grace-period=10s", "--stop-signal=QUIT", "--signal-map=QUIT=TERM")
	deliver(s, syscall.SIGTERM, t0)
	wantPhase(t, s, running)
	wantSent(t, k, sent{-10, syscall.SIGTERM})
	deliver(s, syscall.SIGQUIT, t0.Add(time.Second))
	wantPhase(t, s, stopping)
	wantSent(t, k, stopped(syscall.SIGTERM)...)
	wantDeadline(t, s, 10*time.Second)
	wantLogged(t, log, "signal QUIT received: shutdown started")
	// A mark after the start moves nothing.
	deliver(s, contract.MarkSignal, t0.Add(2*time.Second))
	wantLogged(t, log, "termination mark received after the shutdown started: ignored")
	wantSent(t, k)
	wantDeadline(t, s, 10*time.Second)
}

// A realtime stop signal starts the shutdown like any other.
func TestRealtimeStopSignal(t *testing.T) {
	s, k, log := newFake(t, "--stop-signal=SIGRTMIN+3")
	deliver(s, syscall.Signal(37), t0)
	wantPhase(t, s, stopping)
	wantSent(t, k, stopped(37)...)
	wantLogged(t, log, "signal RTMIN+3 received: shutdown started", "SIGRTMIN+3 forwarded to 3 processes")
}

// --kill=false: the deadline names what is left and kills nothing; a repeat
// of the stop signal still goes to everyone.
func TestKillOff(t *testing.T) {
	s, k, log := newFake(t, "--grace-period=3s", "--kill=false")
	deliver(s, syscall.SIGTERM, t0)
	k.takeSent()
	s.onDeadline(t0.Add(2500 * time.Millisecond))
	wantPhase(t, s, overdue)
	wantSent(t, k)
	wantLogged(t, log, "budget spent, SIGKILL is off (--kill=false); still running: pid 10 (cmd10), pid 11 (cmd11), pid 20 (cmd20)")
	if _, ok := s.clock.deadline(overdue); ok {
		t.Error("overdue has a deadline")
	}
	deliver(s, syscall.SIGTERM, t0.Add(5*time.Second))
	wantPhase(t, s, overdue)
	wantSent(t, k, stopped(syscall.SIGTERM)...)
	k.exits, k.gone = []exit{{10, 0}, {11, 0}, {20, 0}}, true
	deliver(s, syscall.SIGCHLD, t0.Add(6*time.Second))
	wantPhase(t, s, done)
}
