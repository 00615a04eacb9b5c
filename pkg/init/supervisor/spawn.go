package supervisor

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// defaultPath is searched when PATH is unset, as execvp(3) and the kubelet's
// runtimes do.
const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// StartError is a command that could not be started, with the exit code a
// shell would give: 127 not found, 126 found but not executable.
type StartError struct {
	Code int
	Msg  string
}

func (e *StartError) Error() string { return e.Msg }

// ChildSignals is the signal state a command starts with.
type ChildSignals struct {
	// Mask, when not nil, is the blocked signal mask: the one the init itself
	// was started with (sigcatch.InitialMask).
	Mask *unix.Sigset_t
	// Ignore are the signals (bit N-1 for signal N) the command must start
	// ignoring although a forked child gets them at SIG_DFL, because the Go
	// runtime handles them (sigcatch.RestoreInChild).
	Ignore uint64
	// Handoff, used when Ignore is not zero, returns the arguments of a
	// re-exec of this binary that ignores those signals, sets the mask and
	// execs path with argv (sigcatch.HandoffArgv).
	Handoff func(ignore uint64, mask unix.Sigset_t, path string, argv []string) []string
	// Partial, when not empty, says what of the init's signal state the
	// command does not get and how to build an init that passes it all on
	// (sigcatch.Partial); Run logs it once at start, at -v.
	Partial string
}

// selfExe is the running binary, re-executed for the signal handoff.
const selfExe = "/proc/self/exe"

// Start runs argv as a child in a new process group (the foreground group when
// stdin is a terminal) and returns its pid, which is also the group's id.
// The child inherits the environment and stdio, and starts with the signal
// state sig describes: the Go runtime resets the handlers it installed, so
// without sig.Ignore it starts with default dispositions except for the
// signals the runtime left alone (SIGHUP/SIGINT inherited ignored, signals it
// has no handler for).
//
// The Go runtime unblocks some signals on all its threads and a forked child
// inherits the forking thread's mask, so with sig.Mask the fork happens on a
// locked thread that holds that mask for the moment of the fork only.
// With sig.Ignore the child is this binary's handoff, which restores the
// ignored signals and the mask itself and then execs argv (the direct fork
// is kept for the common case because it is a Go runtime start faster).
// A failed exec in the handoff ends it with 127 (not found) or 126, as a
// direct start would report.
func Start(argv []string, sig ChildSignals) (int, error) {
	path, err := lookPath(argv[0])
	if err != nil {
		return 0, err
	}
	if sig.Mask != nil {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		var old unix.Sigset_t
		if err := unix.PthreadSigmask(unix.SIG_SETMASK, sig.Mask, &old); err != nil {
			return 0, fmt.Errorf("set signal mask for the child: %w", err)
		}
		defer unix.PthreadSigmask(unix.SIG_SETMASK, &old, nil) //nolint:errcheck // restoring a mask read a moment ago
	}
	attr := &syscall.SysProcAttr{Setpgid: true}
	if isTerminal(0) {
		attr.Foreground = true
		attr.Ctty = 0
	}
	procAttr := &syscall.ProcAttr{Env: os.Environ(), Files: []uintptr{0, 1, 2}, Sys: attr}
	if sig.Ignore != 0 && sig.Handoff != nil {
		var mask unix.Sigset_t
		if sig.Mask != nil {
			mask = *sig.Mask
		} else if err := unix.PthreadSigmask(unix.SIG_BLOCK, nil, &mask); err != nil {
			return 0, fmt.Errorf("read signal mask for the child: %w", err)
		}
		pid, err := syscall.ForkExec(selfExe, sig.Handoff(sig.Ignore, mask, path, argv), procAttr)
		if err != nil {
			return 0, &StartError{Code: 126, Msg: fmt.Sprintf("exec %q: start it through %s to restore its ignored signals: %v", argv[0], selfExe, err)}
		}
		return pid, nil
	}
	pid, err := syscall.ForkExec(path, argv, procAttr)
	if err != nil {
		return 0, execError(argv[0], path, err)
	}
	return pid, nil
}

func isTerminal(fd int) bool {
	_, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	return err == nil
}

// lookPath finds name like execvp(3), returning errors that name the program
// and the PATH searched.
func lookPath(name string) (string, error) {
	if name == "" {
		return "", &StartError{Code: 127, Msg: "exec: empty command"}
	}
	if strings.Contains(name, "/") {
		if err := executable(name); err != nil {
			return "", execError(name, name, err)
		}
		return name, nil
	}
	pathEnv, set := os.LookupEnv("PATH")
	if !set {
		pathEnv = defaultPath
	}
	var denied error
	for _, dir := range filepath.SplitList(pathEnv) {
		if dir == "" {
			dir = "."
		}
		p := filepath.Join(dir, name)
		err := executable(p)
		if err == nil {
			return p, nil
		}
		if denied == nil && !errors.Is(err, os.ErrNotExist) {
			denied = execError(name, p, err)
		}
	}
	if denied != nil {
		return "", denied
	}
	return "", &StartError{Code: 127, Msg: fmt.Sprintf("exec %q: not found in PATH=%s", name, pathEnv)}
}

// executable checks what execve would: a regular file with an execute bit.
func executable(p string) error {
	fi, err := os.Stat(p)
	if err != nil {
		return err
	}
	if fi.IsDir() {
		return unix.EISDIR
	}
	if fi.Mode()&0o111 == 0 {
		return unix.EACCES
	}
	return nil
}

func execError(name, path string, err error) error {
	code := 126
	var why string
	switch {
	case errors.Is(err, unix.ENOENT):
		code, why = 127, "no such file (or its interpreter is missing)"
	case errors.Is(err, unix.EACCES), errors.Is(err, unix.EPERM):
		why = "permission denied: not executable"
	case errors.Is(err, unix.EISDIR):
		why = "is a directory"
	case errors.Is(err, unix.ENOEXEC):
		why = "exec format error: not a binary or script for this machine"
	default:
		why = err.Error()
	}
	if name == path {
		return &StartError{Code: code, Msg: fmt.Sprintf("exec %q: %s", name, why)}
	}
	return &StartError{Code: code, Msg: fmt.Sprintf("exec %q (%s): %s", name, path, why)}
}

// LookPath finds name as execvp(3) does, searching PATH (defaultPath when
// unset). Its errors are *StartError: 127 not found, 126 not executable.
func LookPath(name string) (string, error) { return lookPath(name) }
