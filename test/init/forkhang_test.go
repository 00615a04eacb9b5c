package init_test

import (
	"fmt"
	"os"
	"slices"
	"strconv"
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
// emulator milliseconds.
const forkHangAfter = 15 * time.Second

// watchForkHangs watches this test binary's descendants for qemu-user's
// fork deadlock (docs/init.md): a process forked by an emulated program
// that is still a copy of it (the same command line as its parent: it has
// not exec'd) with every signal blocked, as the Go runtime leaves them
// between fork and exec, for forkHangAfter. In that state the emulator's
// child waits on a lock that another thread of its parent held at the
// fork, and nothing will release it; none of graceful-init's own code runs
// in that window. The test binary then says so on stderr, with the stuck
// process's threads, kills every process it started and exits 3, so that
// the pass ends at once with the emulator named rather than at go test's
// timeout.
func watchForkHangs(emulatedBins []string) {
	go func() {
		seen := map[string]time.Time{} // pid and start time → first seen stuck
		for range time.Tick(time.Second) {
			all, err := (supervisor.ProcFS{Root: "/proc"}).List()
			if err != nil {
				continue
			}
			now := time.Now()
			live := map[string]bool{}
			for _, p := range supervisor.Descendants(all, os.Getpid()) {
				key, ok := stuckCopy(p, emulatedBins)
				if !ok {
					continue
				}
				live[key] = true
				if _, ok := seen[key]; !ok {
					seen[key] = now
				}
				if now.Sub(seen[key]) >= forkHangAfter {
					reportForkHang(p, all)
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
// emulated program of emulatedBins, and returns a key for p that a reused
// pid does not share.
func stuckCopy(p supervisor.Process, emulatedBins []string) (string, bool) {
	cmd, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", p.PID))
	if err != nil {
		return "", false
	}
	// An emulated process's command line is the emulator, the program's
	// file, then the program's own argv.
	argv := strings.Split(string(cmd), "\x00")
	if len(argv) < 2 || !slices.Contains(emulatedBins, argv[1]) {
		return "", false
	}
	parent, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", p.PPID))
	if err != nil || string(parent) != string(cmd) {
		return "", false
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.PID))
	if err != nil {
		return "", false
	}
	var blocked uint64
	for l := range strings.Lines(string(status)) {
		if v, ok := strings.CutPrefix(l, "SigBlk:"); ok {
			blocked, _ = strconv.ParseUint(strings.TrimSpace(v), 16, 64)
		}
	}
	for _, s := range []syscall.Signal{syscall.SIGHUP, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD, syscall.SIGUSR1, syscall.SIGURG} {
		if blocked&sigbit(s) == 0 {
			return "", false
		}
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.PID))
	if err != nil {
		return "", false
	}
	// Field 22, the start time, after the parenthesised command name.
	_, rest, _ := strings.Cut(string(stat), ") ")
	f := strings.Fields(rest)
	if len(f) < 20 {
		return "", false
	}
	return strconv.Itoa(p.PID) + "@" + f[19], true
}

// reportForkHang says what is stuck, kills every process this test binary
// started and exits.
func reportForkHang(p supervisor.Process, all []supervisor.Process) {
	cmd, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", p.PID))
	var threads []string
	tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", p.PID))
	for _, task := range tasks {
		wchan, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/wchan", p.PID, task.Name()))
		sc, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/syscall", p.PID, task.Name()))
		threads = append(threads, fmt.Sprintf("%s %s (syscall %s)", task.Name(), wchan, strings.Join(strings.Fields(string(sc))[:min(3, len(strings.Fields(string(sc))))], " ")))
	}
	fmt.Fprintf(os.Stderr, "%s pid %d, forked by pid %d, is still a copy of it after %v with every signal blocked: %s\n"+
		"  threads: %s\n"+
		"  the emulator's forked child waits on a lock another thread held at the fork (docs/init.md); graceful-init's code does not run there.\n"+
		"  The test binary stops here; hack/test-emulated.sh runs the pass once more.\n",
		forkHangMarker, p.PID, p.PPID, forkHangAfter, strings.ReplaceAll(strings.TrimRight(string(cmd), "\x00"), "\x00", " "), strings.Join(threads, "; "))
	for _, d := range supervisor.Descendants(all, os.Getpid()) {
		_ = syscall.Kill(d.PID, syscall.SIGKILL)
	}
	os.Exit(3)
}
