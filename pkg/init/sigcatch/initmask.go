//go:build linux && (amd64 || arm64)

package sigcatch

import (
	_ "unsafe" // for go:linkname

	"golang.org/x/sys/unix"
)

// runtimeInitSigmask is the signal mask the process was started with, as the
// Go runtime recorded it before anything else ran (runtime.initSigmask, a
// sigset of two 32-bit words on linux/amd64 and arm64).
//
// Why a linkname: the runtime unblocks the signals it treats as fatal
// (SIGHUP, SIGINT, SIGQUIT, SIGTERM, ...) on every thread it starts, before
// any user code runs, so the inherited mask can not be read back from any
// thread. The child must still start with it (DESIGN.md, behaviour 1).
// Linking against an unexported runtime variable needs the linker flag
// -checklinkname=0; the Makefile, the Dockerfile and the tests pass it, and a
// build without it fails at link time instead of silently losing the mask.
//
//go:linkname runtimeInitSigmask runtime.initSigmask
var runtimeInitSigmask [2]uint32

// InitialMask returns the signal mask the process was started with.
func InitialMask() unix.Sigset_t {
	var s unix.Sigset_t
	s.Val[0] = uint64(runtimeInitSigmask[0]) | uint64(runtimeInitSigmask[1])<<32
	return s
}
