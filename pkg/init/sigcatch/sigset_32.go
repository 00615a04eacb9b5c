//go:build linux && arm

package sigcatch

import "golang.org/x/sys/unix"

// On 32-bit architectures unix.Sigset_t is made of 32-bit words: signals 1-32
// in the first, 33-64 in the second.

// sigsetBits returns signals 1-64 of s, bit N-1 for signal N.
func sigsetBits(s unix.Sigset_t) uint64 { return uint64(s.Val[0]) | uint64(s.Val[1])<<32 }

// sigsetOf is the set of signals 1-64 in bits (bit N-1 for signal N).
func sigsetOf(bits uint64) unix.Sigset_t {
	var s unix.Sigset_t
	s.Val[0], s.Val[1] = uint32(bits), uint32(bits>>32)
	return s
}
