//go:build graceful_linkname && linux && (amd64 || arm64 || arm || ppc64le)

package sigcatch

import _ "unsafe" // for go:linkname

// runtimeInitSigmask is the mask as the runtime recorded it at start-up: on
// these architectures a sigset of two 32-bit words (runtime/os_linux_generic.go),
// the first for signals 1-32.
//
//go:linkname runtimeInitSigmask runtime.initSigmask
var runtimeInitSigmask [2]uint32

func initialMaskBits() uint64 {
	return uint64(runtimeInitSigmask[0]) | uint64(runtimeInitSigmask[1])<<32
}
