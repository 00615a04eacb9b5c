package init_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"

	"github.com/graceful-dev/graceful/pkg/init/supervisor"
)

// waitReady is a shell snippet that waits until n probes have reported ready.
func waitReady(ev *events, n int) string {
	// grep -c prints nothing for a file not there yet: count from stdin.
	return fmt.Sprintf(`until [ "$(cat %s 2>/dev/null | grep -c ' ready ')" -ge %d ]; do sleep 0.01; done`, ev.path, n)
}

// 1. Exit codes pass through; killed by signal N gives 128+N; -e remaps.
func TestExitCodes(t *testing.T) { forEachArch(t, exitCodes) }

func exitCodes(t *testing.T) {
	for _, m := range runnable() {
		t.Run(string(m), func(t *testing.T) {
			codes := []int{0, 1, 2, 7, 126, 127, 128, 200, 255}
			if m == subreaper {
				codes = codes[:0]
				for c := 0; c <= 255; c++ {
					codes = append(codes, c)
				}
			}
			for _, c := range codes {
				r := startInit(t, m, nil, "--", "/bin/sh", "-c", fmt.Sprintf("exit %d", c))
				if got := r.wait(10 * time.Second); got != c {
					t.Errorf("exit %d: graceful-init exited %d; log: %s", c, got, r.stderr.String())
				}
			}
			for _, sig := range []syscall.Signal{syscall.SIGKILL, syscall.SIGUSR1, syscall.SIGSEGV} {
				r := startInit(t, m, nil, "/bin/sh", "-c", fmt.Sprintf("kill -%d $$", sig))
				if got, want := r.wait(10*time.Second), 128+int(sig); got != want {
					t.Errorf("child killed by %v: exit %d, want %d", sig, got, want)
				}
			}
			for c, want := range map[int]int{7: 0, 9: 0, 8: 8} {
				r := startInit(t, m, nil, "-e", "7", "-e9", "--", "/bin/sh", "-c", fmt.Sprintf("exit %d", c))
				if got := r.wait(10 * time.Second); got != want {
					t.Errorf("-e 7 -e9, child exit %d: got %d, want %d", c, got, want)
				}
			}
		})
	}
}

// 2. Signals reach every process of the child's group; --signal-map rewrites.
func TestForwardsToProcessGroup(t *testing.T) { forEachArch(t, forwardsToProcessGroup) }

func forwardsToProcessGroup(t *testing.T) {
	for _, m := range runnable() {
		t.Run(string(m), func(t *testing.T) {
			ev := newEvents(t)
			r := startInit(t, m, nil, "--", probeBin, "trap", "-o", ev.path, "-name", "p", "-children", "2")
			ev.waitFor(10*time.Second, readyPrefixless(ev, 3)...)
			names := []string{"p", "p-1", "p-2"}
			for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGWINCH, syscall.SIGTERM} {
				r.signal(sig)
				var want []string
				for _, n := range names {
					want = append(want, fmt.Sprintf("%s got %s", n, sigName(sig)))
				}
				ev.waitFor(10*time.Second, want...)
			}
			if code := r.wait(10 * time.Second); code != 0 {
				t.Errorf("exit %d after every probe exited 0 on TERM; log: %s", code, r.stderr.String())
			}
		})
	}
}

// readyPrefixless waits for n "ready" lines by polling: returns nothing to
// match exactly but blocks in waitFor's caller through waitReadyN.
func readyPrefixless(ev *events, n int) []string {
	deadline := time.Now().Add(10 * time.Second)
	for ev.count("") < n || countContains(ev, " ready ") < n {
		if time.Now().After(deadline) {
			ev.t.Fatalf("only %d probes ready: %v", countContains(ev, " ready "), ev.lines())
		}
		time.Sleep(5 * time.Millisecond)
	}
	return nil
}

func countContains(ev *events, s string) int {
	n := 0
	for _, l := range ev.lines() {
		if strings.Contains(l, s) {
			n++
		}
	}
	return n
}

func sigName(s syscall.Signal) string {
	return strings.TrimPrefix(unix.SignalName(s), "SIG")
}

func TestSignalMap(t *testing.T) { forEachArch(t, signalMap) }

func signalMap(t *testing.T) {
	for _, m := range runnable() {
		t.Run(string(m), func(t *testing.T) {
			ev := newEvents(t)
			r := startInit(t, m, nil, "--signal-map", "TERM=QUIT,USR1=USR2", "--", probeBin, "trap", "-o", ev.path, "-name", "p", "-exit-on", "QUIT", "-children", "1")
			readyPrefixless(ev, 2)
			r.signal(syscall.SIGUSR1)
			ev.waitFor(10*time.Second, "p got USR2", "p-1 got USR2")
			r.signal(syscall.SIGTERM)
			ev.waitFor(10*time.Second, "p got QUIT", "p-1 got QUIT", "p done", "p-1 done")
			if code := r.wait(10 * time.Second); code != 0 {
				t.Errorf("exit %d", code)
			}
			if ev.has("p got TERM") || ev.has("p got USR1") {
				t.Errorf("unmapped signal delivered: %v", ev.lines())
			}
		})
	}
}

// 3. A process that left the group (setsid) still gets the stop signal and
// time to finish; 4. (in the same scenario) the init waits for it.
func TestSetsidDaemonGetsStopSignal(t *testing.T) { forEachArch(t, setsidDaemonGetsStopSignal) }

func setsidDaemonGetsStopSignal(t *testing.T) {
	for _, m := range runnable() {
		t.Run(string(m), func(t *testing.T) {
			ev := newEvents(t)
			script := fmt.Sprintf("%s & %s & %s; wait",
				probe(ev, "worker", "-cleanup", "1s"), probe(ev, "daemon", "-setsid", "-cleanup", "1s"), waitReady(ev, 2))
			r := startInit(t, m, nil, "--grace-period=10s", "--", "/bin/sh", "-c", script)
			readyPrefixless(ev, 2)
			r.signal(syscall.SIGTERM)
			code := r.wait(15 * time.Second)
			for _, l := range []string{"worker got TERM", "worker done", "daemon got TERM", "daemon done"} {
				if !ev.has(l) {
					t.Errorf("missing %q when graceful-init exited; events: %v; log:\n%s", l, ev.lines(), r.stderr.String())
				}
			}
			if code != 143 {
				t.Errorf("exit %d, want 143 (the shell, killed by TERM)", code)
			}
			if !regexp.MustCompile(`that left it: \d+ \(` + loggedProbe("daemon")).MatchString(r.stderr.String()) {
				t.Errorf("log does not name the daemon that left the group:\n%s", r.stderr.String())
			}
		})
	}
}

// 4. The main child exits on its own while a worker runs.
func TestMainExitsWorkerFinishes(t *testing.T) { forEachArch(t, mainExitsWorkerFinishes) }

func mainExitsWorkerFinishes(t *testing.T) {
	for _, m := range runnable() {
		t.Run(string(m), func(t *testing.T) {
			ev := newEvents(t)
			script := fmt.Sprintf("%s & %s; exit 3", probe(ev, "worker", "-cleanup", "500ms"), waitReady(ev, 1))
			r := startInit(t, m, nil, "--", "/bin/sh", "-c", script)
			code := r.wait(15 * time.Second)
			if code != 3 {
				t.Errorf("exit %d, want the main child's 3", code)
			}
			if !ev.has("worker got TERM") || !ev.has("worker done") {
				t.Errorf("worker did not get TERM and finish before graceful-init exited: %v", ev.lines())
			}
		})
	}
}

// 5. A process that ignores SIGTERM is killed by the init before the grace period ends.
func TestBudgetKillsStubbornProcess(t *testing.T) { forEachArch(t, budgetKillsStubbornProcess) }

func budgetKillsStubbornProcess(t *testing.T) {
	for _, m := range runnable() {
		t.Run(string(m), func(t *testing.T) {
			// The window is tight (the budget is 2.5s of a 3s grace), so a
			// machine that stops running processes for seconds (seen once in
			// a CI run: SIGKILL at +9.4s, every test 4x slower) can push the
			// SIGKILL out of it. That only counts as the init's lateness if
			// this test process kept running meanwhile; if it stalled too,
			// the case is measured again, at most three times.
			for attempt := 1; ; attempt++ {
				stall := watchStalls()
				d := killStubborn(t, m)
				gap := stall()
				if d >= 2.4 && d <= 2.9 {
					return
				}
				if gap > 250*time.Millisecond && attempt < 3 {
					t.Logf("SIGKILL sent %.3fs after SIGTERM while this test process itself went %v without running: measuring again", d, gap.Round(time.Millisecond))
					continue
				}
				t.Fatalf("SIGKILL sent %.3fs after SIGTERM, want 2.5s (grace 3s less the 0.5s margin); longest stall of this test process meanwhile %v", d, gap.Round(time.Millisecond))
			}
		})
	}
}

// killStubborn runs a process that ignores SIGTERM next to a polite one under
// graceful-init with grace 3s, sends SIGTERM, checks that the stubborn one
// was SIGKILLed and named and the polite one finished, and returns how long
// after SIGTERM the SIGKILL went out by graceful-init's own clock.
func killStubborn(t *testing.T, m mode) float64 {
	ev := newEvents(t)
	script := fmt.Sprintf("%s & %s & %s; wait", probe(ev, "stubborn", "-ignore", "TERM"), probe(ev, "polite"), waitReady(ev, 2))
	r := startInit(t, m, nil, "--grace-period=3s", "--", "/bin/sh", "-c", script)
	readyPrefixless(ev, 2)
	var pid string
	for _, l := range ev.lines() {
		if f := strings.Fields(l); len(f) >= 3 && f[0] == "stubborn" && f[1] == "ready" {
			pid = f[2]
		}
	}
	sent := time.Now()
	r.signal(syscall.SIGTERM)
	r.wait(10 * time.Second)
	took := time.Since(sent)
	// The init's own clock says when it sent SIGKILL; the wall time
	// seen from here also holds the test machine's scheduling delays.
	log := r.stderr.String()
	termAt, killAt := logTime(t, log, "signal TERM received"), logTime(t, log, "budget spent: SIGKILL pid "+pid+" (")
	t.Logf("grace 3s: SIGKILL sent %.3fs after SIGTERM arrived; graceful-init gone %.3fs after the test sent it", killAt-termAt, took.Seconds())
	if !regexp.MustCompile(`pid ` + pid + ` \(.*\) exited \(killed by SIGKILL\)`).MatchString(log) {
		t.Errorf("log does not show pid %s killed:\n%s", pid, log)
	}
	if !regexp.MustCompile(`SIGKILL pid ` + pid + ` \(` + loggedProbe("stubborn")).MatchString(log) {
		t.Errorf("log does not name pid %s and its command:\n%s", pid, log)
	}
	if !ev.has("polite done") {
		t.Errorf("the polite process did not finish: %v", ev.lines())
	}
	return killAt - termAt
}

// 6. With --drain-delay the app keeps running, then gets the stop signal.
func TestDrainDelay(t *testing.T) { forEachArch(t, drainDelay) }

func drainDelay(t *testing.T) {
	for _, m := range runnable() {
		t.Run(string(m), func(t *testing.T) {
			ev := newEvents(t)
			r := startInit(t, m, nil, "--drain-delay=2s", "--", probeBin, "trap", "-o", ev.path, "-name", "app")
			readyPrefixless(ev, 1)
			sent := time.Now()
			r.signal(syscall.SIGTERM)
			ev.waitFor(10*time.Second, "app got TERM")
			took := time.Since(sent)
			t.Logf("stop signal forwarded %.3fs after it arrived", took.Seconds())
			if took < 2*time.Second {
				t.Errorf("forwarded after %v, before the 2s drain delay", took)
			}
			if code := r.wait(10 * time.Second); code != 0 {
				t.Errorf("exit %d", code)
			}
		})
	}
}

// 7. 1,000 orphaned zombies are reaped, each logged with -w.
func TestReapsOrphanedZombies(t *testing.T) { forEachArch(t, reapsOrphanedZombies) }

func reapsOrphanedZombies(t *testing.T) {
	for _, m := range runnable() {
		t.Run(string(m), func(t *testing.T) {
			script := `i=0; while [ $i -lt 1000 ]; do (/bin/true &); i=$((i+1)); done`
			r := startInit(t, m, nil, "-w", "--", "/bin/sh", "-c", script)
			if code := r.wait(60 * time.Second); code != 0 {
				t.Fatalf("exit %d", code)
			}
			if n := strings.Count(r.stderr.String(), "reaped zombie pid"); n != 1000 {
				t.Errorf("%d zombies reaped and logged, want 1000", n)
			}
		})
	}
}

// 8. No lost status: every quick run exits with the child's code.
func TestNoLostExitStatus(t *testing.T) { forEachArch(t, noLostExitStatus) }

func noLostExitStatus(t *testing.T) {
	runs := map[mode]int{subreaper: 2000, pid1: 200}
	for _, m := range runnable() {
		t.Run(string(m), func(t *testing.T) {
			needMode(t, m)
			var bad atomic.Int32
			var wg sync.WaitGroup
			jobs := make(chan int)
			for w := 0; w < 4; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for range jobs {
						var cmd *exec.Cmd
						if m == pid1 {
							cmd = exec.Command("unshare", "--pid", "--fork", "--mount-proc", initBin, "--", "/bin/sh", "-c", "exit 7")
						} else {
							cmd = exec.Command(initBin, "--", "/bin/sh", "-c", "exit 7")
						}
						err := cmd.Run()
						if cmd.ProcessState == nil || cmd.ProcessState.ExitCode() != 7 {
							if bad.Add(1) < 5 {
								t.Errorf("run exited %v (%v), want 7", cmd.ProcessState, err)
							}
						}
					}
				}()
			}
			for i := 0; i < runs[m]; i++ {
				jobs <- i
			}
			close(jobs)
			wg.Wait()
			if n := bad.Load(); n > 0 {
				t.Errorf("%d of %d runs lost the exit status", n, runs[m])
			}
		})
	}
}

// 9. The child starts with the signal mask and ignored signals the init got.
// The child is grep, a C program: a Go child would report its own runtime's
// changes to the mask. Two cases: only SIGINT ignored, which the Go runtime
// leaves ignored, so the child is forked directly; and SIGUSR1, SIGPIPE and
// SIGCHLD ignored too, which the runtime handles and a forked child would
// get at SIG_DFL, so the child starts through the handoff re-exec. SIGTSTP is
// one the runtime leaves alone until it is caught.
func TestChildInheritsSignalState(t *testing.T) { forEachArch(t, childInheritsSignalState) }

func childInheritsSignalState(t *testing.T) {
	for _, tc := range []struct {
		name, ignore, block string
		ignored, blocked    uint64
		handoff             bool
	}{
		{"direct", "INT", "TERM", sigbit(syscall.SIGINT), sigbit(syscall.SIGTERM), false},
		{"handoff", "INT,USR1,PIPE,CHLD,TSTP", "TERM,USR2,HUP",
			sigbit(syscall.SIGINT) | sigbit(syscall.SIGUSR1) | sigbit(syscall.SIGPIPE) | sigbit(syscall.SIGCHLD) | sigbit(syscall.SIGTSTP),
			sigbit(syscall.SIGTERM) | sigbit(syscall.SIGUSR2) | sigbit(syscall.SIGHUP), true},
	} {
		for _, m := range runnable() {
			t.Run(tc.name+"/"+string(m), func(t *testing.T) {
				needMode(t, m)
				launch := []string{probeBin, "launch", "-ignore", tc.ignore, "-block", tc.block, "--", initBin, "-vvv", "--", "/bin/grep", "-E", "^Sig(Ign|Blk)", "/proc/self/status"}
				var cmd *exec.Cmd
				if m == pid1 {
					cmd = exec.Command("unshare", append([]string{"--pid", "--fork", "--mount-proc"}, launch...)...)
				} else {
					cmd = exec.Command(launch[0], launch[1:]...)
				}
				var stderr bytes.Buffer
				cmd.Stderr = &stderr
				out, err := cmd.Output()
				if err != nil {
					t.Fatalf("%v: %s%s", err, out, stderr.String())
				}
				got := strings.Join(strings.Fields(string(out)), " ")
				// The launcher adds its signals to what it inherited from
				// this test (which may already ignore, say, signal 32) and
				// sets the mask to exactly its own.
				wantIgn := fmt.Sprintf("SigIgn: %016x", (inheritedIgnored(t)|tc.ignored)&emulatorKeepsIgnored())
				wantBlk := fmt.Sprintf("SigBlk: %016x", tc.blocked)
				if !strings.Contains(got, wantIgn) || !strings.Contains(got, wantBlk) {
					t.Errorf("child's signal state: %s\nwant %s and %s", got, wantIgn, wantBlk)
				}
				if via := strings.Contains(stderr.String(), "through the handoff"); via != tc.handoff {
					t.Errorf("started through the handoff: %v, want %v; log:\n%s", via, tc.handoff, stderr.String())
				}
			})
		}
	}
}

func sigbit(s syscall.Signal) uint64 { return 1 << (s - 1) }

// 10. A SIGTERM in the first milliseconds is neither lost nor answered with
// the Go runtime's exit code 2. graceful-init catches SIGTERM from a package
// initialiser, before main; the test signals it the moment it reports (-vvv)
// that it started the child, and every run must end with the child killed by
// the forwarded TERM. The Go runtime's own start, before any Go code can
// catch anything, is measured by hack/bench-init.sh (docs/init.md).
func TestEarlySigterm(t *testing.T) { forEachArch(t, earlySigterm) }

func earlySigterm(t *testing.T) {
	for _, m := range runnable() {
		t.Run(string(m), func(t *testing.T) {
			counts := map[int]int{}
			var waited []time.Duration
			for i := 0; i < 100; i++ {
				r := startInit(t, m, nil, "-vvv", "--", "/bin/sleep", "5")
				// A deadline, so that a child that never starts fails the
				// test by name instead of hanging the suite (under qemu-user
				// its fork deadlock is caught sooner: forkhang_test.go).
				deadline := time.Now().Add(20 * time.Second)
				for !strings.Contains(r.stderr.String(), "started pid") {
					select {
					case <-r.done:
						t.Fatalf("graceful-init ended early (exit %d): %s", r.code, r.stderr.String())
					default:
					}
					if time.Now().After(deadline) {
						t.Fatalf("run %d: graceful-init did not log its child's start within 20 s (the child never reached its exec); log:\n%s", i, r.stderr.String())
					}
					time.Sleep(50 * time.Microsecond)
				}
				waited = append(waited, time.Since(r.found))
				r.signal(syscall.SIGTERM)
				counts[r.wait(20*time.Second)]++
			}
			slices.Sort(waited)
			t.Logf("100 runs signalled as soon as the child was started (median %v after exec): exit codes %v", waited[50], counts)
			for code, n := range counts {
				if code != 143 {
					t.Errorf("%d runs exited %d, want 143 (sleep killed by the forwarded TERM)", n, code)
				}
			}
		})
	}
}

// 11. tini-compatible flags and variables.
func TestParentDeathSignal(t *testing.T) {
	ev := newEvents(t)
	script := fmt.Sprintf("%s -p SIGUSR1 -- %s -exit-on USR1 & %s; exit 0", initBin, probe(ev, "child"), waitReady(ev, 1))
	if out, err := exec.Command("/bin/sh", "-c", script).CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	ev.waitFor(10*time.Second, "child got USR1", "child done")
}

func TestSubreaperFlags(t *testing.T) {
	for name, tc := range map[string]struct {
		env  []string
		args []string
	}{
		"-s":                        {args: []string{"-s"}},
		"TINI_SUBREAPER":            {env: []string{"TINI_SUBREAPER=1"}},
		"-g":                        {args: []string{"-g"}},
		"TINI_KILL_PROCESS_GROUP":   {env: []string{"TINI_KILL_PROCESS_GROUP=1"}},
		"-s -g -vv TINI_VERBOSITY=": {args: []string{"-sgvv"}, env: []string{"TINI_VERBOSITY=1"}},
	} {
		t.Run(name, func(t *testing.T) {
			ev := newEvents(t)
			// A double fork: the orphan is reparented to the subreaper, which
			// must stop it and wait for it after the shell exits.
			script := fmt.Sprintf("(%s &); %s; exit 0", probe(ev, "orphan", "-cleanup", "300ms"), waitReady(ev, 1))
			r := startInit(t, subreaper, tc.env, append(tc.args, "--", "/bin/sh", "-c", script)...)
			if code := r.wait(10 * time.Second); code != 0 {
				t.Fatalf("exit %d: %s", code, r.stderr.String())
			}
			if !ev.has("orphan done") {
				t.Errorf("orphan not stopped and waited for: %v", ev.lines())
			}
		})
	}
}

func TestVerbosity(t *testing.T) {
	ev := newEvents(t)
	r := startInit(t, subreaper, nil, "-v", "--", probeBin, "trap", "-o", ev.path, "-name", "p")
	readyPrefixless(ev, 1)
	r.signal(syscall.SIGUSR1)
	ev.waitFor(5*time.Second, "p got USR1")
	r.signal(syscall.SIGTERM)
	r.wait(10 * time.Second)
	if !strings.Contains(r.stderr.String(), "signal USR1 received, SIGUSR1 forwarded to group") {
		t.Errorf("-v does not log forwarded signals:\n%s", r.stderr.String())
	}

	ev = newEvents(t)
	r = startInit(t, subreaper, []string{"TINI_VERBOSITY=0"}, "--", probeBin, "trap", "-o", ev.path, "-name", "p")
	readyPrefixless(ev, 1)
	r.signal(syscall.SIGTERM)
	r.wait(10 * time.Second)
	if s := r.stderr.String(); s != "" {
		t.Errorf("TINI_VERBOSITY=0 still logs:\n%s", s)
	}
	if err := exec.Command(initBin, "--", "true").Run(); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(initBin, "--", "true").CombinedOutput()
	if err != nil || len(out) != 0 {
		t.Errorf("a quick clean run should be silent at the default verbosity: %q %v", out, err)
	}
	cmd := exec.Command(initBin, "--", "true")
	cmd.Env = append(os.Environ(), "TINI_VERBOSITY=loud")
	if out, _ := cmd.CombinedOutput(); cmd.ProcessState.ExitCode() == 0 || !strings.Contains(string(out), "TINI_VERBOSITY") {
		t.Errorf("bad TINI_VERBOSITY accepted: %s", out)
	}
}

func TestLicenseAndVersion(t *testing.T) {
	for args, want := range map[string]string{"-l": "Apache License", "--version": "graceful-init ", "version": "graceful-init "} {
		out, err := exec.Command(initBin, strings.Fields(args)...).CombinedOutput()
		if err != nil || !strings.Contains(string(out), want) {
			t.Errorf("%s: %v, output %q, want %q", args, err, out, want)
		}
	}
}

// 12. With a terminal on stdin the child's group is the foreground group.
func TestTTYForegroundGroup(t *testing.T) {
	ev := newEvents(t)
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer ptmx.Close()
	defer tty.Close()
	cmd := exec.Command(initBin, "--", probeBin, "trap", "-o", ev.path, "-name", "p")
	cmd.Stdin, cmd.Stdout = tty, tty
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	r := start(t, cmd, nil, subreaper)
	readyPrefixless(ev, 1)
	var childPgrp int
	for _, l := range ev.lines() {
		fmt.Sscanf(l, "p ready %d pgrp %d", new(int), &childPgrp)
	}
	fg, err := unix.IoctlGetInt(int(ptmx.Fd()), unix.TIOCGPGRP)
	if err != nil {
		t.Fatalf("TIOCGPGRP: %v", err)
	}
	if fg != childPgrp || fg == r.pid {
		t.Errorf("foreground group %d, want the child's group %d (graceful-init is %d)", fg, childPgrp, r.pid)
	}
	r.signal(syscall.SIGTERM)
	r.wait(10 * time.Second)
}

// 13. Exec failures and bad flags.
func TestExecFailures(t *testing.T) { forEachArch(t, execFailures) }

func execFailures(t *testing.T) {
	dir := t.TempDir()
	noexec := filepath.Join(dir, "noexec")
	if err := os.WriteFile(noexec, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	nointerp := filepath.Join(dir, "nointerp")
	if err := os.WriteFile(nointerp, []byte("#!/no/such/interpreter\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	garbage := filepath.Join(dir, "garbage")
	if err := os.WriteFile(garbage, []byte("neither ELF nor script\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		code int
		want []string
	}{
		{[]string{"--", garbage}, 126, []string{garbage, "exec format error"}},
		{[]string{"--", nointerp}, 127, []string{nointerp, "no such file"}},
		{[]string{"--", "no-such-program"}, 127, []string{`"no-such-program"`, "not found in PATH=/usr/bin:/bin"}},
		{[]string{"--", noexec}, 126, []string{noexec, "not executable"}},
		{[]string{"--", dir}, 126, []string{dir, "directory"}},
		{[]string{"--bogus", "true"}, 2, []string{"unknown flag --bogus", "usage:"}},
		{[]string{"-x"}, 2, []string{"unknown flag -x", "usage:"}},
		{[]string{"--grace-period=soon", "true"}, 2, []string{`--grace-period "soon"`}},
		{[]string{"--signal-map", "TERM=NOPE", "true"}, 2, []string{`unknown signal "NOPE"`}},
		{[]string{"-e", "300", "true"}, 2, []string{`-e "300"`}},
		{[]string{"-v"}, 2, []string{"no command"}},
		{[]string{"sh", "-c", "exit 5"}, 5, nil},
	} {
		for _, m := range runnable() {
			if !canRun(m) {
				continue
			}
			cmd := exec.Command(initBin, tc.args...)
			if m == pid1 {
				cmd = exec.Command("unshare", append([]string{"--pid", "--fork", "--mount-proc", initBin}, tc.args...)...)
			}
			cmd.Env = append(os.Environ(), "PATH=/usr/bin:/bin")
			out, _ := cmd.CombinedOutput()
			if got := cmd.ProcessState.ExitCode(); got != tc.code {
				t.Errorf("%s %v: exit %d, want %d; output %s", m, tc.args, got, tc.code, out)
			}
			for _, w := range tc.want {
				if !strings.Contains(string(out), w) {
					t.Errorf("%s %v: output %q does not say %q", m, tc.args, out, w)
				}
			}
		}
	}
	// The same exec failures when the child starts through the signal
	// handoff (SIGUSR1 inherited ignored): the exec then fails in the re-exec.
	for _, tc := range []struct {
		prog string
		code int
		want []string
	}{
		{garbage, 126, []string{garbage, "exec format error"}},
		{nointerp, 127, []string{nointerp, "no such file"}},
		{"no-such-program", 127, []string{`"no-such-program"`, "not found in PATH=/usr/bin:/bin"}},
	} {
		cmd := exec.Command(probeBin, "launch", "-ignore", "USR1", "--", initBin, "-vvv", "--", tc.prog)
		if !canRun(subreaper) {
			cmd = exec.Command("unshare", append([]string{"--pid", "--fork", "--mount-proc"}, cmd.Args...)...)
		}
		cmd.Env = append(os.Environ(), "PATH=/usr/bin:/bin")
		out, _ := cmd.CombinedOutput()
		if got := cmd.ProcessState.ExitCode(); got != tc.code {
			t.Errorf("handoff %s: exit %d, want %d; output %s", tc.prog, got, tc.code, out)
		}
		for _, w := range tc.want {
			if !strings.Contains(string(out), w) {
				t.Errorf("handoff %s: output %q does not say %q", tc.prog, out, w)
			}
		}
	}
}

// 14. install DEST copies the executable atomically, mode 0555, runnable by
// any UID; clear errors otherwise.
func TestInstall(t *testing.T) {
	dir, err := os.MkdirTemp("", "graceful-install")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if err := os.Chmod(dir, 0o755); err != nil { // let UID 65532 in
		t.Fatal(err)
	}
	dest := filepath.Join(dir, "graceful-init")
	for i := 0; i < 2; i++ { // twice: the second run replaces the first copy
		if out, err := exec.Command(initBin, "install", dest).CombinedOutput(); err != nil {
			t.Fatalf("install #%d: %v: %s", i+1, err, out)
		}
	}
	fi, err := os.Stat(dest)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o555 || !fi.Mode().IsRegular() {
		t.Errorf("installed mode %v, want -r-xr-xr-x", fi.Mode())
	}
	want, _ := os.ReadFile(initBin)
	got, _ := os.ReadFile(dest)
	if string(want) != string(got) {
		t.Errorf("installed file differs from the executable")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("leftover files next to the installed one: %v", entries)
	}
	cmd := exec.Command(dest, "--", "/bin/sh", "-c", "id -u; exit 4")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65532, Gid: 65532}}
	out, _ := cmd.Output()
	if cmd.ProcessState.ExitCode() != 4 || strings.TrimSpace(string(out)) != "65532" {
		t.Errorf("installed copy run as UID 65532: exit %d, output %q", cmd.ProcessState.ExitCode(), out)
	}

	out, err = exec.Command(initBin, "install", "/nonexistent/dir/graceful-init").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "/nonexistent/dir") || !strings.Contains(string(out), "no such file") {
		t.Errorf("missing folder: %v %s", err, out)
	}
	ro := filepath.Join(dir, "ro")
	if err := os.Mkdir(ro, 0o755); err != nil {
		t.Fatal(err)
	}
	script := fmt.Sprintf("mount -t tmpfs -o ro tmpfs %s && exec %s install %s/graceful-init", ro, initBin, ro)
	out, err = exec.Command("unshare", "--mount", "/bin/sh", "-c", script).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "read-only file system") || !strings.Contains(string(out), ro) {
		t.Errorf("read-only folder: %v %s", err, out)
	}
	out, err = exec.Command(initBin, "install").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "destination") {
		t.Errorf("install without DEST: %v %s", err, out)
	}
}

// inheritedIgnored is the SigIgn mask of this test process: signals ignored
// by whoever started the tests (the Go runtime keeps the ones it has no
// handler for, such as 32, ignored).
func inheritedIgnored(t *testing.T) uint64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	return statusMask(t, b, "SigIgn:")
}

// logTime returns the "+S.SSSs" time of graceful-init's first log line that
// contains what.
func logTime(t *testing.T, log, what string) float64 {
	t.Helper()
	for _, l := range strings.Split(log, "\n") {
		if !strings.Contains(l, what) {
			continue
		}
		if d, ok := supervisor.LogTime(l); ok {
			return d.Seconds()
		}
	}
	t.Fatalf("no log line with %q:\n%s", what, log)
	return 0
}
