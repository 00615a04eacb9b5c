// Command benchinit measures container inits side by side, each as PID 1 of a
// fresh PID namespace (unshare --pid --fork --mount-proc, root needed), which
// is how a container runtime starts them: startup, signal-forward latency,
// reaping orphans, peak RSS, binary size, and the "seed scenario" shutdown.
// Measurements alternate between the inits so that a machine shared with
// other work slows every init alike. Every wait is bounded. hack/bench-init.sh
// builds and runs it; docs/benchmarks.md explains and records a run.
package main

import (
	"bufio"
	"debug/elf"
	"errors"
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

// initDef says how to run a command under one init.
type initDef struct {
	name string
	path string
	argv func(path string, cmd []string) []string
	env  []string // added to the environment, for diagnostic variants
}

func dashdash(p string, cmd []string) []string {
	return append([]string{p, "--"}, cmd...)
}

// results of one init.
type results struct {
	startup []time.Duration
	latency []time.Duration
	reap    []time.Duration
	rssKiB  int64
	lost    int // namespaces where the first signal, sent as soon as the child ran, was lost
	starts  int // namespaces started for the latency runs
}

func main() {
	graceful := flag.String("graceful-init", "bin/graceful-init", "graceful-init binary")
	probe := flag.String("probe", "bin/benchprobe", "the C probe built from hack/benchinit/probe/probe.c")
	nStart := flag.Int("n-start", 300, "startup runs per init")
	nSig := flag.Int("n-signal", 4000, "signals per init for the forward latency")
	rounds := flag.Int("rounds", 4, "fresh namespaces per init over which the signals are spread")
	orphans := flag.Int("orphans", 10000, "orphans to reap")
	reapRuns := flag.Int("reap-runs", 5, "reaping runs per init (median reported)")
	seed := flag.Bool("seed", true, "also time the seed scenario")
	nEarly := flag.Int("n-early", 50, "extra namespaces per init that only test whether the first signal is lost")
	variant := flag.Bool("gomaxprocs1", false, "also measure graceful-init with GOMAXPROCS=1 (a diagnostic row)")
	flag.Parse()
	if *nStart < 1 || *nSig < *rounds || *rounds < 1 || *orphans < 1 || *reapRuns < 1 || *nEarly < 0 {
		fail(errors.New("-n-start, -rounds, -orphans and -reap-runs must be at least 1, -n-signal at least -rounds, -n-early not negative"))
	}
	if os.Geteuid() != 0 {
		fail(errors.New("needs root: it creates PID namespaces"))
	}

	inits := []initDef{
		{"graceful-init", *graceful, dashdash, nil},
		{"tini", "/usr/bin/tini", dashdash, nil},
		{"tini-static", "/usr/bin/tini-static", dashdash, nil},
		{"dumb-init", "/usr/bin/dumb-init", func(p string, cmd []string) []string { return append([]string{p}, cmd...) }, nil},
		{"catatonit", "/usr/bin/catatonit", dashdash, nil},
	}
	if *variant {
		inits = append(inits, initDef{"graceful-init GOMAXPROCS=1", *graceful, dashdash, []string{"GOMAXPROCS=1"}})
	}
	for _, p := range []string{*probe, "/bin/true"} {
		if _, err := os.Stat(p); err != nil {
			fail(fmt.Errorf("%w (hack/bench-init.sh builds the probe)", err))
		}
	}
	for _, in := range inits {
		if _, err := os.Stat(in.path); err != nil {
			fail(fmt.Errorf("%s: %w (hack/bench-init.sh installs and builds every init)", in.name, err))
		}
	}

	header()
	res := make([]results, len(inits))
	progress("startup: %d rounds of bare true and each init", *nStart)
	var base []time.Duration
	for i := 0; i < *nStart; i++ {
		base = append(base, startupOnce(nil))
		for j := range inits {
			res[j].startup = append(res[j].startup, startupOnce(&inits[j]))
		}
	}
	progress("signal-forward latency: %d SIGUSR1 per init in %d namespaces each", *nSig, *rounds)
	for r := 0; r < *rounds; r++ {
		for j, in := range inits {
			lat, rss, dropped := latency(in, *probe, *nSig / *rounds)
			res[j].latency = append(res[j].latency, lat...)
			res[j].rssKiB = max(res[j].rssKiB, rss)
			res[j].starts++
			if dropped > 0 {
				res[j].lost++
			}
		}
	}
	progress("first signal after the child starts: %d namespaces per init", *nEarly)
	for r := 0; r < *nEarly; r++ {
		for j, in := range inits {
			_, _, dropped := latency(in, *probe, 0)
			res[j].starts++
			if dropped > 0 {
				res[j].lost++
			}
		}
	}
	progress("reaping: %d runs of %d orphans per init", *reapRuns, *orphans)
	for r := 0; r < *reapRuns; r++ {
		for j, in := range inits {
			d, rss := reap(in, *probe, *orphans)
			res[j].reap = append(res[j].reap, d)
			res[j].rssKiB = max(res[j].rssKiB, rss)
		}
	}

	fmt.Printf("\n### Startup: `unshare --pid --fork --mount-proc INIT -- /bin/true`, %d runs each\n\n", *nStart)
	fmt.Println("| PID 1 | mean | p50 | p99 | p50 over bare `true` |")
	fmt.Println("|---|---|---|---|---|")
	fmt.Printf("| bare `/bin/true` | %s | %s | %s | |\n", ms(mean(base)), ms(pct(base, 50)), ms(pct(base, 99)))
	for j, in := range inits {
		s := res[j].startup
		fmt.Printf("| %s | %s | %s | %s | %+.3f ms |\n", in.name, ms(mean(s)), ms(pct(s, 50)), ms(pct(s, 99)), msf(pct(s, 50)-pct(base, 50)))
	}

	fmt.Printf("\n### Signal forwarding, reaping, memory, size\n\n")
	fmt.Printf("Latency: kill(init, SIGUSR1) to the child's handler, %d samples; \"first signal lost\": in how many fresh namespaces the init lost the first SIGUSR1, sent as soon as the child printed its first line. Reaping: %d zombie orphans handed to the init at once until the last is reaped, median of %d runs (min–max). RSS: the init's VmHWM after those runs.\n\n", *nSig, *orphans, *reapRuns)
	fmt.Println("| init | forward p50 | forward p99 | first signal lost | reap | peak RSS | binary | linking |")
	fmt.Println("|---|---|---|---|---|---|---|---|")
	for j, in := range inits {
		r := res[j]
		size, link := binary(in.path)
		fmt.Printf("| %s | %s | %s | %d of %d | %s (%s–%s) | %s | %s | %s |\n", in.name,
			us(pct(r.latency, 50)), us(pct(r.latency, 99)), r.lost, r.starts,
			ms(pct(r.reap, 50)), ms(slices.Min(r.reap)), ms(slices.Max(r.reap)),
			kib(r.rssKiB), kib(size/1024), link)
	}

	g, t := res[0], res[1]
	gSize, _ := binary(inits[0].path)
	fmt.Printf("\n### Targets (graceful-init against tini, same run)\n\n")
	fmt.Println("| target | graceful-init | tini | result |")
	fmt.Println("|---|---|---|---|")
	target("forward latency p99 ≤ tini + 0.5 ms", us(pct(g.latency, 99)), us(pct(t.latency, 99)),
		pct(g.latency, 99) <= pct(t.latency, 99)+500*time.Microsecond,
		fmt.Sprintf("%+.3f ms", msf(pct(g.latency, 99)-pct(t.latency, 99))))
	target("reaping no slower than tini (medians)", ms(pct(g.reap, 50)), ms(pct(t.reap, 50)),
		pct(g.reap, 50) <= pct(t.reap, 50),
		fmt.Sprintf("%.2f× tini", float64(pct(g.reap, 50))/float64(pct(t.reap, 50))))
	target("startup p50 ≤ tini + 2 ms", ms(pct(g.startup, 50)), ms(pct(t.startup, 50)),
		pct(g.startup, 50) <= pct(t.startup, 50)+2*time.Millisecond,
		fmt.Sprintf("%+.3f ms", msf(pct(g.startup, 50)-pct(t.startup, 50))))
	target("peak RSS ≤ 4 MB", kib(g.rssKiB), kib(t.rssKiB), g.rssKiB*1024 <= 4e6, "")
	target("binary ≤ 2.5 MB", kib(gSize/1024), "", gSize <= 2.5e6, "static, stripped")

	if l := load1(); l > 2*float64(nproc()) {
		fmt.Printf("\nThe machine is loaded (load average %.1f on %d CPUs): the p99 and startup verdicts measure its scheduler as much as the inits; compare runs before trusting one.\n", l, nproc())
	}
	if *seed {
		seedTable(*graceful)
	}
	fmt.Printf("\nload average at the end: %s\n", loadavg())
}

func header() {
	var u unix.Utsname
	_ = unix.Uname(&u)
	fmt.Printf("## graceful-init benchmark run, %s\n\n", time.Now().UTC().Format("2006-01-02 15:04 MST"))
	fmt.Printf("- kernel %s, %d CPUs (nproc), load average at the start: %s\n", unix.ByteSliceToString(u.Release[:]), nproc(), loadavg())
	if out, err := exec.Command("dpkg-query", "-W", "-f", "${Package} ${Version}, ", "tini", "dumb-init", "catatonit").Output(); err == nil {
		fmt.Printf("- Debian packages: %s\n", strings.TrimSuffix(string(out), ", "))
	}
	if b, err := os.ReadFile("/proc/self/stat"); err == nil {
		// Field 19 is the nice value; the command name before it may hold spaces.
		if f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:])); len(f) > 17 {
			fmt.Printf("- harness and inits ran at nice %s\n", f[16])
		}
	}
	if out, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output(); err == nil {
		fmt.Printf("- graceful-init from commit %s\n", strings.TrimSpace(string(out)))
	}
}

func target(name, g, t string, ok bool, note string) {
	verdict := "pass"
	if !ok {
		verdict = "**FAIL**"
	}
	if note != "" {
		verdict += " (" + note + ")"
	}
	fmt.Printf("| %s | %s | %s | %s |\n", name, g, t, verdict)
}

func progress(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "benchinit: "+format+"\n", a...)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "benchinit:", err)
	os.Exit(1)
}

func nproc() int {
	var s unix.CPUSet
	if err := unix.SchedGetaffinity(0, &s); err != nil {
		return -1
	}
	return s.Count()
}

func load1() float64 {
	l, _ := strconv.ParseFloat(strings.Fields(loadavg() + " 0")[0], 64)
	return l
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// inNamespace returns the command that runs argv as PID 1 of a new PID
// namespace, killed with the harness.
func inNamespace(argv []string, env ...string) *exec.Cmd {
	c := exec.Command("unshare", append([]string{"--pid", "--fork", "--mount-proc", "--kill-child"}, argv...)...)
	c.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if len(env) > 0 {
		c.Env = append(os.Environ(), env...)
	}
	return c
}

// startupOnce times one `unshare ... INIT -- /bin/true` (bare /bin/true for nil).
func startupOnce(in *initDef) time.Duration {
	cmd, env := []string{"/bin/true"}, []string(nil)
	if in != nil {
		cmd, env = in.argv(in.path, cmd), in.env
	}
	c := inNamespace(cmd, env...)
	start := time.Now()
	if err := c.Run(); err != nil {
		fail(fmt.Errorf("startup %v: %w", cmd, err))
	}
	return time.Since(start)
}

// pid1 finds the init that unshare forked: its only child.
func pid1(unsharePID int) int {
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", unsharePID, unsharePID))
		if f := strings.Fields(string(b)); len(f) > 0 {
			pid, _ := strconv.Atoi(f[0])
			return pid
		}
	}
	fail(fmt.Errorf("unshare %d forked no child within 5 s", unsharePID))
	return 0
}

func monoNS() int64 {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return ts.Nano()
}

// lineReader reads lines from a pipe, each within a deadline.
type lineReader struct {
	f *os.File
	r *bufio.Reader
}

func (l lineReader) line(timeout time.Duration) (string, error) {
	_ = l.f.SetReadDeadline(time.Now().Add(timeout))
	s, err := l.r.ReadString('\n')
	return strings.TrimSuffix(s, "\n"), err
}

// start runs argv in a new namespace with its stdout (and, when in is not
// nil, its stdin) on pipes.
func start(argv []string, in bool, env []string) (*exec.Cmd, lineReader, *os.File) {
	c := inNamespace(argv, env...)
	r, w, err := os.Pipe()
	if err != nil {
		fail(fmt.Errorf("stdout pipe: %w", err))
	}
	c.Stdout, c.Stderr = w, os.Stderr
	var stdin *os.File
	if in {
		ir, iw, err := os.Pipe()
		if err != nil {
			fail(fmt.Errorf("stdin pipe: %w", err))
		}
		c.Stdin, stdin = ir, iw
		defer ir.Close()
	}
	if err := c.Start(); err != nil {
		fail(fmt.Errorf("start %v: %w", argv, err))
	}
	w.Close()
	return c, lineReader{r, bufio.NewReader(r)}, stdin
}

// latency sends SIGUSR1 to the init n times, each after the previous one
// arrived, and times until the child's handler runs (the probe prints
// CLOCK_MONOTONIC from the handler). It also returns the init's VmHWM in KiB
// and how many signals sent as soon as the child ran were lost before one
// arrived (each retried after 200 ms of silence).
func latency(in initDef, probe string, n int) ([]time.Duration, int64, int) {
	c, r, _ := start(in.argv(in.path, []string{probe, "latency"}), false, in.env)
	defer func() { _ = c.Process.Kill(); _ = c.Wait(); r.f.Close() }()
	pid := pid1(c.Process.Pid)
	if l, err := r.line(10 * time.Second); err != nil || l != "ready" {
		fail(fmt.Errorf("%s: probe not ready: %q %v", in.name, l, err))
	}
	// The first signal goes out as soon as the child runs: an init that is
	// not yet catching it loses it (tries after 200 ms of silence).
	dropped := 0
	for ; ; dropped++ {
		if dropped == 25 {
			fail(fmt.Errorf("%s: 25 SIGUSR1 in 5 s, none forwarded", in.name))
		}
		if err := syscall.Kill(pid, syscall.SIGUSR1); err != nil {
			fail(fmt.Errorf("%s: kill: %w", in.name, err))
		}
		if _, err := r.line(200 * time.Millisecond); err == nil {
			break
		}
	}
	d := make([]time.Duration, 0, n)
	for i := 0; i < n; i++ {
		time.Sleep(100 * time.Microsecond) // let the init go back to sleep
		t0 := monoNS()
		if err := syscall.Kill(pid, syscall.SIGUSR1); err != nil {
			fail(fmt.Errorf("%s: kill: %w", in.name, err))
		}
		l, err := r.line(5 * time.Second)
		if err != nil {
			fail(fmt.Errorf("%s: signal %d not forwarded within 5 s: %w", in.name, i, err))
		}
		t1, err := strconv.ParseInt(l, 10, 64)
		if err != nil {
			fail(fmt.Errorf("%s: probe printed %q", in.name, l))
		}
		d = append(d, time.Duration(t1-t0))
	}
	return d, vmHWM(pid), dropped
}

func vmHWM(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		fail(fmt.Errorf("peak RSS of %d: %w", pid, err))
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				fail(fmt.Errorf("VmHWM of %d: %q", pid, v))
			}
			return n
		}
	}
	fail(fmt.Errorf("no VmHWM in /proc/%d/status", pid))
	return 0
}

// reap times how long the init takes to reap n orphans (the probe measures
// it) and returns the init's VmHWM in KiB afterwards.
func reap(in initDef, probe string, n int) (time.Duration, int64) {
	c, r, stdin := start(in.argv(in.path, []string{probe, "orphans", strconv.Itoa(n)}), true, in.env)
	defer func() { stdin.Close(); _ = c.Wait(); r.f.Close() }()
	pid := pid1(c.Process.Pid)
	l, err := r.line(90 * time.Second)
	if err != nil {
		_ = c.Process.Kill()
		fail(fmt.Errorf("%s reap: no result within 90 s: %w", in.name, err))
	}
	ns, err := strconv.ParseInt(l, 10, 64)
	if err != nil {
		fail(fmt.Errorf("%s reap: probe printed %q", in.name, l))
	}
	return time.Duration(ns), vmHWM(pid)
}

// binary returns a file's size and how it is linked.
func binary(path string) (int64, string) {
	fi, err := os.Stat(path)
	if err != nil {
		fail(err)
	}
	f, err := elf.Open(path)
	if err != nil {
		fail(fmt.Errorf("%s: %w", path, err))
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			libs, _ := f.ImportedLibraries()
			return fi.Size(), "dynamic (" + strings.Join(libs, ", ") + ")"
		}
	}
	return fi.Size(), "static"
}

const seedJob = `name=$1 log=$2
trap 'echo "$name got-SIGTERM" >>"$log"; sleep 1; echo "$name cleanup-done" >>"$log"; exit 0' TERM
echo "$name running" >>"$log"
while :; do sleep 0.05; done
`

type seedResult struct {
	total        time.Duration
	termed, done [2]bool // worker, daemon
	killed       bool
}

func seedTable(graceful string) {
	fmt.Println("\n### Seed scenario: shell as the main process with a worker and a setsid daemon, grace period 10 s")
	fmt.Println()
	fmt.Println("`sh -c 'sh job.sh worker & setsid sh job.sh daemon & wait'`; each job traps TERM and needs 1 s of cleanup; its trap logs first, but a shell runs a trap only when its foreground command (a 50 ms sleep) ends, so a job killed within that moment never logs. SIGTERM goes to PID 1; if the namespace still exists after 10 s, PID 1 gets SIGKILL as the kubelet would send it, and the kernel kills the rest. The total ends when the namespace is empty.")
	fmt.Println()
	fmt.Println("| PID 1 | total | worker: TERM trap ran / cleanup finished | daemon: TERM trap ran / cleanup finished | SIGKILLed at 10 s |")
	fmt.Println("|---|---|---|---|---|")
	for _, c := range []struct {
		name   string
		prefix []string
	}{
		{"graceful-init --grace-period=10s", []string{graceful, "--grace-period=10s", "--"}},
		{"tini -g", []string{"/usr/bin/tini", "-g", "--"}},
		{"tini", []string{"/usr/bin/tini", "--"}},
		{"sh (no init)", nil},
	} {
		progress("seed scenario under %s", c.name)
		r := seedScenario(c.prefix)
		fmt.Printf("| %s | %s | %s / %s | %s / %s | %s |\n", c.name, ms(r.total),
			yes(r.termed[0]), yes(r.done[0]), yes(r.termed[1]), yes(r.done[1]), yes(r.killed))
	}
}

// seedScenario stops the seed workload the way the kubelet does, with grace
// period 10 s, under the given PID 1 prefix (nil: the shell is PID 1).
func seedScenario(prefix []string) seedResult {
	dir, err := os.MkdirTemp("", "benchinit-seed")
	if err != nil {
		fail(err)
	}
	defer os.RemoveAll(dir)
	log := filepath.Join(dir, "log")
	job := filepath.Join(dir, "job.sh")
	if err := os.WriteFile(job, []byte(seedJob), 0o644); err != nil {
		fail(err)
	}
	script := fmt.Sprintf("sh %s worker %s & setsid sh %s daemon %s & wait", job, log, job, log)
	c := inNamespace(append(slices.Clone(prefix), "/bin/sh", "-c", script))
	c.Stderr = io.Discard
	if err := c.Start(); err != nil {
		fail(err)
	}
	pid := pid1(c.Process.Pid)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		b, _ := os.ReadFile(log)
		if strings.Count(string(b), "running") >= 2 {
			break
		}
		if time.Now().After(deadline) {
			_ = c.Process.Kill()
			fail(errors.New("seed scenario: the jobs did not start within 10 s"))
		}
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
	for i, who := range []string{"worker", "daemon"} {
		r.termed[i] = strings.Contains(string(b), who+" got-SIGTERM")
		r.done[i] = strings.Contains(string(b), who+" cleanup-done")
	}
	return r
}

func yes(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// pct returns the p-th percentile (nearest rank).
func pct(d []time.Duration, p int) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[(len(s)-1)*p/100]
}

func mean(d []time.Duration) time.Duration {
	var sum time.Duration
	for _, x := range d {
		sum += x
	}
	return sum / time.Duration(len(d))
}

func msf(d time.Duration) float64 { return float64(d) / 1e6 }
func ms(d time.Duration) string   { return fmt.Sprintf("%.3f ms", msf(d)) }
func us(d time.Duration) string   { return fmt.Sprintf("%.0f µs", float64(d)/1e3) }

func kib(k int64) string {
	if k >= 1024 {
		return fmt.Sprintf("%.2f MiB", float64(k)/1024)
	}
	return fmt.Sprintf("%d KiB", k)
}
