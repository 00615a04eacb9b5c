// Package supervisor is graceful-init's main loop: PID 1 (or a subreaper) of
// a container, which starts one command and sees the whole container through
// its shutdown.
//
// Contract:
//  1. The command runs as a child in its own process group; with a terminal on
//     stdin that group becomes the foreground group. It starts with the signal
//     mask and the ignored signals the init was started with (ChildSignals;
//     see package sigcatch for the handoff re-exec that restores them).
//  2. Every signal received, except SIGCHLD, SIGKILL/SIGSTOP (uncatchable),
//     SIGURG (the Go runtime's preemption signal, indistinguishable from a sent
//     one) and the termination mark (contract.MarkSignal), is forwarded to the
//     child's process group after --signal-map. Realtime signals other than
//     the stop signal are not caught, so not forwarded.
//  3. The stop signal is --stop-signal (SIGTERM by default). When it arrives
//     the shutdown starts; after --drain-delay it is forwarded (mapped) to the
//     group and to every process that left the group: as PID 1 every other
//     process of the PID namespace, otherwise every descendant (the init is
//     then a subreaper).
//  4. The termination mark, sent by `graceful-init prestop` when the preStop
//     hook starts, changes nothing for the processes: it records when
//     termination started, which is when the kubelet's grace period started.
//     Only the first one counts, and only before the shutdown starts.
//  5. One waiter: a wait4(-1) loop reaps every child and takes the main child's
//     status from the same loop, so no status is ever lost.
//  6. When the main child exits, whatever still runs gets the (mapped) stop
//     signal and the init waits for it; the shutdown starts then if it had not.
//  7. At contract.KillAt (mark + Budget(grace), or start + Budget(grace)
//     without a mark, never sooner than Budget(2 s) after the start when a mark
//     came) everything left is SIGKILLed and named in the log, so that the
//     kubelet never has to; with --kill=false it is only named.
//  8. The exit code is the main child's (128+N when killed by signal N), 0 for
//     codes listed with -e.
//  9. Each event is one line on stderr. When termination came from outside (a
//     mark or the stop signal) and --termination-log is set, a report goes
//     there on exit, unless the file holds something already (report.go).
//
// # Phases
//
// Run is one loop: it waits for an event (a signal, or the end of the current
// phase's deadline), handles it according to the phase, and then, after every
// event whatever it was, checks whether the main child has exited. The phases
// only move forward:
//
//	running   the command runs; no stop signal yet.
//	draining  the stop signal came and is held back for the drain delay.
//	stopping  the stop signal went to the group and to every process that left it.
//	killing   the budget is spent: everything left was SIGKILLed.
//	overdue   the budget is spent and --kill=false: what is left was named and
//	          runs on, until it exits or the kubelet kills it.
//	done      the main child is reaped and no child is left; Run returns.
//
// The transitions, each one method:
//
//	running  → draining  stop signal, with a drain delay        (holdStop)
//	running  → stopping  stop signal, no drain delay            (stopAll)
//	draining → stopping  the drain delay is over                (stopAll)
//	running  → stopping  the main child exited, others run      (mainExited)
//	draining → stopping  the main child exited, others run      (mainExited)
//	stopping → killing   the budget is spent                    (killAll)
//	stopping → overdue   the budget is spent, --kill=false       (leaveRunning)
//	any      → done      the main child exited, no child is left (checkExit)
//
// Invariants:
//   - The shutdown clock runs from the moment running is left, and both
//     deadlines count from its start (shutdownClock): leaving draining early
//     does not move the SIGKILL.
//   - Running and draining never hold an exited main child across events: the
//     exit check after every event moves them to stopping (or done) at once.
//     So the stop signal held back in draining can not be forgotten: the main
//     child's exit sends it.
//   - The stop signal has gone to everyone exactly in stopping, killing and
//     overdue.
//   - done means wait4 said ECHILD after the main child was reaped: nothing
//     the init is responsible for outlives it.
package supervisor

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/graceful-dev/graceful/pkg/contract"
	"github.com/graceful-dev/graceful/pkg/init/flags"
)

// phase is where the shutdown stands; see the package documentation.
type phase int

const (
	running phase = iota
	draining
	stopping
	killing
	overdue
	done
)

func (p phase) String() string {
	return [...]string{"running", "draining", "stopping", "killing", "overdue", "done"}[p]
}

// Supervisor runs one command. Create it with New.
type Supervisor struct {
	// Signals, set before Run, is the signal state the command starts with:
	// the one the init itself was started with (see package sigcatch).
	Signals ChildSignals
	// AfterStart, when set, runs once the command has started.
	AfterStart func()

	cfg   *flags.Config
	sigs  <-chan os.Signal
	log   *logger
	procs ProcessTable
	sys   kernel
	pid1  bool
	self  int
	// stopOn is the signal that starts the shutdown: --stop-signal, the
	// container runtime's.
	stopOn syscall.Signal

	phase  phase
	clock  shutdownClock
	child  int // the main child; it leads its own process group...
	pgid   int // ...whose id is therefore its pid
	exited bool
	status unix.WaitStatus // the main child's, once exited
	names  map[int]string  // command lines, read while the processes lived
	// signalled is true once the stop signal came: with a mark, it says
	// that termination came from outside, which is when a report is due.
	signalled bool
	killed    int // SIGKILLed at the budget
	rep       report
}

// New prepares a supervisor for cfg that reads signals from sigs and logs to w.
func New(cfg *flags.Config, sigs <-chan os.Signal, w io.Writer) *Supervisor {
	return &Supervisor{
		cfg:    cfg,
		sigs:   sigs,
		log:    newLogger(w, cfg.Verbosity),
		procs:  ProcFS{Root: "/proc"},
		sys:    liveKernel{},
		self:   os.Getpid(),
		stopOn: cfg.StopSignal,
		clock:  newShutdownClock(cfg.GracePeriod, cfg.DrainDelay),
		names:  map[int]string{},
	}
}

// Run starts the command and supervises it until it and every process left
// behind are gone, and returns the init's exit code: the main child's (see
// the contract); 127 when the command is not found and 126 when it can not
// be run (StartError), or 126 when its signal state can not be set up; 1 when
// the init can not set itself up (prctl refused). Each failure is logged.
func (s *Supervisor) Run() int {
	s.pid1 = s.self == 1
	if s.Signals.Partial != "" {
		s.log.verbosef("%s", s.Signals.Partial)
	}
	if err := s.setup(); err != nil {
		s.log.errorf("%v", err)
		return 1
	}
	pid, err := Start(s.cfg.Argv, s.Signals)
	if err != nil {
		s.log.errorf("%v", err)
		var se *StartError
		if errors.As(err, &se) {
			return se.Code
		}
		return 126
	}
	s.child, s.pgid = pid, pid
	if s.AfterStart != nil {
		s.AfterStart()
	}
	s.names[pid] = strings.Join(s.cfg.Argv, " ")
	if s.Signals.Ignore != 0 {
		s.log.debugf("started pid %d: %s (through the handoff, to keep ignored signals %#x)", pid, s.names[pid], s.Signals.Ignore)
	} else {
		s.log.debugf("started pid %d: %s", pid, s.names[pid])
	}
	return s.loop()
}

// loop is the event loop of the package documentation.
func (s *Supervisor) loop() int {
	// One timer for the current phase's deadline, re-armed on each change
	// of phase. Since Go 1.23 Stop and Reset also discard a firing that was
	// not received yet, so the deadline of a phase already left can not end
	// the next one. A deadline already past (Reset with a negative
	// duration) fires at once.
	timer := time.NewTimer(0)
	timer.Stop()
	armed := s.phase
	var now time.Time
	for s.phase != done {
		select {
		case sig := <-s.sigs:
			now = time.Now()
			s.onSignal(sig, now)
		case <-timer.C:
			now = time.Now()
			s.onDeadline(now)
		}
		// Whatever the event: a SIGCHLD handled above may have reaped the
		// main child, and a deadline or another signal may come while the
		// SIGCHLD of an exit that already happened waits in the channel.
		s.checkExit(now)
		if s.phase != armed {
			armed = s.phase
			if at, ok := s.clock.deadline(s.phase); ok {
				timer.Reset(time.Until(at))
			} else {
				timer.Stop()
			}
		}
	}
	return s.finish(now)
}

// onSignal handles one signal received.
func (s *Supervisor) onSignal(sig os.Signal, now time.Time) {
	ss, _ := sig.(syscall.Signal)
	switch ss {
	case syscall.SIGCHLD:
		s.reap(now)
	case syscall.SIGURG:
		// The Go runtime sends itself SIGURG to preempt goroutines, and
		// signal.Notify can not tell those from one a process sent.
	case contract.MarkSignal:
		// Never forwarded: the app has nothing to do with it, and a
		// realtime signal's default action is to terminate.
		s.onMark(now)
	case s.stopOn:
		s.onStopSignal(now)
	default:
		s.forward(ss)
	}
}

// onStopSignal handles the stop signal in each phase.
func (s *Supervisor) onStopSignal(now time.Time) {
	switch s.phase {
	case running:
		s.signalled = true
		why := "signal " + flags.SignalName(s.stopOn) + " received"
		if s.clock.marked() {
			why += fmt.Sprintf(" %.3fs after the termination mark", s.clock.since(now).Seconds())
		}
		s.startClock(now, why)
		if s.clock.hold > 0 {
			s.holdStop()
			return
		}
		s.stopAll(now)
	case draining:
		// A repeat while the signal is held back: it goes out once, when
		// the drain delay ends (or the main child exits).
	case stopping, killing, overdue:
		// A repeat (a second kubectl delete, a second ^C): sent again to
		// everyone, processes started since the first included.
		s.log.infof("signal %s received again", flags.SignalName(s.stopOn))
		s.forwardStop(now)
	}
}

// onDeadline ends the phase whose deadline came.
func (s *Supervisor) onDeadline(now time.Time) {
	switch s.phase {
	case draining:
		s.stopAll(now)
	case stopping:
		if s.cfg.NoKill {
			s.leaveRunning(now)
			return
		}
		s.killAll(now)
	}
}

// onMark records the termination mark: the preStop hook started, and with
// it the kubelet's grace period. Nothing is sent: the hook is doing what the
// app needs before the stop signal (or nothing, or sleeping), and the stop
// signal follows when it is done. A mark after the first, or once the
// shutdown started, says nothing new and is ignored.
func (s *Supervisor) onMark(now time.Time) {
	switch {
	case s.clock.marked():
		s.log.infof("termination mark received again: ignored")
	case s.phase != running:
		s.log.infof("termination mark received after the shutdown started: ignored")
	default:
		s.clock.markAt(now)
		s.log.infof("termination mark received (preStop hook): grace period %v counts from now, SIGKILL at +%v or, if the hook uses the grace period up, %v after the stop signal",
			s.cfg.GracePeriod, s.clock.markedKill().Sub(now).Round(time.Millisecond), Budget(contract.StopFloor))
		s.rep.add(0, "termination started: preStop hook's mark")
	}
}

// checkExit runs after every event. Once the main child has exited, it ends
// the run when no child is left, and otherwise makes sure the rest has been
// told to stop.
func (s *Supervisor) checkExit(now time.Time) {
	if !s.exited || s.phase == done {
		return
	}
	if s.allGone(now) {
		s.phase = done
		return
	}
	if s.phase == running || s.phase == draining {
		s.mainExited(now)
	}
}

// holdStop: running → draining. The clock runs; the stop signal waits for
// the drain delay so that endpoints and load balancers stop sending traffic
// first, while other signals are still forwarded.
func (s *Supervisor) holdStop() {
	s.phase = draining
	if s.clock.hold < s.cfg.DrainDelay {
		s.log.infof("drain delay %v capped at %v, half of the %v until the SIGKILL", s.cfg.DrainDelay, s.clock.hold, s.clock.left().Round(time.Millisecond))
	}
	s.log.infof("holding %s back for %v (drain delay)", flags.SignalName(s.stopOn), s.clock.hold)
}

// stopAll: running or draining → stopping. The stop signal goes to the group
// and to every process that left it.
func (s *Supervisor) stopAll(now time.Time) {
	s.phase = stopping
	s.forwardStop(now)
}

// mainExited: running or draining → stopping, when the main child exited and
// other processes run: they are told to stop too, and the clock starts now if
// no stop signal started it.
func (s *Supervisor) mainExited(now time.Time) {
	if !s.clock.started() {
		s.startClock(now, fmt.Sprintf("main process %d exited (%s)", s.child, describe(s.status)))
	}
	s.stopAll(now)
}

// killAll: stopping → killing. Everything left is SIGKILLed and named.
// Killing has no deadline: SIGKILL can not be refused, so what is left only
// has to be reaped (a process in uninterruptible sleep ends when its system
// call does, which the kubelet's own SIGKILL could not hasten either).
func (s *Supervisor) killAll(now time.Time) {
	s.phase = killing
	for _, p := range s.others() {
		if s.sys.kill(p.PID, unix.SIGKILL) == nil {
			s.killed++
			s.log.infof("budget spent: SIGKILL pid %d (%s)", p.PID, s.name(p.PID))
			s.rep.add(s.clock.since(now), "%s", contract.ReportKill(p.PID, s.name(p.PID)))
		}
	}
}

// leaveRunning: stopping → overdue, with --kill=false. What is left is named
// and keeps running: the pod's deletes or evictions may come with a longer
// grace period than the one the init was given, which nothing inside the
// container can see, and then the kubelet decides. Overdue has no deadline.
func (s *Supervisor) leaveRunning(now time.Time) {
	s.phase = overdue
	var left []string
	for _, p := range s.others() {
		left = append(left, fmt.Sprintf("pid %d (%s)", p.PID, s.name(p.PID)))
	}
	s.log.infof("budget spent, SIGKILL is off (--kill=false); still running: %s", orNone(left))
	s.rep.add(s.clock.since(now), "budget spent, SIGKILL off (--kill=false); still running: %s", orNone(left))
}

func (s *Supervisor) setup() error {
	if s.cfg.ParentDeath != 0 {
		if err := unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(s.cfg.ParentDeath), 0, 0, 0); err != nil {
			return fmt.Errorf("set parent-death signal: %w", err)
		}
	}
	if !s.pid1 {
		// Not PID 1 (hostPID or shareProcessNamespace pods, or run by hand):
		// become a subreaper so that orphans of the command are reparented
		// to us, not to a PID 1 that neither signals nor waits for them.
		if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
			return fmt.Errorf("become subreaper: %w", err)
		}
		s.log.debugf("running as pid %d: subreaper", s.self)
	}
	return nil
}

func (s *Supervisor) startClock(now time.Time, why string) {
	s.clock.startAt(now)
	kill := s.clock.killAt().Sub(now).Round(time.Millisecond)
	floor := ""
	if s.clock.floored() {
		floor = fmt.Sprintf(" (the hook used the grace period: the kubelet's %v floor less the margin)", contract.StopFloor)
	}
	s.log.infof("%s: shutdown started, grace period %v, SIGKILL at +%v%s", why, s.cfg.GracePeriod, kill, floor)
	s.rep.add(s.clock.since(now), "%s; SIGKILL due at +%.3fs%s", why, s.clock.since(s.clock.killAt()).Seconds(), floor)
	if s.clock.hold > 0 {
		s.rep.add(s.clock.since(now), "%s held back %v (drain delay)", flags.SignalName(s.stopOn), s.clock.hold)
	}
}

// forward sends sig (mapped) to the child's process group.
func (s *Supervisor) forward(sig syscall.Signal) {
	to := s.cfg.Map(sig)
	err := s.sys.kill(-s.pgid, to)
	// ESRCH: the group is empty (its processes exited, their SIGCHLD not
	// handled yet); nothing was lost.
	if err != nil && !errors.Is(err, unix.ESRCH) {
		s.log.errorf("forward %s to group %d: %v", signame(to), s.pgid, err)
		return
	}
	s.log.verbosef("signal %s received, %s forwarded to group %d", flags.SignalName(sig), signame(to), s.pgid)
}

// forwardStop sends the mapped stop signal to the group and to every process
// that left it.
func (s *Supervisor) forwardStop(now time.Time) {
	to := s.cfg.Map(s.stopOn)
	// Listed before the group is signalled: the log then counts the group's
	// processes that the signal is about to end.
	procs := s.others()
	_ = s.sys.kill(-s.pgid, to)
	inGroup, left := 0, 0
	var leftNames []string
	for _, p := range procs {
		if p.Pgrp == s.pgid {
			inGroup++
			continue
		}
		if s.sys.kill(p.PID, to) == nil {
			left++
			leftNames = append(leftNames, fmt.Sprintf("%d (%s)", p.PID, s.name(p.PID)))
		}
	}
	msg := fmt.Sprintf("%s forwarded to %d processes: %d in group %d", signame(to), inGroup+left, inGroup, s.pgid)
	if left > 0 {
		msg += fmt.Sprintf(", %d that left it: %s", left, strings.Join(leftNames, ", "))
	}
	s.log.infof("%s", msg)
	s.rep.add(s.clock.since(now), "%s", msg)
}

// others lists the processes this init is responsible for, except itself:
// every process of the PID namespace as PID 1, else its descendants.
// Callers signal them at once; a pid that is freed and handed out again in
// between is a risk taken, as by every init that reads /proc: the kernel
// hands pids out in turn, so reuse within microseconds needs the whole pid
// range to wrap.
func (s *Supervisor) others() []Process {
	all, err := s.procs.List()
	if err != nil {
		s.log.errorf("list processes: %v", err)
		return nil
	}
	var out []Process
	if s.pid1 {
		for _, p := range all {
			if p.PID != s.self && p.State != 'Z' {
				out = append(out, p)
			}
		}
	} else {
		out = Descendants(all, s.self)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].PID < out[j].PID })
	for _, p := range out {
		if _, ok := s.names[p.PID]; !ok {
			s.names[p.PID] = s.procs.Cmdline(p.PID)
		}
	}
	return out
}

func (s *Supervisor) name(pid int) string {
	if n, ok := s.names[pid]; ok && n != "" {
		return n
	}
	if n := s.procs.Cmdline(pid); n != "" {
		s.names[pid] = n
		return n
	}
	return "?"
}

// reap collects every child that has exited. One SIGCHLD may stand for many
// exits (the kernel keeps one pending SIGCHLD, not one an exit), so it loops
// until wait4 has nothing more.
func (s *Supervisor) reap(now time.Time) {
	for {
		var ws unix.WaitStatus
		pid, err := s.sys.reap(&ws)
		if err == unix.EINTR {
			continue
		}
		if pid <= 0 {
			return
		}
		s.reaped(pid, ws, now)
	}
}

func (s *Supervisor) reaped(pid int, ws unix.WaitStatus, now time.Time) {
	name, known := s.names[pid]
	if known {
		delete(s.names, pid)
	}
	// From the mark on, every exit is part of the termination; it goes into
	// the report only when there is one to write (the reap loop is hot with
	// many orphans).
	stopping := s.clock.begun()
	if stopping && s.cfg.TerminationLog != "" {
		s.rep.exited(s.clock.since(now), "pid %d exited (%s): %s", pid, describe(ws), orUnknown(name))
	}
	switch {
	case pid == s.child && !stopping:
		s.exited, s.status = true, ws
		s.log.verbosef("main process %d exited (%s)", pid, describe(ws))
	case pid == s.child:
		s.exited, s.status = true, ws
		s.log.infof("main process %d exited (%s)%s", pid, describe(ws), s.sinceStop(now))
	case s.cfg.WarnZombies:
		s.log.infof("reaped zombie pid %d (%s)%s", pid, describe(ws), s.sinceStop(now))
	case stopping:
		s.log.infof("pid %d (%s) exited (%s)%s", pid, orUnknown(name), describe(ws), s.sinceStop(now))
	case s.log.level >= levelDebug:
		// Guarded: formatting every reaped orphan would slow reaping down.
		s.log.debugf("reaped pid %d (%s)", pid, describe(ws))
	}
}

// allGone reports whether no child is left to wait for, reaping what exited
// meanwhile. Orphans are reparented to the init (PID 1 or subreaper), so
// ECHILD means every process it is responsible for is gone.
func (s *Supervisor) allGone(now time.Time) bool {
	for {
		var ws unix.WaitStatus
		pid, err := s.sys.reap(&ws)
		switch {
		case err == unix.EINTR:
			continue
		case errors.Is(err, unix.ECHILD):
			return true
		case pid > 0:
			s.reaped(pid, ws, now)
			continue
		}
		return false
	}
}

// finish ends the run: it works out the exit code, logs it, and writes the
// report when one is due.
func (s *Supervisor) finish(now time.Time) int {
	code := s.exitCode(now)
	fromOutside := s.clock.marked() || s.signalled
	if s.cfg.TerminationLog == "" || !fromOutside {
		// No report for a container that ended by itself: with
		// terminationMessagePolicy FallbackToLogsOnError the kubelet then
		// shows the end of its log, which says more about a crash.
		return code
	}
	s.rep.add(s.clock.since(now), "%s", contract.ReportExit(code, s.child, describe(s.status), ExitCode(s.status), s.killed))
	err := writeReport(s.cfg.TerminationLog, s.rep.text(contract.TerminationLogLimit))
	switch {
	case errors.Is(err, errNotEmpty):
		s.log.infof("termination log %s holds a message already (%v): the shutdown report is not written", s.cfg.TerminationLog, err)
	case err != nil:
		s.log.errorf("write the shutdown report: %v", err)
	default:
		s.log.verbosef("shutdown report written to %s", s.cfg.TerminationLog)
	}
	return code
}

func (s *Supervisor) exitCode(now time.Time) int {
	code := ExitCode(s.status)
	if s.cfg.RemapExit[code] {
		s.log.verbosef("exit code %d remapped to 0 (-e)", code)
		return 0
	}
	if s.clock.started() {
		s.log.infof("all processes gone %s, exiting %d", strings.TrimPrefix(s.sinceStop(now), " "), code)
	}
	return code
}

// sinceStop is " +S.SSs", the termination's age at now (from the mark, else
// from the shutdown's start), for log lines; "" before either.
func (s *Supervisor) sinceStop(now time.Time) string {
	if !s.clock.begun() {
		return ""
	}
	return fmt.Sprintf(" +%.2fs", s.clock.since(now).Seconds())
}

// ExitCode is a wait status as a shell reports it: the exit code, or
// 128+N for a process killed by signal N.
func ExitCode(ws unix.WaitStatus) int {
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}

func describe(ws unix.WaitStatus) string {
	if ws.Signaled() {
		return "killed by " + signame(ws.Signal())
	}
	return fmt.Sprintf("code %d", ws.ExitStatus())
}

func signame(s syscall.Signal) string { return "SIG" + flags.SignalName(s) }

func orNone(s []string) string {
	if len(s) == 0 {
		return "nothing"
	}
	return strings.Join(s, ", ")
}

func orUnknown(s string) string {
	if s == "" {
		return "?"
	}
	return s
}
