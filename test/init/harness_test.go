// Package init_test runs the real graceful-init binary with real child
// processes: as PID 1 of a fresh PID namespace (unshare --pid --fork
// --mount-proc, which needs root) and as a plain child of the test, where it is
// a subreaper.
package init_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/graceful-dev/graceful/pkg/init/supervisor"
)

var (
	initBin  string // graceful-init, built static as in the image
	probeBin string // test/initprobe
)

// linknameTag is the build tag that, with the linker flag -checklinkname=0,
// gives graceful-init the whole signal state it was started with (package
// sigcatch); every graceful-init built for use is built with both.
const linknameTag = "graceful_linkname"

// buildInit builds graceful-init (cmd/init) for this machine to bin with
// the go build arguments args, static, with GOFLAGS cleared so that only
// args decide.
func buildInit(bin string, args ...string) error {
	return buildInitFor(runtime.GOARCH, bin, args...)
}

// buildInitFor is buildInit for GOARCH goarch.
func buildInitFor(goarch, bin string, args ...string) error {
	cmd := exec.Command("go", append(append([]string{"build"}, args...), "-o", bin, "../../cmd/init")...)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=", "GOARCH="+goarch)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("GOARCH=%s go build %s cmd/init: %w\n%s", goarch, strings.Join(args, " "), err, out)
	}
	return nil
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "graceful-init-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	// Readable by everyone: some tests run graceful-init as a user.
	if err := os.Chmod(dir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	// graceful-init and initprobe for every arch of GRACEFUL_TEST_ARCHES
	// (arch_test.go); initBin and probeBin are the native ones.
	if err := buildTargets(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "graceful-init tests need root: they create PID namespaces and switch users")
		os.Exit(1)
	}
	if _, err := exec.LookPath("unshare"); err != nil {
		fmt.Fprintln(os.Stderr, "graceful-init tests need unshare (util-linux): run hack/install-deps.sh")
		os.Exit(1)
	}
	resetIgnoredSignals()
	var emulatedBins []string
	for _, t := range targets {
		if t.emulated {
			emulatedBins = append(emulatedBins, t.initBin, t.probeBin)
		}
	}
	if len(emulatedBins) > 0 {
		watchForkHangs(emulatedBins, dir)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// resetIgnoredSignals gives the processes the tests start default signal
// dispositions whatever this binary inherited: under nohup SIGHUP arrives
// ignored, in a background job SIGINT and SIGQUIT do, and graceful-init
// rightly keeps an inherited ignore for its child, so a probe would never see
// the signal the test forwards. A signal with a Go handler is reset to the
// default by execve; the handler drops what it catches.
func resetIgnoredSignals() {
	sink := make(chan os.Signal, 1)
	for s := syscall.Signal(1); s < 32; s++ {
		if s != syscall.SIGKILL && s != syscall.SIGSTOP && signal.Ignored(s) {
			signal.Notify(sink, s)
		}
	}
	go func() {
		for range sink {
		}
	}()
}

// watchStalls starts watching for this process going without CPU: a
// goroutine that wakes every 5ms notes the longest gap between two wakeups.
// The returned func stops the watch and reports that gap.
func watchStalls() func() time.Duration {
	stop, done := make(chan struct{}), make(chan time.Duration)
	go func() {
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		last, longest := time.Now(), time.Duration(0)
		for {
			select {
			case <-stop:
				done <- max(longest, time.Since(last))
				return
			case <-tick.C:
				// Now, not the tick's value: that says when the tick was due.
				now := time.Now()
				longest = max(longest, now.Sub(last))
				last = now
			}
		}
	}()
	return func() time.Duration {
		close(stop)
		return <-done
	}
}

// mode says where graceful-init runs.
type mode string

const (
	pid1      mode = "pid1"      // PID 1 of a new PID namespace
	subreaper mode = "subreaper" // a plain child of the test
)

var modes = []mode{pid1, subreaper}

// syncBuffer is a bytes.Buffer safe for the exec goroutine and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type initRun struct {
	t       *testing.T
	cmd     *exec.Cmd
	stderr  *syncBuffer
	stdout  *syncBuffer
	pid     int // graceful-init's PID as seen from the test
	done    chan struct{}
	code    int
	started time.Time
	found   time.Time // when graceful-init's exec was seen
}

// startInit runs graceful-init with args in mode m.
func startInit(t *testing.T, m mode, env []string, args ...string) *initRun {
	t.Helper()
	var cmd *exec.Cmd
	if m == pid1 {
		cmd = exec.Command("unshare", append([]string{"--pid", "--fork", "--mount-proc", initBin}, args...)...)
	} else {
		cmd = exec.Command(initBin, args...)
	}
	return start(t, cmd, env, m)
}

func start(t *testing.T, cmd *exec.Cmd, env []string, m mode) *initRun {
	t.Helper()
	needMode(t, m)
	r := &initRun{t: t, cmd: cmd, stderr: &syncBuffer{}, stdout: &syncBuffer{}, done: make(chan struct{})}
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr, cmd.Stdout = r.stderr, r.stdout
	// Processes that outlive graceful-init (a failed subreaper run) hold the
	// output pipes open; without a bound Wait would wait for them forever
	// and the test binary would hang until go test's timeout, losing the
	// failure message.
	cmd.WaitDelay = 5 * time.Second
	r.started = time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %v: %v", cmd.Args, err)
	}
	go func() {
		err := cmd.Wait()
		var ee *exec.ExitError
		switch {
		case err == nil:
		case errors.As(err, &ee):
			r.code = ee.ExitCode()
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				r.code = 128 + int(ws.Signal())
			}
		default:
			r.code = -1
		}
		close(r.done)
	}()
	t.Cleanup(func() {
		select {
		case <-r.done:
		default:
			// As a subreaper graceful-init's orphans outlive it (they go to
			// the machine's PID 1), so its whole tree is killed, found before
			// anything dies and reparents.
			var tree []supervisor.Process
			if all, err := (supervisor.ProcFS{Root: "/proc"}).List(); err == nil {
				tree = supervisor.Descendants(all, cmd.Process.Pid)
			}
			_ = cmd.Process.Kill()
			for _, p := range tree {
				_ = syscall.Kill(p.PID, syscall.SIGKILL)
			}
			<-r.done
		}
		if t.Failed() {
			t.Logf("graceful-init (pid %d, exit %d) logged:\n%s", r.pid, r.code, r.stderr.String())
		}
	})
	r.pid = cmd.Process.Pid
	if m == pid1 {
		r.pid = r.childOf(cmd.Process.Pid)
	}
	r.found = time.Now()
	return r
}

// childOf waits for unshare's forked child: graceful-init as PID 1.
func (r *initRun) childOf(parent int) int {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", parent, parent))
		if f := strings.Fields(string(b)); len(f) > 0 {
			pid, _ := strconv.Atoi(f[0])
			// Wait for the exec: until then the child is still unshare.
			if runs(pid, initBin) {
				return pid
			}
		}
		select {
		case <-r.done:
			return 0 // a quick run ended before it could be seen; signal() refuses pid 0
		default:
		}
		time.Sleep(2 * time.Millisecond)
	}
	r.t.Fatalf("graceful-init did not start under unshare; stderr: %s", r.stderr.String())
	return 0
}

func (r *initRun) signal(sig syscall.Signal) {
	r.t.Helper()
	if r.pid == 0 {
		r.t.Fatalf("graceful-init ended before it could be signalled (exit %d): %s", r.code, r.stderr.String())
	}
	if err := syscall.Kill(r.pid, sig); err != nil {
		r.t.Fatalf("kill %d %v: %v", r.pid, sig, err)
	}
}

// wait returns graceful-init's exit code, failing after timeout.
func (r *initRun) wait(timeout time.Duration) int {
	r.t.Helper()
	select {
	case <-r.done:
		return r.code
	case <-time.After(timeout):
		r.t.Fatalf("graceful-init still running after %v; log:\n%s", timeout, r.stderr.String())
		return -1
	}
}

// events is a file that probes append lines to.
type events struct {
	t    *testing.T
	path string
}

func newEvents(t *testing.T) *events {
	return &events{t: t, path: filepath.Join(t.TempDir(), "events")}
}

func (e *events) lines() []string {
	b, _ := os.ReadFile(e.path)
	return strings.Split(strings.TrimSpace(string(b)), "\n")
}

func (e *events) has(line string) bool {
	for _, l := range e.lines() {
		if l == line {
			return true
		}
	}
	return false
}

func (e *events) count(prefix string) int {
	n := 0
	for _, l := range e.lines() {
		if strings.HasPrefix(l, prefix) {
			n++
		}
	}
	return n
}

// waitFor waits until every line is in the file.
func (e *events) waitFor(timeout time.Duration, lines ...string) {
	e.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		missing := ""
		for _, l := range lines {
			if !e.has(l) {
				missing = l
				break
			}
		}
		if missing == "" {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("no %q after %v; events:\n%s", missing, timeout, strings.Join(e.lines(), "\n"))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// probe returns an initprobe trap command line, as a shell word list.
func probe(ev *events, name string, extra ...string) string {
	return strings.Join(append([]string{probeBin, "trap", "-o", ev.path, "-name", name}, extra...), " ")
}
