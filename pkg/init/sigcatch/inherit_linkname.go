//go:build graceful_linkname && linux && (amd64 || arm64 || arm || ppc64le || s390x)

package sigcatch

import (
	"syscall"
	_ "unsafe" // for go:linkname

	"golang.org/x/sys/unix"
)

// The graceful_linkname build reads the signal state the process was started
// with from the Go runtime's own records, the only place left that has it:
// before any Go code runs, the runtime installs its handler for nearly every
// signal (so an inherited SIG_IGN is no longer visible) and unblocks the
// signals it treats as fatal (SIGHUP, SIGINT, SIGQUIT, SIGTERM, ...) on every
// thread it starts (so the inherited mask can not be read back either).
// Linking against unexported runtime variables needs the linker flag
// -checklinkname=0 as well as the tag; a build with the tag and without the
// flag fails at link time instead of silently losing the state. The layouts
// below are those of linux/amd64, arm64, arm, ppc64le and s390x in the Go
// release go.mod names (runtime/signal_unix.go; the start-up mask, whose type
// differs, is in initmask_*.go); TestChildInheritsSignalState (test/init)
// notices when they change.

//go:linkname runtimeFwdSig runtime.fwdSig
var runtimeFwdSig [65]uintptr

//go:linkname runtimeHandlingSig runtime.handlingSig
var runtimeHandlingSig [65]uint32

// Partial is empty: this build passes the whole signal state on.
const Partial = ""

// RestoreInChild returns the signals (bit N-1 for signal N) that the process
// was started with ignored but that the Go runtime now handles, and that a
// forked child would therefore start with at their default action.
// Signals the runtime left alone (SIGHUP and SIGINT when inherited ignored,
// and those it has no handler for) are inherited by the child as they are.
func RestoreInChild() uint64 {
	var set uint64
	for s := 1; s < len(runtimeFwdSig); s++ {
		if s == int(syscall.SIGKILL) || s == int(syscall.SIGSTOP) {
			continue
		}
		if runtimeFwdSig[s] == sigIgn && runtimeHandlingSig[s] != 0 {
			set |= 1 << (s - 1)
		}
	}
	return set
}

// InitialMask returns the signal mask the process was started with.
func InitialMask() unix.Sigset_t {
	return sigsetOf(initialMaskBits())
}
