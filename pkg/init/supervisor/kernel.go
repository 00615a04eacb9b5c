package supervisor

import (
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// kernel is what the supervisor asks of the kernel besides the process
// table: to signal processes and to collect the children that exited.
type kernel interface {
	// kill is kill(2); a negative pid names a process group.
	kill(pid int, sig syscall.Signal) error
	// reap is wait4(-1, ws, WNOHANG): the pid of one exited child, whose
	// status it stores in ws; 0 while children run and none has exited;
	// ECHILD when there is no child at all; EINTR to be retried.
	reap(ws *unix.WaitStatus) (int, error)
}

// liveKernel is the kernel the init runs on.
type liveKernel struct{}

func (liveKernel) kill(pid int, sig syscall.Signal) error { return unix.Kill(pid, sig) }

// reap never blocks, so it skips the Go scheduler's syscall bookkeeping
// (RawSyscall): reaping 10,000 orphans calls it 10,000 times.
func (liveKernel) reap(ws *unix.WaitStatus) (int, error) {
	r, _, e := unix.RawSyscall6(unix.SYS_WAIT4, ^uintptr(0), uintptr(unsafe.Pointer(ws)), unix.WNOHANG, 0, 0, 0)
	if e != 0 {
		return int(r), e
	}
	return int(r), nil
}
