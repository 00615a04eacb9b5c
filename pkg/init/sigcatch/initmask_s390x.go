//go:build graceful_linkname && linux && s390x

package sigcatch

import _ "unsafe" // for go:linkname

// runtimeInitSigmask is the mask as the runtime recorded it at start-up: on
// s390x (as on ppc64, big-endian) one 64-bit word, bit N-1 for signal N
// (runtime/os_linux_be64.go). Read as two 32-bit words, as on the other
// architectures, its halves would come out swapped.
//
//go:linkname runtimeInitSigmask runtime.initSigmask
var runtimeInitSigmask uint64

func initialMaskBits() uint64 { return runtimeInitSigmask }
