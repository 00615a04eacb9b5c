package init_test

import (
	"bytes"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// partialNote starts the line a graceful-init built without linknameTag logs
// at -v (sigcatch.Partial).
const partialNote = "this build inherits only what the Go runtime keeps"

// 15. The plain build (no tag, no linker flags: what `go build ./...` does on
// a fresh checkout) compiles and works, says once at -v that it passes on only
// what the Go runtime keeps and names the tag to build with, and does what it
// says: an inherited ignore of SIGINT reaches the child, one of SIGUSR1 does
// not, and the child's mask is empty. The tagged build says nothing of it.
func TestPlainBuild(t *testing.T) {
	plain := filepath.Join(t.TempDir(), "graceful-init-plain")
	if err := buildInit(plain); err != nil {
		t.Fatal(err)
	}
	for bin, want := range map[string]bool{plain: true, initBin: false} {
		out, err := exec.Command(bin, "-v", "--", "true").CombinedOutput()
		if err != nil {
			t.Fatalf("%s -v -- true: %v: %s", bin, err, out)
		}
		if got := strings.Count(string(out), partialNote); got != map[bool]int{true: 1, false: 0}[want] {
			t.Errorf("%s -v: the note on the signal state is there %d times, want it %v; output:\n%s", bin, got, want, out)
		}
		if want && !strings.Contains(string(out), "-tags "+linknameTag+" -ldflags=-checklinkname=0") {
			t.Errorf("%s -v: the note does not say how to build for the whole signal state:\n%s", bin, out)
		}
	}
	if out, err := exec.Command(plain, "--", "true").CombinedOutput(); err != nil || len(out) != 0 {
		t.Errorf("the plain build is not silent at the default verbosity: %v %q", err, out)
	}

	cmd := exec.Command(probeBin, "launch", "-ignore", "INT,USR1", "-block", "TERM", "--", plain, "-vvv", "--", "/bin/grep", "-E", "^Sig(Ign|Blk)", "/proc/self/status")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%v: %s%s", err, out, stderr.String())
	}
	ign, blk := statusMask(t, out, "SigIgn:"), statusMask(t, out, "SigBlk:")
	if ign&sigbit(syscall.SIGINT) == 0 || ign&sigbit(syscall.SIGUSR1) != 0 || blk != 0 {
		t.Errorf("plain build's child: SigIgn %016x SigBlk %016x, want SIGINT ignored, SIGUSR1 not, nothing blocked", ign, blk)
	}
	if strings.Contains(stderr.String(), "through the handoff") {
		t.Errorf("the plain build used the handoff:\n%s", stderr.String())
	}
}

// statusMask reads the hexadecimal mask of the line starting with field from
// /proc/PID/status text.
func statusMask(t *testing.T, status []byte, field string) uint64 {
	t.Helper()
	n, err := sigMask(status, field)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// sigMask is statusMask for code that has no test to fail (TestMain's
// probes, the fork-hang watch).
func sigMask(status []byte, field string) (uint64, error) {
	for l := range strings.Lines(string(status)) {
		if v, ok := strings.CutPrefix(l, field); ok {
			n, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			if err != nil {
				return 0, fmt.Errorf("%s %q: %w", field, v, err)
			}
			return n, nil
		}
	}
	return 0, fmt.Errorf("no %s in %q", field, status)
}
