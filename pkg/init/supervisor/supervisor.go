// Package supervisor is graceful-init's main loop: PID 1 (or a subreaper) of
// a container, which starts one command and sees the whole container through
// its shutdown.
//
// Contract (DESIGN.md, "graceful-init"):
//  1. The command runs as a child in its own process group; with a terminal on
//     stdin that group becomes the foreground group. It starts with the signal
//     mask and the ignored signals the init was started with (ChildSignals;
//     see package sigcatch for the handoff re-exec that restores them).
//  2. Every signal received, except SIGCHLD, SIGKILL/SIGSTOP (uncatchable) and
//     SIGURG (the Go runtime's preemption signal, indistinguishable from a sent
//     one), is forwarded to the child's process group after --signal-map.
//  3. The stop signal is SIGTERM. When it arrives the shutdown clock starts;
//     after --drain-delay it is forwarded (mapped) to the group and to every
//     process that left the group: as PID 1 every other process of the PID
//     namespace, otherwise every descendant (the init is then a subreaper).
//  4. One waiter: a wait4(-1) loop reaps every child and takes the main child's
//     status from the same loop, so no status is ever lost.
//  5. When the main child exits, whatever still runs gets the (mapped) SIGTERM
//     and the init waits for it; the shutdown clock starts then if it had not.
//  6. At clock start + Budget(grace period) everything left is SIGKILLed and
//     named in the log, so that the kubelet never has to.
//  7. The exit code is the main child's (128+N when killed by signal N), 0 for
//     codes listed with -e.
//  8. Each event is one line on stderr.
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
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/graceful-dev/graceful/pkg/contract"
	"github.com/graceful-dev/graceful/pkg/init/flags"
)

// Budget is how long after the stop signal the init lets processes run
// before it SIGKILLs them (contract.ShutdownBudget: the grace period less a
// margin of 10%, within 500 ms to 2 s, at most half).
func Budget(grace time.Duration) time.Duration { return contract.ShutdownBudget(grace) }

// DrainFor is how long the stop signal is held back: the drain delay, capped
// at half the budget so that the app keeps time to shut down.
func DrainFor(drain, budget time.Duration) time.Duration {
	return min(drain, budget/2)
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
	pid1  bool
	self  int

	child     int
	pgid      int
	exited    bool
	status    unix.WaitStatus
	stopped   bool // the shutdown clock runs
	stopAt    time.Time
	forwarded bool // the stop signal went to everyone
	names     map[int]string
}

// New prepares a supervisor for cfg that reads signals from sigs and logs to w.
func New(cfg *flags.Config, sigs <-chan os.Signal, w io.Writer) *Supervisor {
	return &Supervisor{
		cfg:   cfg,
		sigs:  sigs,
		log:   newLogger(w, cfg.Verbosity),
		procs: ProcFS{Root: "/proc"},
		self:  os.Getpid(),
		names: map[int]string{},
	}
}

// Run starts the command and supervises it; it returns the exit code.
// Setup errors (the command can not be started) return 126/127 after a log line.
func (s *Supervisor) Run() int {
	s.pid1 = s.self == 1
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

	var drainC, killC <-chan time.Time
	for {
		select {
		case sig := <-s.sigs:
			ss, _ := sig.(syscall.Signal)
			switch ss {
			case syscall.SIGCHLD:
				s.reap()
			case syscall.SIGURG:
			case syscall.SIGTERM:
				if !s.stopped {
					s.startClock("signal TERM received")
					killC = time.After(Budget(s.cfg.GracePeriod))
					if d := DrainFor(s.cfg.DrainDelay, Budget(s.cfg.GracePeriod)); d > 0 {
						if d < s.cfg.DrainDelay {
							s.log.infof("drain delay %v capped at %v, half of the %v budget", s.cfg.DrainDelay, d, Budget(s.cfg.GracePeriod))
						}
						s.log.infof("holding TERM back for %v (drain delay)", d)
						drainC = time.After(d)
						continue
					}
				} else if !s.forwarded {
					continue // still draining: the stop signal goes out when the delay ends
				} else {
					s.log.infof("signal TERM received again")
				}
				s.forwardStop()
			default:
				s.forward(ss)
			}
		case <-drainC:
			drainC = nil
			if !s.forwarded {
				s.forwardStop()
			}
		case <-killC:
			killC = nil
			s.killAll()
		}
		if s.exited && !s.forwarded {
			if s.allGone() {
				return s.exitCode()
			}
			// The main child is gone but others run: they are told to stop too.
			if !s.stopped {
				s.startClock(fmt.Sprintf("main process %d exited (%s)", s.child, describe(s.status)))
				killC = time.After(Budget(s.cfg.GracePeriod))
			}
			drainC = nil
			s.forwardStop()
		}
		if s.exited && s.allGone() {
			return s.exitCode()
		}
	}
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

func (s *Supervisor) startClock(why string) {
	s.stopped = true
	s.stopAt = time.Now()
	s.log.infof("%s: shutdown started, grace period %v, SIGKILL at +%v", why, s.cfg.GracePeriod, Budget(s.cfg.GracePeriod).Round(time.Millisecond))
}

// forward sends sig (mapped) to the child's process group.
func (s *Supervisor) forward(sig syscall.Signal) {
	to := s.cfg.Map(sig)
	err := unix.Kill(-s.pgid, to)
	if err != nil && !errors.Is(err, unix.ESRCH) {
		s.log.errorf("forward %s to group %d: %v", signame(to), s.pgid, err)
		return
	}
	s.log.verbosef("signal %s received, %s forwarded to group %d", flags.SignalName(sig), signame(to), s.pgid)
}

// forwardStop sends the mapped stop signal to the group and to every process
// that left it.
func (s *Supervisor) forwardStop() {
	s.forwarded = true
	to := s.cfg.StopSignal()
	procs := s.others()
	_ = unix.Kill(-s.pgid, to)
	inGroup, left := 0, 0
	var leftNames []string
	for _, p := range procs {
		if p.Pgrp == s.pgid {
			inGroup++
			continue
		}
		if unix.Kill(p.PID, to) == nil {
			left++
			leftNames = append(leftNames, fmt.Sprintf("%d (%s)", p.PID, s.name(p.PID)))
		}
	}
	msg := fmt.Sprintf("%s forwarded to %d processes: %d in group %d", signame(to), inGroup+left, inGroup, s.pgid)
	if left > 0 {
		msg += fmt.Sprintf(", %d that left it: %s", left, strings.Join(leftNames, ", "))
	}
	s.log.infof("%s", msg)
}

// killAll SIGKILLs everything left, naming each process.
func (s *Supervisor) killAll() {
	procs := s.others()
	if len(procs) == 0 {
		return
	}
	for _, p := range procs {
		if unix.Kill(p.PID, unix.SIGKILL) == nil {
			s.log.infof("budget spent: SIGKILL pid %d (%s)", p.PID, s.name(p.PID))
		}
	}
}

// others lists the processes this init is responsible for, except itself:
// every process of the PID namespace as PID 1, else its descendants.
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

// reap collects every child that has exited.
func (s *Supervisor) reap() {
	for {
		var ws unix.WaitStatus
		pid, err := wait4NoHang(&ws)
		if err == unix.EINTR {
			continue
		}
		if pid <= 0 {
			return
		}
		s.reaped(pid, ws)
	}
}

// wait4NoHang is wait4(-1, ws, WNOHANG). It never blocks, so it skips the Go
// scheduler's syscall bookkeeping (RawSyscall): reaping 10,000 orphans calls
// it 10,000 times.
func wait4NoHang(ws *unix.WaitStatus) (int, error) {
	r, _, e := unix.RawSyscall6(unix.SYS_WAIT4, ^uintptr(0), uintptr(unsafe.Pointer(ws)), unix.WNOHANG, 0, 0, 0)
	if e != 0 {
		return int(r), e
	}
	return int(r), nil
}

func (s *Supervisor) reaped(pid int, ws unix.WaitStatus) {
	name, known := s.names[pid]
	if known {
		delete(s.names, pid)
	}
	switch {
	case pid == s.child && !s.stopped:
		s.exited, s.status = true, ws
		s.log.verbosef("main process %d exited (%s)", pid, describe(ws))
	case pid == s.child:
		s.exited, s.status = true, ws
		s.log.infof("main process %d exited (%s)%s", pid, describe(ws), s.sinceStop())
	case s.cfg.WarnZombies:
		s.log.infof("reaped zombie pid %d (%s)%s", pid, describe(ws), s.sinceStop())
	case s.stopped:
		s.log.infof("pid %d (%s) exited (%s)%s", pid, orUnknown(name), describe(ws), s.sinceStop())
	case s.log.level >= levelDebug:
		// Guarded: formatting every reaped orphan would slow reaping down.
		s.log.debugf("reaped pid %d (%s)", pid, describe(ws))
	}
}

// allGone reports whether no child is left to wait for. Orphans are
// reparented to us (PID 1 or subreaper), so ECHILD means all are gone.
func (s *Supervisor) allGone() bool {
	for {
		var ws unix.WaitStatus
		pid, err := wait4NoHang(&ws)
		switch {
		case err == unix.EINTR:
			continue
		case errors.Is(err, unix.ECHILD):
			return true
		case pid > 0:
			s.reaped(pid, ws)
			continue
		}
		return false
	}
}

func (s *Supervisor) exitCode() int {
	code := ExitCode(s.status)
	if s.cfg.RemapExit[code] {
		s.log.verbosef("exit code %d remapped to 0 (-e)", code)
		return 0
	}
	if s.stopped {
		s.log.infof("all processes gone %s, exiting %d", strings.TrimPrefix(s.sinceStop(), " "), code)
	}
	return code
}

func (s *Supervisor) sinceStop() string {
	if !s.stopped {
		return ""
	}
	return fmt.Sprintf(" +%.2fs", time.Since(s.stopAt).Seconds())
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

func orUnknown(s string) string {
	if s == "" {
		return "?"
	}
	return s
}
