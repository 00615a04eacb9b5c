// Package sigcatch starts catching signals as early as a Go program can:
// in its package initializer, before main runs.
//
// Why: as PID 1 of a PID namespace, a signal that arrives before
// signal.Notify is called meets the Go runtime's default handler, which
// re-raises it with the default action. The kernel drops default-action
// signals sent to a namespace's init, so the runtime then exits with code 2:
// the kubelet's SIGTERM would be lost and the container would stop with the
// wrong code. Importing this package first shrinks that window to the runtime's
// own start-up; signals caught here wait in C until the supervisor reads them.
//
// Signals inherited as ignored are respected: the Go runtime exposes the
// inherited SIG_IGN of SIGHUP and SIGINT (the ones shells set for background
// jobs and nohup), and those stay ignored, uncaught and so ignored in the
// child as well. The blocked mask needs nothing: the runtime restores it in
// every forked child.
package sigcatch

import (
	"os"
	"os/signal"
	"syscall"
)

// C receives every signal the process gets, from the moment the package is
// initialised. It is buffered; the runtime drops signals when it is full,
// which only matters for SIGCHLD, and the reaper loops until nothing is left.
var C = make(chan os.Signal, 256)

// Ignored lists the signals the process was started with ignored and that
// are therefore not caught.
var Ignored []syscall.Signal

func init() {
	for _, s := range []syscall.Signal{syscall.SIGHUP, syscall.SIGINT} {
		if signal.Ignored(s) {
			Ignored = append(Ignored, s)
		}
	}
	var catch []os.Signal
	for s := syscall.Signal(1); s < 32; s++ {
		switch s {
		case syscall.SIGKILL, syscall.SIGSTOP:
			continue
		}
		if isIgnored(s) {
			continue
		}
		catch = append(catch, s)
	}
	signal.Notify(C, catch...)
}

func isIgnored(s syscall.Signal) bool {
	for _, i := range Ignored {
		if i == s {
			return true
		}
	}
	return false
}
