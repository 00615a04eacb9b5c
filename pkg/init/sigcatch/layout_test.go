//go:build linux && (amd64 || arm64 || arm || ppc64le || s390x)

package sigcatch

import (
	"runtime"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// TestSigactionLayout: sigactiont is the kernel's struct sigaction for
// rt_sigaction, as runtime/defs_linux_<arch>.go declares it.
func TestSigactionLayout(t *testing.T) {
	want := struct{ size, flags, restorer, mask uintptr }{32, 8, 16, 24}
	if runtime.GOARCH == "arm" {
		want = struct{ size, flags, restorer, mask uintptr }{20, 4, 8, 12}
	}
	var a sigactiont
	got := struct{ size, flags, restorer, mask uintptr }{unsafe.Sizeof(a), unsafe.Offsetof(a.flags), unsafe.Offsetof(a.restorer), unsafe.Offsetof(a.mask)}
	if got != want || unsafe.Offsetof(a.handler) != 0 {
		t.Errorf("%s: struct sigaction size, flags, restorer, mask at %+v, want %+v", runtime.GOARCH, got, want)
	}
}

// TestSigset: signals 1-64 go in and come out of a unix.Sigset_t as the
// kernel reads it, bit N-1 for signal N, on 32- and 64-bit words alike.
func TestSigset(t *testing.T) {
	for _, bits := range []uint64{0, 1, 1 << 14, 1<<31 | 1<<32, 1 << 63, ^uint64(0)} {
		s := sigsetOf(bits)
		if got := sigsetBits(s); got != bits {
			t.Errorf("sigsetBits(sigsetOf(%#x)) = %#x", bits, got)
		}
		b := (*[8]byte)(unsafe.Pointer(&s))
		var native uint64
		if unsafe.Sizeof(s.Val[0]) == 4 {
			native = uint64(*(*uint32)(unsafe.Pointer(&b[0]))) | uint64(*(*uint32)(unsafe.Pointer(&b[4])))<<32
		} else {
			native = *(*uint64)(unsafe.Pointer(&b[0]))
		}
		if native != bits {
			t.Errorf("sigsetOf(%#x) holds %#x", bits, native)
		}
	}
	var s unix.Sigset_t
	if unsafe.Sizeof(s) < 8 {
		t.Errorf("unix.Sigset_t is %d bytes", unsafe.Sizeof(s))
	}
}
