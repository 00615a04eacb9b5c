package init_test

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/graceful-dev/graceful/pkg/contract"
)

// The tests of the stop path: the stop signal, the termination mark sent by
// `graceful-init prestop`, the clock it starts, --kill=false and the report.

// startContainer runs graceful-init as in a container of its own: as PID 1
// of a new PID namespace (which has its own mount namespace too), or as a
// subreaper in a mount namespace of its own, as a container in a pod with
// shareProcessNamespace. prefix runs before graceful-init (setpriv, to run
// it as a user).
func startContainer(t *testing.T, m mode, prefix []string, args ...string) *initRun {
	t.Helper()
	argv := append(append(append([]string(nil), prefix...), initBin), args...)
	if m == pid1 {
		return start(t, exec.Command("unshare", append([]string{"--pid", "--fork", "--mount-proc"}, argv...)...), nil, pid1)
	}
	// unshare without --fork execs: its pid becomes graceful-init's.
	r := start(t, exec.Command("unshare", append([]string{"--mount"}, argv...)...), nil, subreaper)
	deadline := time.Now().Add(10 * time.Second)
	for !runs(r.pid, initBin) {
		if time.Now().After(deadline) {
			t.Fatalf("graceful-init did not start under unshare: %s", r.stderr.String())
		}
		time.Sleep(2 * time.Millisecond)
	}
	return r
}

// hook is a finished run of `graceful-init prestop`.
type hook struct {
	code   int
	stderr string
	took   time.Duration
}

// runHook runs `graceful-init prestop args` inside r's container, as the
// runtime's exec would: in its mount namespace, and in its PID namespace
// when it is PID 1, with the user and group of asUser (nil: root). With r
// nil it runs in a mount namespace of its own, where no init is.
func runHook(t *testing.T, r *initRun, m mode, asUser []string, env []string, args ...string) hook {
	t.Helper()
	var argv []string
	if r == nil {
		argv = []string{"unshare", "--mount"}
	} else {
		argv = []string{"nsenter", "--target", strconv.Itoa(r.pid), "--mount"}
		if m == pid1 {
			argv = append(argv, "--pid")
		}
		argv = append(argv, asUser...)
	}
	cmd := exec.Command(argv[0], append(append(argv[1:], initBin, contract.SubcommandPreStop), args...)...)
	cmd.Env = append(os.Environ(), env...)
	var stderr syncBuffer
	cmd.Stderr = &stderr
	begin := time.Now()
	err := cmd.Run()
	h := hook{code: cmd.ProcessState.ExitCode(), stderr: stderr.String(), took: time.Since(begin)}
	if err != nil && cmd.ProcessState == nil {
		t.Fatalf("%v: %v", argv, err)
	}
	return h
}

// waitLog waits until graceful-init has logged what.
func (r *initRun) waitLog(timeout time.Duration, what string) {
	r.t.Helper()
	deadline := time.Now().Add(timeout)
	for !strings.Contains(r.stderr.String(), what) {
		if time.Now().After(deadline) {
			r.t.Fatalf("graceful-init did not log %q within %v:\n%s", what, timeout, r.stderr.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

const markLogged = "termination mark received (preStop hook)"

// A stop signal that is not TERM: QUIT starts the shutdown and reaches the
// group and the setsid escapee, both of which trap it and clean up; a TERM
// before it is only forwarded to the group. With --signal-map=QUIT=TERM the
// same happens with TERM going out.
func TestStopSignalQuit(t *testing.T) { forEachArch(t, stopSignalQuit) }

func stopSignalQuit(t *testing.T) {
	for _, m := range runnable() {
		for _, mapped := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/mapped=%v", m, mapped), func(t *testing.T) {
				ev := newEvents(t)
				out, args := "QUIT", []string{"--stop-signal=QUIT", "--grace-period=10s"}
				if mapped {
					out, args = "TERM", append(args, "--signal-map=QUIT=TERM")
				}
				// The shell traps TERM (so that it survives the TERM sent
				// first: a trap ends a wait, hence two) and exits 3 on QUIT.
				script := fmt.Sprintf("trap 'exit 3' QUIT; trap : TERM; %s & %s & %s; wait; wait",
					probe(ev, "worker", "-exit-on", out, "-cleanup", "300ms"), probe(ev, "escapee", "-setsid", "-exit-on", out, "-cleanup", "300ms"), waitReady(ev, 2))
				r := startInit(t, m, nil, append(args, "--", "/bin/sh", "-c", script)...)
				readyPrefixless(ev, 2)
				if !mapped {
					r.signal(syscall.SIGTERM)
					ev.waitFor(10*time.Second, "worker got TERM")
				}
				r.signal(syscall.SIGQUIT)
				code := r.wait(15 * time.Second)
				for _, l := range []string{"worker got " + out, "worker done", "escapee got " + out, "escapee done"} {
					if !ev.has(l) {
						t.Errorf("no %q when graceful-init exited; events: %v", l, ev.lines())
					}
				}
				if ev.has("escapee got TERM") && !mapped {
					t.Errorf("the TERM before the stop signal reached the escapee: %v", ev.lines())
				}
				// The shell exits 3 on QUIT; mapped, it gets TERM instead and
				// exits 0 once its children are done.
				if want := map[bool]int{false: 3, true: 0}[mapped]; code != want {
					t.Errorf("exit %d, want %d", code, want)
				}
				log := r.stderr.String()
				if !strings.Contains(log, "signal QUIT received: shutdown started") || !regexp.MustCompile(`SIG`+out+` forwarded to \d+ processes: .*that left it: \d+ \(`+loggedProbe("escapee")).MatchString(log) {
					t.Errorf("the log does not show QUIT starting the shutdown and SIG%s reaching the escapee:\n%s", out, log)
				}
			})
		}
	}
}

// A realtime stop signal (SIGRTMIN+3, systemd's) is caught and starts the
// shutdown.
func TestRealtimeStopSignal(t *testing.T) {
	r := startInit(t, subreaper, nil, "-vvv", "--stop-signal=SIGRTMIN+3", "--", "/bin/sleep", "30")
	r.waitLog(10*time.Second, "started pid")
	r.signal(syscall.Signal(37))
	if code := r.wait(10 * time.Second); code != 128+37 {
		t.Errorf("exit %d, want %d (sleep killed by SIGRTMIN+3)", code, 128+37)
	}
	if !strings.Contains(r.stderr.String(), "signal RTMIN+3 received: shutdown started") {
		t.Errorf("log:\n%s", r.stderr.String())
	}
}

// stubborn runs a probe that ignores TERM (and the mark would end a process
// that does not catch it, so it shows the mark is not forwarded) under
// graceful-init in its own container, and returns the run and the probe's
// events.
func stubborn(t *testing.T, m mode, args ...string) (*initRun, *events) {
	t.Helper()
	ev := newEvents(t)
	script := fmt.Sprintf("%s & %s; wait", probe(ev, "stubborn", "-ignore", "TERM"), waitReady(ev, 1))
	r := startContainer(t, m, nil, append(args, "--", "/bin/sh", "-c", script)...)
	readyPrefixless(ev, 1)
	return r, ev
}

// The mark starts the clock: a hook marks, the stop signal comes 1.5s
// later, and the SIGKILL lands at mark + Budget(4s) = mark + 3.5s, 2s after
// the signal, not 3.5s after it. In subreaper mode a second init runs side
// by side (another container of a pod with shareProcessNamespace): the hook
// reaches its own container's init only.
func TestMarkStartsTheClock(t *testing.T) { forEachMarkArch(t, markStartsTheClock) }

func markStartsTheClock(t *testing.T) {
	for _, m := range runnable() {
		t.Run(string(m), func(t *testing.T) {
			retryStalled(t, func() (float64, bool) {
				r, ev := stubborn(t, m, "--grace-period=4s")
				var other *initRun
				if m == subreaper {
					other = startContainer(t, subreaper, nil, "--", "/bin/sleep", "30")
				}
				log := markThenStop(t, r, m, 1500*time.Millisecond)
				mark, term, kill := logTime(t, log, markLogged), logTime(t, log, "signal TERM received"), logTime(t, log, "budget spent: SIGKILL")
				t.Logf("mark → TERM %.3fs, TERM → SIGKILL %.3fs, mark → SIGKILL %.3fs", term-mark, kill-term, kill-mark)
				if ev.count("stubborn got") != 0 {
					t.Errorf("the mark (or the TERM) reached the app: %v", ev.lines())
				}
				if other != nil {
					if strings.Contains(other.stderr.String(), "termination mark") {
						t.Errorf("the other container's init got the mark:\n%s", other.stderr.String())
					}
					other.signal(syscall.SIGTERM)
					other.wait(10 * time.Second)
				}
				d := kill - mark
				return d, d >= 3.45 && d <= 3.9
			}, "SIGKILL %.3fs after the mark, want 3.5s (mark + Budget(4s))")
		})
	}
}

// markThenStop runs the hook in r's container, which must mark quietly,
// sends SIGTERM after the init logged the mark and after more, and returns
// the init's log once it exited.
func markThenStop(t *testing.T, r *initRun, m mode, after time.Duration) string {
	t.Helper()
	h := runHook(t, r, m, nil, nil)
	if h.code != 0 || h.stderr != "" {
		t.Fatalf("prestop exited %d: %s", h.code, h.stderr)
	}
	r.waitLog(5*time.Second, markLogged)
	time.Sleep(after)
	r.signal(syscall.SIGTERM)
	r.wait(10 * time.Second)
	return r.stderr.String()
}

// retryStalled runs measure up to three times while this test process
// itself stalled (the machine, not the init, was slow; see
// TestBudgetKillsStubbornProcess), failing with msg when it is still off.
func retryStalled(t *testing.T, measure func() (float64, bool), msg string) {
	t.Helper()
	for attempt := 1; ; attempt++ {
		stall := watchStalls()
		d, ok := measure()
		gap := stall()
		if ok || t.Failed() {
			return
		}
		if gap > 250*time.Millisecond && attempt < 3 {
			t.Logf("off ("+msg+") while this test process went %v without running: measuring again", d, gap.Round(time.Millisecond))
			continue
		}
		t.Fatalf(msg+"; longest stall of this test process meanwhile %v", d, gap.Round(time.Millisecond))
	}
}

// The 2s floor: the stop signal comes 2s after the mark, past mark +
// Budget(3s) − Budget(2s) = 1s, as when the hook used the grace period up.
// The processes get Budget(2s) = 1.5s after the signal: the SIGKILL lands at
// mark + 3.5s, not at mark + 2.5s.
func TestMarkFloor(t *testing.T) { forEachMarkArch(t, markFloor) }

func markFloor(t *testing.T) {
	for _, m := range runnable() {
		t.Run(string(m), func(t *testing.T) {
			retryStalled(t, func() (float64, bool) {
				r, _ := stubborn(t, m, "--grace-period=3s")
				log := markThenStop(t, r, m, 2*time.Second)
				if !strings.Contains(log, "the hook used the grace period") {
					t.Errorf("the log does not say the floor applies:\n%s", log)
				}
				d := logTime(t, log, "budget spent: SIGKILL") - logTime(t, log, "signal TERM received")
				return d, d >= 1.45 && d <= 1.9
			}, "SIGKILL %.3fs after the late stop signal, want 1.5s (Budget(2s))")
		})
	}
}

// The hook reaches the init as a user (the same as the init's), and the
// mark's pidfd and /proc reads need nothing else.
func TestMarkAsUser(t *testing.T) { forEachMarkArch(t, markAsUser) }

func markAsUser(t *testing.T) {
	for _, m := range runnable() {
		t.Run(string(m), func(t *testing.T) {
			r := startContainer(t, m, []string{"setpriv", "--reuid=65532", "--regid=65532", "--clear-groups"}, "--", "/bin/sleep", "30")
			time.Sleep(100 * time.Millisecond)
			h := runHook(t, r, m, []string{"--setuid=65532", "--setgid=65532"}, nil)
			if h.code != 0 {
				t.Fatalf("prestop as uid 65532 exited %d: %s", h.code, h.stderr)
			}
			r.waitLog(5*time.Second, markLogged)
			// Another user's hook can not mark it, and says why.
			h = runHook(t, r, m, []string{"--setuid=65533", "--setgid=65533"}, nil)
			if h.code == 0 || !strings.Contains(h.stderr, "termination not marked") || !strings.Contains(h.stderr, "another user's") {
				t.Errorf("prestop as another user: exit %d: %s", h.code, h.stderr)
			}
			r.signal(syscall.SIGTERM)
			r.wait(10 * time.Second)
		})
	}
}

// --kill=false: at the deadline the init names what is left and kills
// nothing; the process runs on until something else ends it.
func TestKillOff(t *testing.T) {
	r, ev := stubborn(t, subreaper, "--grace-period=2s", "--kill=false")
	r.signal(syscall.SIGTERM)
	r.waitLog(10*time.Second, "budget spent, SIGKILL is off (--kill=false); still running: ")
	time.Sleep(500 * time.Millisecond)
	var pid int
	for _, l := range ev.lines() {
		fmt.Sscanf(l, "stubborn ready %d", &pid)
	}
	if pid == 0 || syscall.Kill(pid, 0) != nil {
		t.Fatalf("the stubborn process (pid %d) is gone although the kill is off:\n%s", pid, r.stderr.String())
	}
	if !regexp.MustCompile(`still running: .*pid ` + strconv.Itoa(pid) + ` \(.*-name stubborn`).MatchString(r.stderr.String()) {
		t.Errorf("the log does not name pid %d:\n%s", pid, r.stderr.String())
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
	r.wait(10 * time.Second)
	if strings.Contains(r.stderr.String(), "budget spent: SIGKILL") {
		t.Errorf("SIGKILL sent with --kill=false:\n%s", r.stderr.String())
	}
}

// The report: the mark, the stop signal, who was SIGKILLed at the budget,
// the exit code last; at most TerminationLogLimit bytes of whole lines when
// hundreds of processes exit during the shutdown; and never over the app's
// own message.
func TestTerminationReport(t *testing.T) {
	tl := filepath.Join(t.TempDir(), "termination-log")
	r, ev := stubborn(t, pid1, "--grace-period=3s", "--termination-log="+tl)
	markThenStop(t, r, pid1, 0)
	var pid string
	for _, l := range ev.lines() {
		if f := strings.Fields(l); len(f) > 2 && f[1] == "ready" {
			pid = f[2]
		}
	}
	b, err := os.ReadFile(tl)
	if err != nil {
		t.Fatal(err)
	}
	report := string(b)
	t.Logf("report:\n%s", report)
	for _, re := range []string{
		`(?m)^\+0\.000s termination started: preStop hook's mark$`,
		`(?m)^\+\d+\.\d{3}s signal TERM received \d+\.\d{3}s after the termination mark; SIGKILL due at \+2\.500s$`,
		`(?m)^\+\d+\.\d{3}s SIGTERM forwarded to \d+ processes: \d+ in group \d+$`,
		`(?m)^\+\d+\.\d{3}s SIGKILL pid ` + pid + `, budget spent: .*-name stubborn`,
		`(?m)^\+\d+\.\d{3}s pid ` + pid + ` exited \(killed by SIGKILL\): `,
		`\n\+\d+\.\d{3}s exit 143: main process \d+ killed by SIGTERM; 1 SIGKILLed at the budget\n$`,
	} {
		if !regexp.MustCompile(re).MatchString(report) {
			t.Errorf("the report has no line matching %s", re)
		}
	}

	// Hundreds of exits: whole lines, the limit, the end kept.
	tl = filepath.Join(t.TempDir(), "termination-log")
	script := `trap 'i=0; while [ $i -lt 300 ]; do (/bin/true &); i=$((i+1)); done; exit 0' TERM; while :; do sleep 0.05; done`
	r = startInit(t, subreaper, nil, "--termination-log="+tl, "--", "/bin/sh", "-c", script)
	time.Sleep(200 * time.Millisecond)
	r.signal(syscall.SIGTERM)
	if code := r.wait(30 * time.Second); code != 0 {
		t.Fatalf("exit %d", code)
	}
	b, _ = os.ReadFile(tl)
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	if len(b) > contract.TerminationLogLimit || len(b) < contract.TerminationLogLimit-200 || !strings.HasPrefix(lines[0], "+") {
		t.Errorf("report of %d bytes (limit %d) starting %q", len(b), contract.TerminationLogLimit, lines[0])
	}
	if !strings.Contains(lines[len(lines)-1], "exit 0: main process") || !strings.Contains(string(b), "signal TERM received; SIGKILL due") {
		t.Errorf("the end of the report is not kept:\n%s", b)
	}

	// The app's message stays.
	if err := os.WriteFile(tl, []byte("app: bye\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r = startInit(t, subreaper, nil, "--termination-log="+tl, "--", "/bin/sleep", "30")
	time.Sleep(100 * time.Millisecond)
	r.signal(syscall.SIGTERM)
	r.wait(10 * time.Second)
	if b, _ := os.ReadFile(tl); string(b) != "app: bye\n" {
		t.Errorf("the app's message became %q", b)
	}
	if !strings.Contains(r.stderr.String(), "holds a message already") {
		t.Errorf("the log does not say the report was not written:\n%s", r.stderr.String())
	}
}

// The hooks themselves, run with no init to mark (each says so on stderr
// and still runs the hook): exec passes the status, argv and environment
// through; --sleep sleeps; --http-get succeeds on 200-399 only, sends the
// headers, and fails on a refused connection; no hook at all fails when
// the mark did.
func TestPreStopHooks(t *testing.T) {
	noMark := "termination not marked: no graceful-init found in this container"
	check := func(name string, h hook, code int, stderr ...string) {
		t.Helper()
		if h.code != code {
			t.Errorf("%s: exit %d, want %d; stderr: %s", name, h.code, code, h.stderr)
		}
		for _, s := range append(stderr, noMark) {
			if !strings.Contains(h.stderr, s) {
				t.Errorf("%s: stderr %q does not say %q", name, h.stderr, s)
			}
		}
	}
	check("no hook", runHook(t, nil, subreaper, nil, nil), 1)
	check("exec exit 7", runHook(t, nil, subreaper, nil, []string{"HOOK_VAR=v1"}, "--", "/bin/sh", "-c", `test "$HOOK_VAR $1" = "v1 arg" && exit 7`, "sh", "arg"), 7)
	check("exec not found", runHook(t, nil, subreaper, nil, nil, "--", "no-such-hook"), 127, `"no-such-hook": not found in PATH`)
	h := runHook(t, nil, subreaper, nil, nil, "--sleep=1s")
	check("sleep", h, 0)
	if h.took < time.Second || h.took > 3*time.Second {
		t.Errorf("--sleep=1s took %v", h.took)
	}

	var headers http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		headers = r.Header.Clone()
		code, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/"))
		w.WriteHeader(code)
	}))
	defer srv.Close()
	// Any status is a success, as for the kubelet: a hook fails only when
	// its request does (a 302 without Location is the answer itself).
	for _, code := range []int{200, 204, 302, 399, 400, 404, 500, 503} {
		h := runHook(t, nil, subreaper, nil, nil, fmt.Sprintf("--http-get=%s/%d", srv.URL, code), "--header=X-Hook: yes", "--header", "Authorization: Bearer t")
		check(fmt.Sprintf("GET %d", code), h, 0)
	}
	if headers.Get("X-Hook") != "yes" || headers.Get("Authorization") != "Bearer t" {
		t.Errorf("headers received: %v", headers)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := "http://" + l.Addr().String() + "/"
	l.Close()
	check("GET refused", runHook(t, nil, subreaper, nil, nil, "--http-get="+refused), 1, "connection refused")
}

// BenchmarkMark measures what a mark costs: the hook's run from its start
// to its exit (it exits right after the signal is sent), the time until the
// init has logged the mark, and the init's CPU time for each mark (the
// second and later marks are handled, and ignored, the same way). Run it as
// go test -run '^$' -bench Mark ./test/init.
func BenchmarkMark(b *testing.B) {
	cmd := exec.Command("unshare", "--mount", initBin, "--", "/bin/sleep", "600")
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	// TERM, not KILL: the init then stops its child, which holds the
	// stderr pipe that Wait waits for.
	defer func() { _ = cmd.Process.Signal(syscall.SIGTERM); _ = cmd.Wait() }()
	pid := cmd.Process.Pid
	for exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid)); exe != initBin; exe, _ = os.Readlink(fmt.Sprintf("/proc/%d/exe", pid)) {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // CatchRest
	cpu0 := cpuTime(b, pid)
	var hookTotal, seenTotal time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		n := strings.Count(stderr.String(), "termination mark received")
		begin := time.Now()
		hook := exec.Command("nsenter", "--target", strconv.Itoa(pid), "--mount", initBin, contract.SubcommandPreStop)
		if out, err := hook.CombinedOutput(); err != nil {
			b.Fatalf("prestop: %v: %s", err, out)
		}
		hookTotal += time.Since(begin)
		for deadline := time.Now().Add(5 * time.Second); strings.Count(stderr.String(), "termination mark received") == n; {
			if time.Now().After(deadline) {
				b.Fatalf("the init did not log mark %d:\n%s", i+1, stderr.String())
			}
			time.Sleep(20 * time.Microsecond)
		}
		seenTotal += time.Since(begin)
	}
	b.StopTimer()
	b.ReportMetric(float64(hookTotal.Microseconds())/float64(b.N), "µs-hook")
	b.ReportMetric(float64(seenTotal.Microseconds())/float64(b.N), "µs-to-logged")
	b.ReportMetric(float64((cpuTime(b, pid)-cpu0).Microseconds())/float64(b.N), "µs-init-cpu")
}

// cpuTime is the user and system time pid has used, from /proc/PID/stat.
func cpuTime(b *testing.B, pid int) time.Duration {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	f := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+2:]))
	utime, _ := strconv.Atoi(f[11])
	stime, _ := strconv.Atoi(f[12])
	return time.Duration(utime+stime) * time.Second / 100 // USER_HZ
}

// TestEmulatedMarkRefused: where the termination mark can not be sent (an
// emulated arch: see forEachMarkArch), the hook says why on stderr and
// still runs the container's own hook, with that hook's exit status, so
// the pod's preStop keeps working and only the clock falls back to the
// stop signal.
func TestEmulatedMarkRefused(t *testing.T) {
	eachTarget(t, func(a *target) bool { return a.emulated }, func(t *testing.T) {
		r := startContainer(t, pid1, nil, "--", "/bin/sleep", "30")
		time.Sleep(100 * time.Millisecond)
		h := runHook(t, r, pid1, nil, nil, "--", "/bin/sh", "-c", "echo hook ran >&2; exit 3")
		if h.code != 3 || !strings.Contains(h.stderr, "termination not marked") || !strings.Contains(h.stderr, "hook ran") {
			t.Errorf("hook: exit %d, stderr %q; want the hook's own exit 3, its output, and why the mark was not sent", h.code, h.stderr)
		}
		if strings.Contains(r.stderr.String(), markLogged) {
			t.Errorf("the init logged a mark the emulator can not deliver:\n%s", r.stderr.String())
		}
		r.signal(syscall.SIGTERM)
		if code := r.wait(10 * time.Second); code != 143 {
			t.Errorf("graceful-init exited %d after SIGTERM, want 143 (sleep killed by it)", code)
		}
	})
}
