package init_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/graceful-dev/graceful/pkg/init/supervisor"
)

// TestForkHangWatcherSpotsAStuckCopy runs real forked copies (forkCopyC,
// built with gcc), one with every signal blocked and one with none, and
// checks that stuckCopy picks out the blocked child alone: not the
// parents, not the unblocked child, and nothing when the program is not
// one of the emulated builds. Each is started with its own path as argv[1],
// the shape of an emulated process's command line (the emulator, the
// program's file, its argv).
func TestForkHangWatcherSpotsAStuckCopy(t *testing.T) {
	dir := t.TempDir()
	src, bin := filepath.Join(dir, "forkcopy.c"), filepath.Join(dir, "forkcopy")
	if err := os.WriteFile(src, []byte(forkCopyC), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("gcc", "-o", bin, src).CombinedOutput(); err != nil {
		t.Fatalf("gcc (hack/install-deps.sh installs it): %v\n%s", err, out)
	}
	parents := map[string]int{}
	for _, arg := range []string{"blocked", "open"} {
		cmd := exec.Command(bin, bin, arg)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		parents[arg] = cmd.Process.Pid
		t.Cleanup(func() {
			if all, err := (supervisor.ProcFS{Root: "/proc"}).List(); err == nil {
				for _, d := range supervisor.Descendants(all, cmd.Process.Pid) {
					_ = syscall.Kill(d.PID, syscall.SIGKILL)
				}
			}
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		})
	}
	var stuck []supervisor.Process
	deadline := time.Now().Add(10 * time.Second)
	for {
		all, err := (supervisor.ProcFS{Root: "/proc"}).List()
		if err != nil {
			t.Fatal(err)
		}
		stuck = nil
		children := 0
		for _, p := range supervisor.Descendants(all, os.Getpid()) {
			if stuckCopy(p, []string{bin}) {
				stuck = append(stuck, p)
			}
			if stuckCopy(p, []string{filepath.Join(dir, "other")}) {
				t.Errorf("pid %d counts as a stuck copy of a program it is not", p.PID)
			}
			if p.PPID == parents["blocked"] || p.PPID == parents["open"] {
				children++
			}
		}
		if children == 2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(stuck) != 1 || stuck[0].PPID != parents["blocked"] {
		t.Fatalf("stuck copies %+v, want the blocked parent's (pid %d) child alone", stuck, parents["blocked"])
	}
}
