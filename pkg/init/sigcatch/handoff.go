//go:build linux && (amd64 || arm64 || arm || ppc64le || s390x)

package sigcatch

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// HandoffArg, as os.Args[1], makes graceful-init a handoff: a short-lived
// re-exec of its own binary that puts back the signal dispositions the init
// inherited and then execs the command in its place.
//
// Why: after fork, the Go runtime resets every signal it handles to SIG_DFL
// (runtime.clearSignalHandlers) before the child execs, and it handles nearly
// every signal from start-up whether or not the program asked for them. A
// command whose init was started with, say, SIGPIPE or SIGUSR1 ignored would
// therefore start with them at their default action. execve keeps SIG_IGN and
// the blocked mask, so the handoff sets both on its locked thread and execs:
// the command starts with exactly the state the init was started with.
// The init uses the handoff only when such a signal exists (RestoreInChild is
// not zero, which needs the graceful_linkname build); otherwise it forks the
// command directly, which is faster.
//
// Arguments: HandoffArg IGNORED MASK PATH ARGV0 [ARGS...], with IGNORED and
// MASK hexadecimal bit sets (bit N-1 for signal N).
const HandoffArg = "--graceful-internal-handoff"

// sigIgn is SIG_IGN, as a struct sigaction's handler and in runtime.fwdSig.
const sigIgn = 1

// HandoffArgv is the argument vector for the handoff that starts argv (found
// at path) with the signals in ignored set to SIG_IGN and the blocked mask.
func HandoffArgv(ignored uint64, mask unix.Sigset_t, path string, argv []string) []string {
	return append([]string{"graceful-init", HandoffArg,
		strconv.FormatUint(ignored, 16), strconv.FormatUint(sigsetBits(mask), 16), path}, argv...)
}

// sigactiont is the kernel's struct sigaction for rt_sigaction on the
// architectures this file builds for, as the Go runtime declares it
// (runtime/defs_linux_<arch>.go): handler, flags (unsigned long: Go's uint),
// restorer, then a 64-bit mask. That is 32 bytes on the 64-bit ones and 20
// on arm, where the mask is 4-byte aligned at offset 12 (TestSigactionLayout).
// Other architectures order it differently (mips puts flags first) and are
// left out of the build.
type sigactiont struct {
	handler  uintptr
	flags    uint
	restorer uintptr
	mask     uint64
}

// handoff runs in place of the init when os.Args[1] is HandoffArg; it never
// returns. A failed exec exits like a shell: 127 when the file is gone, 126
// otherwise.
func handoff(args []string) {
	if len(args) < 4 {
		handoffFail(2, "handoff: want IGNORED MASK PATH ARGV0 [ARGS...]", nil)
	}
	ignored, err1 := strconv.ParseUint(args[0], 16, 64)
	mask, err2 := strconv.ParseUint(args[1], 16, 64)
	if err := errors.Join(err1, err2); err != nil {
		handoffFail(2, "handoff: bad signal sets", err)
	}
	path, argv := args[2], args[3:]
	code, msg, err := execWith(ignored, mask, path, argv)
	handoffFail(code, "handoff: "+msg, err)
}

// ExecRestored replaces this process with argv (found at path), with the
// signal state the process was started with: what RestoreInChild finds
// ignored is ignored again and the mask is InitialMask, as for a child
// started through the handoff. It returns only on failure, with the exit
// code a shell would give (127 when the file is gone, else 126) and what
// failed.
func ExecRestored(path string, argv []string) (code int, err error) {
	code, msg, err := execWith(RestoreInChild(), sigsetBits(InitialMask()), path, argv)
	return code, fmt.Errorf("%s: %w", msg, err)
}

// execWith sets the signals in ignored to SIG_IGN and the blocked mask,
// and execs path with argv and the environment; it returns only on failure.
func execWith(ignored, mask uint64, path string, argv []string) (code int, msg string, err error) {
	// The mask is per thread and execve keeps the calling thread's: lock
	// this goroutine to the thread that sets the mask and execs.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	for s := 1; s <= 64; s++ {
		if ignored&(1<<(s-1)) == 0 {
			continue
		}
		// A raw sigaction: signal.Ignore skips SIGPROF and only knows the
		// signals the runtime lets programs catch.
		act := sigactiont{handler: sigIgn}
		if _, _, e := unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(s), uintptr(unsafe.Pointer(&act)), 0, 8, 0, 0); e != 0 {
			return 126, "ignore signal " + strconv.Itoa(s), e
		}
	}
	set := sigsetOf(mask)
	if err := unix.PthreadSigmask(unix.SIG_SETMASK, &set, nil); err != nil {
		return 126, "set signal mask", err
	}
	err = syscall.Exec(path, argv, os.Environ())
	code = 126
	if errors.Is(err, syscall.ENOENT) {
		code = 127
	}
	return code, "exec " + strconv.Quote(argv[0]) + " (" + path + ")", err
}

func handoffFail(code int, msg string, err error) {
	if err != nil {
		msg += ": " + err.Error()
	}
	os.Stderr.WriteString("graceful-init: error: " + msg + "\n")
	os.Exit(code)
}
