package init_test

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/graceful-dev/graceful/pkg/init/supervisor"
)

// forkHangMarker starts the line the test binary prints before it stops on
// qemu-user's fork deadlock; hack/test-emulated.sh looks for it.
const forkHangMarker = "qemu-user fork deadlock:"

// forkHangAfter is how long a forked copy may go without its exec before
// it counts as stuck: natively that window is microseconds, under the
// emulator milliseconds. It is well below the tests' own deadlines (10 s
// for most), so that a deadlock ends the pass here, named, before a test
// fails on it with a timeout that does not say why.
const forkHangAfter = 5 * time.Second

// watchForkHangs watches this test binary's descendants for qemu-user's
// fork deadlock (docs/init.md): a process forked by an emulated program
// that is still a copy of it (the same command line as its parent: it has
// not exec'd) with every signal blocked, as the Go runtime leaves them
// between fork and exec, for forkHangAfter. In that state the emulator's
// child waits on a lock that another thread of its parent held at the
// fork, and nothing will release it; none of graceful-init's own code runs
// in that window. The test binary then says so on stderr, with the stuck
// process's threads, kills the processes below it, removes dir (the
// builds) and exits 3, so that the pass ends at once with the emulator
// named rather than at a test's deadline or go test's timeout.
func watchForkHangs(emulatedBins []string, dir string) {
	go func() {
		// pid → first seen stuck. A pid leaves the map the first tick it is
		// not stuck, so a reused pid would have to die, come back and be
		// stuck again within one tick to inherit the time.
		seen := map[int]time.Time{}
		for range time.Tick(250 * time.Millisecond) {
			all, err := (supervisor.ProcFS{Root: "/proc"}).List()
			if err != nil {
				continue
			}
			now := time.Now()
			live := map[int]bool{}
			for _, p := range supervisor.Descendants(all, os.Getpid()) {
				if !stuckCopy(p, emulatedBins) {
					continue
				}
				live[p.PID] = true
				if _, ok := seen[p.PID]; !ok {
					seen[p.PID] = now
				}
				if now.Sub(seen[p.PID]) >= forkHangAfter {
					reportForkHang(p, dir)
				}
			}
			for k := range seen {
				if !live[k] {
					delete(seen, k)
				}
			}
		}
	}()
}

// stuckCopy says whether p looks like a forked, not yet exec'd copy of an
// emulated program of emulatedBins.
func stuckCopy(p supervisor.Process, emulatedBins []string) bool {
	cmd, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", p.PID))
	if err != nil {
		return false
	}
	// An emulated process's command line is the emulator, the program's
	// file, then the program's own argv.
	argv := strings.Split(string(cmd), "\x00")
	if len(argv) < 2 || !slices.Contains(emulatedBins, argv[1]) {
		return false
	}
	parent, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", p.PPID))
	if err != nil || string(parent) != string(cmd) {
		return false
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.PID))
	if err != nil {
		return false
	}
	blocked, err := sigMask(status, "SigBlk:")
	if err != nil {
		return false
	}
	for _, s := range []syscall.Signal{syscall.SIGHUP, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD, syscall.SIGUSR1, syscall.SIGURG} {
		if blocked&sigbit(s) == 0 {
			return false
		}
	}
	return true
}

// reportForkHang says what is stuck, kills the processes below this test
// binary, removes dir and exits.
func reportForkHang(p supervisor.Process, dir string) {
	cmd, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", p.PID))
	var threads []string
	tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", p.PID))
	for _, task := range tasks {
		wchan, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/wchan", p.PID, task.Name()))
		sc, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/syscall", p.PID, task.Name()))
		nr := strings.Fields(string(sc))
		threads = append(threads, fmt.Sprintf("%s %s (syscall %s)", task.Name(), wchan, strings.Join(nr[:min(3, len(nr))], " ")))
	}
	fmt.Fprintf(os.Stderr, "%s pid %d, forked by pid %d, is still a copy of it after %v with every signal blocked: %s\n"+
		"  threads: %s\n"+
		"  the emulator's forked child waits on a lock another thread held at the fork (docs/init.md); graceful-init's code does not run there.\n"+
		"  The test binary stops here; hack/test-emulated.sh runs the pass once more.\n",
		forkHangMarker, p.PID, p.PPID, forkHangAfter, strings.ReplaceAll(strings.TrimRight(string(cmd), "\x00"), "\x00", " "), strings.Join(threads, "; "))
	// A fresh list: the one p came from is up to a tick old.
	if all, err := (supervisor.ProcFS{Root: "/proc"}).List(); err == nil {
		for _, d := range supervisor.Descendants(all, os.Getpid()) {
			_ = syscall.Kill(d.PID, syscall.SIGKILL)
		}
	}
	_ = os.RemoveAll(dir)
	os.Exit(3)
}

// forkCopyC is a program that forks and leaves its child a copy of itself,
// with every signal blocked when its second argument is "blocked" (the
// first is its own path, as in an emulated command line): what a stuck
// emulated fork looks like from /proc, made by a real fork.
const forkCopyC = `#include <signal.h>
#include <string.h>
#include <unistd.h>
int main(int argc, char **argv) {
	sigset_t all;
	sigfillset(&all);
	if (argc > 2 && strcmp(argv[2], "blocked") == 0)
		sigprocmask(SIG_BLOCK, &all, 0);
	fork();
	sleep(60);
	return 0;
}
`
