// Command benchinit measures container inits side by side, each as PID 1 of a
// fresh PID namespace (unshare --pid --fork --mount-proc, root needed):
// startup, signal-forward latency, reaping orphans, peak RSS, binary size,
// and the "seed scenario" shutdown. hack/bench-init.sh builds and runs it;
// docs/benchmarks.md holds a run's results.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// initDef says how to run CMD under one init.
type initDef struct {
	name string
	path string
	argv func(path string, cmd []string) []string
}

func dashdash(extra ...string) func(string, []string) []string {
	return func(p string, cmd []string) []string {
		return append(append(append([]string{p}, extra...), "--"), cmd...)
	}
}

func main() {
	graceful := flag.String("graceful-init", "bin/graceful-init", "graceful-init binary")
	probe := flag.String("probe", "bin/benchprobe", "the C probe (hack/benchinit/probe/probe.c)")
	nStart := flag.Int("n-start", 300, "startup runs per init")
	nSig := flag.Int("n-signal", 2000, "signals per init for the forward latency")
	orphans := flag.Int("orphans", 10000, "orphans to reap")
	reapRuns := flag.Int("reap-runs", 3, "reaping runs per init (median reported)")
	seed := flag.Bool("seed", true, "also time the seed scenario (graceful-init vs tini -g)")
	flag.Parse()

	inits := []initDef{
		{"graceful-init", *graceful, dashdash()},
		{"tini", "/usr/bin/tini", dashdash()},
		{"dumb-init", "/usr/bin/dumb-init", func(p string, cmd []string) []string { return append([]string{p}, cmd...) }},
		{"catatonit", "/usr/bin/catatonit", dashdash()},
	}
	for _, in := range inits {
		if _, err := os.Stat(in.path); err != nil {
			fail(fmt.Errorf("%s: %w (run hack/bench-init.sh, which installs and builds what is needed)", in.name, err))
		}
	}
	if os.Geteuid() != 0 {
		fail(fmt.Errorf("needs root: it creates PID namespaces"))
	}

	fmt.Printf("# graceful-init benchmarks, %s, %d CPUs\n\n", time.Now().UTC().Format("2006-01-02"), numCPU())
	base := startup(nil, *nStart)
	fmt.Printf("baseline `unshare --pid --fork --mount-proc /bin/true`: p50 %s, p99 %s\n\n", ms(pct(base, 50)), ms(pct(base, 99)))
	fmt.Println("| init | startup p50 (over baseline) | startup p99 | forward latency p50 | p99 | reap 10k orphans | peak RSS | binary |")
	fmt.Println("|---|---|---|---|---|---|---|---|")
	for _, in := range inits {
		st := startup(&in, *nStart)
		lat, rss := latency(in, *probe, *nSig)
		var reaps []time.Duration
		for i := 0; i < *reapRuns; i++ {
			reaps = append(reaps, reap(in, *probe, *orphans))
		}
		fi, _ := os.Stat(in.path)
		fmt.Printf("| %s | %s (+%s) | %s | %s | %s | %s | %s | %s |\n", in.name,
			ms(pct(st, 50)), ms(pct(st, 50)-pct(base, 50)), ms(pct(st, 99)),
			ms(pct(lat, 50)), ms(pct(lat, 99)), ms(pct(reaps, 50)), kib(rss), kib(fi.Size()/1024))
	}
	fmt.Println("\nEarly SIGTERM: sent that long after the init's execve is visible, 50 runs each, child `sleep 1`: forwarded (exit 143) / the Go runtime's exit 2 / lost (the child ran to the end).")
	fmt.Println()
	fmt.Println("| init | 0 | 250 µs | 500 µs | 1 ms | 2 ms |")
	fmt.Println("|---|---|---|---|---|---|")
	for _, in := range inits[:2] {
		fmt.Printf("| %s |", in.name)
		for _, d := range []time.Duration{0, 250 * time.Microsecond, 500 * time.Microsecond, time.Millisecond, 2 * time.Millisecond} {
			f, two, lost := early(in, d, 50)
			fmt.Printf(" %d / %d / %d |", f, two, lost)
		}
		fmt.Println()
	}
	if *seed {
		fmt.Println("\nSeed scenario: a shell as the main process starts a worker and a setsid daemon; each needs 1 s of cleanup after SIGTERM; grace period 10 s (SIGKILL to PID 1 at 10 s, as the kubelet).")
		fmt.Println()
		fmt.Println("| PID 1 | total | worker finished cleanup | daemon finished cleanup | SIGKILLed at 10 s |")
		fmt.Println("|---|---|---|---|---|")
		for _, c := range []struct {
			name string
			argv []string
		}{
			{"graceful-init --grace-period=10s", []string{*graceful, "--grace-period=10s", "--"}},
			{"tini -g", []string{"/usr/bin/tini", "-g", "--"}},
			{"sh (no init)", nil},
		} {
			r := seedScenario(c.argv)
			fmt.Printf("| %s | %s | %v | %v | %v |\n", c.name, ms(r.total), r.workerDone, r.daemonDone, r.killed)
		}
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "benchinit:", err)
	os.Exit(1)
}

func numCPU() int {
	b, _ := os.ReadFile("/proc/cpuinfo")
	return strings.Count(string(b), "processor\t:")
}

func unshareArgs(argv []string) []string {
	return append([]string{"--pid", "--fork", "--mount-proc"}, argv...)
}

// startup times `unshare ... INIT -- /bin/true` (or /bin/true alone for nil).
func startup(in *initDef, n int) []time.Duration {
	cmd := []string{"/bin/true"}
	if in != nil {
		cmd = in.argv(in.path, cmd)
	}
	var d []time.Duration
	for i := 0; i < n; i++ {
		c := exec.Command("unshare", unshareArgs(cmd)...)
		start := time.Now()
		if err := c.Run(); err != nil {
			fail(fmt.Errorf("startup %v: %w", cmd, err))
		}
		d = append(d, time.Since(start))
	}
	return d
}

// pid1 finds the init forked by unshare: its only child.
func pid1(unsharePID int) int {
	for i := 0; i < 5000; i++ {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", unsharePID, unsharePID))
		if f := strings.Fields(string(b)); len(f) > 0 {
			pid, _ := strconv.Atoi(f[0])
			return pid
		}
		time.Sleep(time.Millisecond)
	}
	fail(fmt.Errorf("unshare %d forked no child", unsharePID))
	return 0
}

func monoNS() int64 {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return ts.Nano()
}

// latency sends SIGUSR1 to the init n times and times until the child's
// handler runs (the probe prints CLOCK_MONOTONIC from the handler). It also
// returns the init's peak RSS in KiB.
func latency(in initDef, probe string, n int) ([]time.Duration, int64) {
	c := exec.Command("unshare", unshareArgs(in.argv(in.path, []string{probe, "latency"}))...)
	out, err := c.StdoutPipe()
	if err != nil {
		fail(err)
	}
	if err := c.Start(); err != nil {
		fail(err)
	}
	pid := pid1(c.Process.Pid)
	r := bufio.NewReader(out)
	if l, err := r.ReadString('\n'); err != nil || l != "ready\n" {
		fail(fmt.Errorf("%s: probe not ready: %q %v", in.name, l, err))
	}
	var d []time.Duration
	for i := 0; i < n; i++ {
		t0 := monoNS()
		if err := syscall.Kill(pid, syscall.SIGUSR1); err != nil {
			fail(err)
		}
		l, err := r.ReadString('\n')
		if err != nil {
			fail(fmt.Errorf("%s: %w", in.name, err))
		}
		t1, _ := strconv.ParseInt(strings.TrimSpace(l), 10, 64)
		d = append(d, time.Duration(t1-t0))
	}
	rss := vmHWM(pid)
	_ = syscall.Kill(pid, syscall.SIGKILL)
	_, _ = io.Copy(io.Discard, r)
	_ = c.Wait()
	return d, rss
}

func vmHWM(pid int) int64 {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return -1
}

// reap times how long the init takes to reap n orphans (measured by the probe).
func reap(in initDef, probe string, n int) time.Duration {
	c := exec.Command("unshare", unshareArgs(in.argv(in.path, []string{probe, "orphans", strconv.Itoa(n)}))...)
	out, err := c.Output()
	if err != nil {
		fail(fmt.Errorf("%s reap: %w", in.name, err))
	}
	ns, err := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64)
	if err != nil {
		fail(fmt.Errorf("%s reap: %q", in.name, out))
	}
	return time.Duration(ns)
}

type seedResult struct {
	total                          time.Duration
	workerDone, daemonDone, killed bool
}

// seedScenario stops a shell with a worker and a setsid daemon the way the
// kubelet does, with grace period 10 s, under the given PID 1 prefix.
func seedScenario(prefix []string) seedResult {
	dir, err := os.MkdirTemp("", "benchinit-seed")
	if err != nil {
		fail(err)
	}
	defer os.RemoveAll(dir)
	log := filepath.Join(dir, "log")
	job := filepath.Join(dir, "job.sh")
	_ = os.WriteFile(job, []byte(`name=$1 log=$2
trap 'echo "$name got-SIGTERM" >>"$log"; sleep 1; echo "$name cleanup-done" >>"$log"; exit 0' TERM
echo "$name running" >>"$log"
while :; do sleep 0.05; done
`), 0o644)
	script := fmt.Sprintf("sh %s worker %s & setsid sh %s daemon %s & wait", job, log, job, log)
	argv := append(slices.Clone(prefix), "/bin/sh", "-c", script)
	c := exec.Command("unshare", unshareArgs(argv)...)
	if err := c.Start(); err != nil {
		fail(err)
	}
	pid := pid1(c.Process.Pid)
	for i := 0; i < 1000; i++ {
		b, _ := os.ReadFile(log)
		if strings.Count(string(b), "running") >= 2 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	done := make(chan struct{})
	go func() { _ = c.Wait(); close(done) }()
	start := time.Now()
	_ = syscall.Kill(pid, syscall.SIGTERM)
	var r seedResult
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(pid, syscall.SIGKILL)
		r.killed = true
		<-done
	}
	r.total = time.Since(start)
	b, _ := os.ReadFile(log)
	r.workerDone = strings.Contains(string(b), "worker cleanup-done")
	r.daemonDone = strings.Contains(string(b), "daemon cleanup-done")
	return r
}

// early sends SIGTERM d after the init's exec is visible, n times, and
// counts: forwarded (the child, sleep 1, died of it: 143), the Go runtime's
// exit 2, and lost (the child slept to the end: 0).
func early(in initDef, d time.Duration, n int) (forwarded, exit2, lost int) {
	for i := 0; i < n; i++ {
		c := exec.Command("unshare", unshareArgs(in.argv(in.path, []string{"/bin/sleep", "1"}))...)
		if err := c.Start(); err != nil {
			fail(err)
		}
		pid := 0
		for ; pid == 0; time.Sleep(20 * time.Microsecond) {
			b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", c.Process.Pid, c.Process.Pid))
			if f := strings.Fields(string(b)); len(f) > 0 {
				p, _ := strconv.Atoi(f[0])
				if exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", p)); exe == in.path {
					pid = p
				}
			}
		}
		time.Sleep(d)
		_ = syscall.Kill(pid, syscall.SIGTERM)
		_ = c.Wait()
		switch c.ProcessState.ExitCode() {
		case 143:
			forwarded++
		case 2:
			exit2++
		case 0:
			lost++
		}
	}
	return forwarded, exit2, lost
}

// pct returns the p-th percentile.
func pct(d []time.Duration, p int) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	i := (len(s) - 1) * p / 100
	return s[i]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.3f ms", float64(d)/1e6) }

func kib(k int64) string {
	if k >= 1024 {
		return fmt.Sprintf("%.2f MiB", float64(k)/1024)
	}
	return fmt.Sprintf("%d KiB", k)
}
