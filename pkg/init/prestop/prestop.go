//go:build linux && (amd64 || arm64 || arm || ppc64le || s390x)

// Package prestop is `graceful-init prestop`, the preStop hook the webhook
// puts in place of a wrapped container's own: it tells the container's
// graceful-init that termination started (the mark) and then does what the
// container's hook did.
//
// Contract:
//  1. The mark is contract.MarkSignal, sent to the graceful-init that
//     supervises this container (findInit); the init records when it came
//     and forwards nothing.
//  2. Then the hook: nothing; --sleep D; --http-get URL, from inside the
//     container, with the kubelet's rules (an empty host is the pod's IP;
//     same-host redirects are followed; only a failed request fails the
//     hook, never a status code); or -- CMD,
//     exec'd in place with the same argv and environment, so its status is
//     the hook's.
//  3. A mark that can not be sent is said on stderr and the hook runs all the
//     same. With no hook of the container's own, the mark was all there was
//     to do, and the exit status says whether it worked, so that the
//     kubelet records a failure as an event. Otherwise the status is the
//     hook's: graceful must not make a working hook fail.
//  4. The hook is bounded by the kubelet (the grace period), not here.
package prestop

import (
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/graceful-dev/graceful/pkg/init/flags"
	"github.com/graceful-dev/graceful/pkg/init/sigcatch"
	"github.com/graceful-dev/graceful/pkg/init/supervisor"
)

// Run marks the termination and runs h; it returns the hook's exit status
// (and does not return when h execs a command).
func Run(h flags.PreStop, stderr io.Writer) int {
	p := procs{root: "/proc", self: os.Getpid()}
	_, err := p.mark()
	if err != nil {
		fmt.Fprintf(stderr, "graceful-init prestop: termination not marked: %v; graceful-init then counts the shutdown from the stop signal\n", err)
	}
	switch h.Action {
	case flags.PreStopSleep:
		time.Sleep(h.Sleep)
	case flags.PreStopGet:
		if err := get(h.URL, h.Headers, podIP); err != nil {
			fmt.Fprintf(stderr, "graceful-init prestop: %v\n", err)
			return 1
		}
	case flags.PreStopExec:
		return execHook(h.Argv, stderr)
	default:
		if err != nil {
			return 1
		}
	}
	return 0
}

// execHook replaces the process with argv, found as execvp(3) would find it
// (the runtime's exec does the same), with the signal state the hook was
// started with. It returns only on failure: 127 not found, 126 otherwise.
func execHook(argv []string, stderr io.Writer) int {
	path, err := supervisor.LookPath(argv[0])
	if se := (*supervisor.StartError)(nil); errors.As(err, &se) {
		fmt.Fprintf(stderr, "graceful-init prestop: %v\n", se)
		return se.Code
	}
	code, err := sigcatch.ExecRestored(path, argv)
	fmt.Fprintf(stderr, "graceful-init prestop: %v\n", err)
	return code
}
