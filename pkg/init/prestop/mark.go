//go:build linux

package prestop

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/graceful-dev/graceful/pkg/contract"
	"github.com/graceful-dev/graceful/pkg/init/sigcatch"
	"github.com/graceful-dev/graceful/pkg/init/supervisor"
)

// procs is the /proc the mark is looked for in, and this process's pid in it.
type procs struct {
	root string
	self int
}

// findInit returns the pid of the graceful-init that supervises this
// process's container.
//
// The hook runs in the container's namespaces but is not the init's child
// (the runtime's exec starts it), and in a pod with shareProcessNamespace
// every container's processes, each container's graceful-init among them,
// share one PID namespace, whose PID 1 is the pod's sandbox. What tells the
// containers apart is the mount namespace: each container has its own. So
// the init is the process that runs the same executable as this one (the
// graceful-bin volume's graceful-init), is not itself a hook, a handoff or
// another subcommand, and shares this process's mount namespace; of several
// (an app that runs graceful-init below it), the one no other is an
// ancestor of. Reading another process's exe and ns links needs the same
// uid (or CAP_SYS_PTRACE): the hook runs as the container's user, as the
// init does.
func (p procs) findInit(me own) (int, error) {
	all, err := supervisor.ProcFS{Root: p.root}.List()
	if err != nil {
		return 0, err
	}
	parent := map[int]int{}
	found := map[int]bool{}
	denied := 0
	for _, pr := range all {
		parent[pr.PID] = pr.PPID
		if pr.PID == p.self || pr.State == 'Z' {
			continue
		}
		switch err := p.isInit(pr.PID, me); {
		case err == nil:
			found[pr.PID] = true
		case errors.Is(err, fs.ErrPermission):
			denied++
		}
	}
	var top []int
	for pid := range found {
		if !hasAncestorIn(pid, parent, found) {
			top = append(top, pid)
		}
	}
	sort.Ints(top)
	switch {
	case len(top) == 1:
		return top[0], nil
	case len(top) > 1:
		return 0, fmt.Errorf("several graceful-init in this container (mount namespace %s): pids %v", me.mnt, top)
	case denied > 0:
		return 0, fmt.Errorf("no graceful-init found in this container (mount namespace %s); %d processes could not be looked at: another user's (the hook runs as the container's user, and so must graceful-init)", me.mnt, denied)
	}
	return 0, fmt.Errorf("no graceful-init found in this container (mount namespace %s)", me.mnt)
}

// own is what a process must share with the hook to be its init.
type own struct {
	exe fs.FileInfo // the executable
	mnt string      // the mount namespace, as its ns link reads
}

func (p procs) own() (own, error) {
	mnt, err := os.Readlink(p.path(p.self, "ns/mnt"))
	if err != nil {
		return own{}, fmt.Errorf("read own mount namespace: %w", err)
	}
	exe, err := os.Stat(p.path(p.self, "exe"))
	if err != nil {
		return own{}, fmt.Errorf("read own executable: %w", err)
	}
	return own{exe: exe, mnt: mnt}, nil
}

// errOther is a process that is not the init looked for.
var errOther = errors.New("not this container's graceful-init")

// isInit returns nil when pid is a graceful-init supervisor in this
// container, an error wrapping fs.ErrPermission when that can not be told,
// and another error otherwise.
func (p procs) isInit(pid int, me own) error {
	fi, err := os.Stat(p.path(pid, "exe"))
	if err != nil {
		return err
	}
	if !os.SameFile(fi, me.exe) {
		return errOther
	}
	b, err := os.ReadFile(p.path(pid, "cmdline"))
	if err != nil {
		return err
	}
	if argv := strings.Split(string(bytes.TrimRight(b, "\x00")), "\x00"); len(argv) > 1 {
		switch argv[1] {
		case contract.SubcommandPreStop, sigcatch.HandoffArg, contract.SubcommandInstall, contract.SubcommandVersion:
			return errOther
		}
	}
	m, err := os.Readlink(p.path(pid, "ns/mnt"))
	if err != nil {
		return err
	}
	if m != me.mnt {
		return errOther
	}
	return nil
}

func hasAncestorIn(pid int, parent map[int]int, set map[int]bool) bool {
	for seen := 0; seen < len(parent); seen++ {
		pp, ok := parent[pid]
		if !ok || pp == 0 || pp == pid {
			return false
		}
		if set[pp] {
			return true
		}
		pid = pp
	}
	return false
}

func (p procs) path(pid int, name string) string {
	return filepath.Join(p.root, strconv.Itoa(pid), name)
}

// mark sends contract.MarkSignal to this container's graceful-init and
// returns its pid.
//
// The pid is taken through a pidfd and checked again after that, so that
// the signal reaches the process checked, not one that took its pid over
// meanwhile: a realtime signal ends any process that does not catch it.
// Kernels without pidfds (before 5.3) get a plain kill(2) after the check.
func (p procs) mark() (int, error) {
	me, err := p.own()
	if err != nil {
		return 0, err
	}
	pid, err := p.findInit(me)
	if err != nil {
		return 0, err
	}
	fd, err := unix.PidfdOpen(pid, 0)
	if pidfdRefused(err) {
		// No pidfd here (a kernel before 5.3, or a seccomp profile that
		// refuses it): check the process again and signal it by pid. The
		// window for a reused pid is the time between the check and kill.
		if err := p.recheck(pid, me); err != nil {
			return 0, err
		}
		if err := unix.Kill(pid, contract.MarkSignal); err != nil {
			return 0, fmt.Errorf("signal graceful-init (pid %d): %w", pid, err)
		}
		return pid, nil
	}
	if err != nil {
		return 0, fmt.Errorf("open pid %d: %w", pid, err)
	}
	defer unix.Close(fd)
	if err := p.recheck(pid, me); err != nil {
		return 0, err
	}
	if err := unix.PidfdSendSignal(fd, contract.MarkSignal, nil, 0); pidfdRefused(err) {
		// The pidfd still names the checked process: kill by pid is as
		// safe until the fd is closed.
		if err := unix.Kill(pid, contract.MarkSignal); err != nil {
			return 0, fmt.Errorf("signal graceful-init (pid %d): %w", pid, err)
		}
	} else if err != nil {
		return 0, fmt.Errorf("signal graceful-init (pid %d): %w", pid, err)
	}
	return pid, nil
}

// pidfdRefused reports whether a pidfd call failed because the kernel or a
// seccomp filter does not offer it, rather than because of the process.
func pidfdRefused(err error) bool {
	return errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EPERM) || errors.Is(err, unix.EINVAL)
}

// recheck makes sure pid is still the init findInit chose.
func (p procs) recheck(pid int, me own) error {
	if err := p.isInit(pid, me); err != nil {
		return fmt.Errorf("graceful-init (pid %d) is gone: %w", pid, err)
	}
	return nil
}
