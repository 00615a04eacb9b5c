// Package sigcatch starts catching signals as early as a Go program can:
// in its package initializer, before main runs.
//
// Why: as PID 1 of a PID namespace, a signal that arrives before
// signal.Notify is called meets the Go runtime's default handler, which
// re-raises it with the default action. The kernel drops default-action
// signals sent to a namespace's init, so the runtime then exits with code 2:
// the kubelet's SIGTERM would be lost and the container would stop with the
// wrong code. Catching from a package initialiser shrinks that window to the
// runtime's own start-up and the few initialisers that run before this one
// (every package initialiser runs before main; see cmd/init); signals caught
// here wait in C until the supervisor reads them.
//
// Signals inherited as ignored are respected: the Go runtime keeps the
// inherited SIG_IGN of SIGHUP and SIGINT (the ones shells set for background
// jobs and nohup), and those stay ignored, uncaught and so ignored in the
// child as well. Every other signal inherited as ignored is handled by the
// runtime all the same and would reach a forked child as SIG_DFL: the child
// then starts through the handoff (see HandoffArg), which ignores them again
// before it execs. The blocked mask is read back with InitialMask.
//
// Finding those signals and the mask takes the build tag graceful_linkname
// and the linker flag -checklinkname=0 (they read the runtime's records, see
// inherit_linkname.go); the Makefile, the Dockerfile, the scripts and the
// tests build the init that way. Without the tag the package builds with no
// flags and passes on only what the runtime keeps (see Partial).
package sigcatch

import (
	"os"
	"os/signal"
	"slices"
	"syscall"

	"github.com/graceful-dev/graceful/pkg/contract"
)

// C receives every signal the process gets, from the moment the package is
// initialised. It is buffered; the runtime drops signals when it is full,
// which only matters for SIGCHLD, and the reaper loops until nothing is left.
var C = make(chan os.Signal, 256)

// Ignored lists the signals the process was started with ignored and that
// are therefore not caught.
var Ignored []syscall.Signal

// early are the signals caught from the package initialiser: those the Go
// runtime answers by exiting when nobody catches them (HUP, INT, TERM; QUIT,
// ABRT, SYS with a stack dump), SIGCHLD for the reaper, and the ones people
// send to running containers (USR1, USR2, WINCH), which must not be lost
// while the child starts. The runtime drops the others (ALRM, PIPE, CONT,
// TSTP, ...) until they are caught, so CatchRest adds them once the child
// runs: catching a signal costs a round trip to the runtime's signal thread
// (~70 µs on a loaded 2-vCPU VM), and catching all 29 up front tripled
// startup.
var early = []syscall.Signal{syscall.SIGHUP, syscall.SIGINT, syscall.SIGTERM, syscall.SIGQUIT, syscall.SIGABRT, syscall.SIGSYS, syscall.SIGCHLD, syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGWINCH}

func init() {
	if len(os.Args) > 1 && os.Args[1] == HandoffArg {
		handoff(os.Args[2:]) // never returns
	}
	for _, s := range []syscall.Signal{syscall.SIGHUP, syscall.SIGINT} {
		if signal.Ignored(s) {
			Ignored = append(Ignored, s)
		}
	}
	notify(func(s syscall.Signal) bool { return slices.Contains(early, s) })
}

// CatchRest starts catching every other catchable signal below 32, and the
// termination mark (contract.MarkSignal). Call it once the child runs (it
// takes a few milliseconds); until then those signals are dropped, not
// forwarded. The mark can wait too: a preStop hook runs in a container that
// has been running. Other realtime signals are not caught (Catch them).
func CatchRest() {
	notify(func(s syscall.Signal) bool { return !slices.Contains(early, s) })
	signal.Notify(C, contract.MarkSignal)
}

// Early reports whether s is caught from the package initialiser.
func Early(s syscall.Signal) bool { return slices.Contains(early, s) }

// Catch starts catching sig now, for a stop signal outside the early set
// (one below 32 that CatchRest would catch too late, or a realtime one,
// which the Go runtime drops while nobody catches it). A signal inherited
// ignored stays ignored, as in the early set.
func Catch(sig syscall.Signal) {
	if !isIgnored(sig) {
		signal.Notify(C, sig)
	}
}

func notify(want func(syscall.Signal) bool) {
	// SIGTERM first: Notify marks each signal wanted and then waits for the
	// runtime's signal thread, one signal at a time (the first wait also
	// starts that thread), and until SIGTERM is marked a SIGTERM makes the
	// runtime exit 2 as PID 1. First in the list, it is marked ~0.3 ms sooner.
	var catch []os.Signal
	if want(syscall.SIGTERM) {
		catch = append(catch, syscall.SIGTERM)
	}
	for s := syscall.Signal(1); s < 32; s++ {
		switch s {
		case syscall.SIGKILL, syscall.SIGSTOP, syscall.SIGTERM:
			continue
		}
		if isIgnored(s) || !want(s) {
			continue
		}
		catch = append(catch, s)
	}
	signal.Notify(C, catch...)
}

func isIgnored(s syscall.Signal) bool {
	return slices.Contains(Ignored, s)
}
