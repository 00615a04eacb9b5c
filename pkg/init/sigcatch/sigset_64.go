//go:build linux && (amd64 || arm64 || ppc64le || s390x)

package sigcatch

import "golang.org/x/sys/unix"

// sigsetBits returns signals 1-64 of s, bit N-1 for signal N.
func sigsetBits(s unix.Sigset_t) uint64 { return s.Val[0] }

// sigsetOf is the set of signals 1-64 in bits (bit N-1 for signal N).
func sigsetOf(bits uint64) unix.Sigset_t {
	var s unix.Sigset_t
	s.Val[0] = bits
	return s
}
