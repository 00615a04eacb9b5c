//go:build !graceful_linkname

package sigcatch

import "golang.org/x/sys/unix"

// The plain build (no graceful_linkname tag) can not see the signal state the
// process was started with beyond what the Go runtime keeps: an inherited
// SIG_IGN of SIGHUP or SIGINT, which the runtime leaves in place and this
// package leaves uncaught. Every other inherited ignore is replaced by the
// runtime's handler before any Go code runs, and the inherited mask is
// unblocked on every thread, so neither can be read back. Rather than guess,
// the child starts with an empty mask and default dispositions for the rest.
// It builds with no flags, so `go build ./...` works on a fresh checkout;
// every binary the project ships or tests is the graceful_linkname build.

// Partial says what this build does not pass on and how to build one that
// does; the supervisor logs it once at start, at -v.
const Partial = "this build inherits only what the Go runtime keeps of the signal state it was started with " +
	"(an ignored SIGHUP or SIGINT; the command starts with an empty signal mask): " +
	"build with -tags graceful_linkname -ldflags=-checklinkname=0 to pass all of it on"

// RestoreInChild returns 0: which other signals were inherited ignored is not
// known, so the child is always forked directly, without the handoff.
func RestoreInChild() uint64 { return 0 }

// InitialMask returns an empty mask: the one the process was started with is
// not known.
func InitialMask() unix.Sigset_t { return unix.Sigset_t{} }
