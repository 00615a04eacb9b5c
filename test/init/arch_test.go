package init_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
)

// The process tests run for more than one GOARCH: natively for the machine's
// own, and for each other one in GRACEFUL_TEST_ARCHES (default: none;
// hack/test-emulated.sh sets "arm64") through qemu-user, which the kernel starts for a foreign ELF file
// through binfmt_misc (hack/install-deps.sh installs and registers it). A
// test that runs for every arch calls forEachArch, which adds the arch as
// the first subtest level (TestExitCodes/arm64/pid1) and points initBin and
// probeBin at that arch's builds for the subtest's duration; every other
// test runs the native build only. docs/init.md says what the emulated runs
// can and can not show.

// target is one GOARCH the tests build graceful-init and initprobe for.
type target struct {
	arch              string
	initBin, probeBin string
	emulated          bool // not the machine's own: run by qemu-user through binfmt_misc
	// noSubreaper, when not empty, says why graceful-init can not run as a
	// subreaper for this arch: qemu-user 7.2 (Debian 12's) answers
	// prctl(PR_SET_CHILD_SUBREAPER) with EINVAL instead of passing it on to
	// the kernel (later releases pass it on). The subreaper-mode subtests are
	// then not part of that arch's matrix (runnable); its PID 1 runs are.
	noSubreaper string
	// losesIgnored: under this arch's emulator, a SIG_IGN that a Go
	// program inherits for a signal the Go runtime leaves alone (SIGHUP,
	// SIGINT) does not reach the program it execs (qemu-user 7.2; 10.0
	// passes it on). checkEmulation finds out with the probe alone, not
	// graceful-init.
	losesIgnored bool
}

var (
	native  *target   // runtime.GOARCH, the build initBin and probeBin name outside forEachArch
	targets []*target // native first
)

// testArches is the list of GOARCH values to run the process tests for.
func testArches() []string {
	// Native only unless asked: the emulated pass is slower, needs
	// qemu-user, and meets qemu's fork deadlock now and then
	// (forkhang_test.go), which hack/test-emulated.sh knows to run again.
	list := os.Getenv("GRACEFUL_TEST_ARCHES")
	arches := []string{runtime.GOARCH}
	for _, a := range strings.Fields(strings.ReplaceAll(list, ",", " ")) {
		if !slices.Contains(arches, a) {
			arches = append(arches, a)
		}
	}
	return arches
}

// buildTargets builds graceful-init and initprobe into dir for every arch of
// testArches and checks that each foreign build runs on this machine.
func buildTargets(dir string) error {
	for _, arch := range testArches() {
		t := &target{arch: arch, emulated: arch != runtime.GOARCH}
		sub := dir
		if t.emulated {
			sub = filepath.Join(dir, arch)
			if err := os.Mkdir(sub, 0o755); err != nil {
				return err
			}
		}
		t.initBin, t.probeBin = filepath.Join(sub, "graceful-init"), filepath.Join(sub, "initprobe")
		goarch := "GOARCH=" + arch
		if err := buildInitFor(arch, t.initBin, "-trimpath", "-tags", linknameTag, "-ldflags=-s -w -checklinkname=0"); err != nil {
			return err
		}
		cmd := exec.Command("go", "build", "-trimpath", "-o", t.probeBin, "../initprobe")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", goarch)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("build test/initprobe for %s: %v\n%s", arch, err, out)
		}
		if t.emulated {
			if err := t.checkEmulation(); err != nil {
				return err
			}
		}
		targets = append(targets, t)
	}
	native = targets[0]
	initBin, probeBin = native.initBin, native.probeBin
	return nil
}

// checkEmulation runs the foreign build once, and once as a subreaper.
func (t *target) checkEmulation() error {
	out, err := exec.Command(t.initBin, "--version").CombinedOutput()
	if err != nil {
		why := err.Error()
		if errors.Is(err, syscall.ENOEXEC) {
			why = "exec format error: no binfmt_misc handler for it"
		}
		if o := bytes.TrimSpace(out); len(o) > 0 {
			why += ": " + string(o)
		}
		return fmt.Errorf("graceful-init tests: this %s machine can not run the linux/%s graceful-init (%s): "+
			"run hack/install-deps.sh as root, which installs qemu-user-static and registers it with binfmt_misc, "+
			"or leave %s out of GRACEFUL_TEST_ARCHES (now %q)",
			runtime.GOARCH, t.arch, why, t.arch, strings.Join(testArches(), " "))
	}
	out, err = exec.Command(t.initBin, "--", "/bin/true").CombinedOutput()
	if err != nil && bytes.Contains(out, []byte("become subreaper")) {
		t.noSubreaper = fmt.Sprintf("the %s emulator refuses prctl(PR_SET_CHILD_SUBREAPER) (%s); later qemu releases (9.0 at the latest) pass it on", t.arch, bytes.TrimSpace(out))
	} else if err != nil {
		return fmt.Errorf("graceful-init tests: the linux/%s graceful-init -- /bin/true: %v: %s", t.arch, err, out)
	}
	// The native probe ignores SIGINT and execs this arch's probe, which
	// execs grep: is SIGINT still ignored there?
	out, err = exec.Command(targets[0].probeBin, "launch", "-ignore", "INT", "--", t.probeBin, "launch", "--", "/bin/grep", "^SigIgn:", "/proc/self/status").Output()
	if err != nil {
		var stderr []byte
		if ee, ok := errors.AsType[*exec.ExitError](err); ok {
			stderr = ee.Stderr
		}
		return fmt.Errorf("graceful-init tests: the linux/%s probe's exec of grep: %v: %s%s", t.arch, err, out, stderr)
	}
	ign, err := sigMask(out, "SigIgn:")
	if err != nil {
		return fmt.Errorf("graceful-init tests: the linux/%s probe's grep: %w", t.arch, err)
	}
	t.losesIgnored = ign&sigbit(syscall.SIGINT) == 0
	return nil
}

// current is the target initBin and probeBin belong to.
var current *target

// forEachArch runs f as a subtest named after each target arch, with
// initBin and probeBin that arch's builds. The tests of this package do not
// run in parallel (none calls t.Parallel), so the switch is seen by the
// subtest alone.
func forEachArch(t *testing.T, f func(t *testing.T)) {
	t.Helper()
	eachTarget(t, func(*target) bool { return true }, f)
}

// eachTarget is forEachArch over the targets keep says yes to.
func eachTarget(t *testing.T, keep func(*target) bool, f func(t *testing.T)) {
	t.Helper()
	for _, a := range targets {
		if !keep(a) {
			continue
		}
		t.Run(a.arch, func(t *testing.T) {
			prevInit, prevProbe, prev := initBin, probeBin, current
			initBin, probeBin, current = a.initBin, a.probeBin, a
			defer func() { initBin, probeBin, current = prevInit, prevProbe, prev }()
			f(t)
		})
	}
}

// emulated says whether the running subtest's builds run under qemu-user.
func emulated() bool { return current != nil && current.emulated }

// canRun says whether graceful-init can run in mode m for the current arch.
func canRun(m mode) bool {
	return m != subreaper || current == nil || current.noSubreaper == ""
}

// runnable is modes, less those the current arch can not run: under an
// emulator that refuses PR_SET_CHILD_SUBREAPER the subreaper subtests are
// not part of that arch's matrix (docs/init.md says so); they are never
// started, not skipped.
func runnable() []mode {
	var ms []mode
	for _, m := range modes {
		if canRun(m) {
			ms = append(ms, m)
		}
	}
	return ms
}

// needMode fails the test when it starts graceful-init in a mode the
// current arch can not run: the loops take their modes from runnable.
func needMode(t *testing.T, m mode) {
	t.Helper()
	if !canRun(m) {
		t.Fatalf("internal: %s mode started for %s, which can not run it (%s)", m, current.arch, current.noSubreaper)
	}
}

// runs says whether process pid is running the executable bin (after its
// exec, not the unshare or shell before it). A process that qemu-user runs
// through binfmt_misc has the emulator as its /proc/PID/exe, and its command
// line starts with the emulator and then bin (the file the kernel matched).
func runs(pid int, bin string) bool {
	exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	if exe == bin {
		return true
	}
	if !emulated() || exe == "" {
		return false
	}
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	argv := strings.Split(string(b), "\x00")
	return len(argv) > 1 && argv[1] == bin
}

// loggedProbe is a regular expression for the command line graceful-init
// logs for the probe named name (at the start of the parenthesis after a
// pid). An emulated probe's command line, as graceful-init reads it from
// /proc/PID/cmdline, is the emulator's: the interpreter, the probe's path,
// then the probe's own argv, so the 160 bytes graceful-init keeps of it end
// before the name; it must then show the emulator running this arch's
// initprobe.
func loggedProbe(name string) string {
	if emulated() {
		return `\S+ ` + regexp.QuoteMeta(probeBin) + ` `
	}
	return `.*-name ` + regexp.QuoteMeta(name) + `\b`
}

// emulatorKeepsIgnored is the set of signals (bit N-1 for signal N) whose
// inherited SIG_IGN graceful-init passes on to its child under this arch.
// qemu-user 7.2 installs its own host handler for every signal whose
// default action ends the process as it starts, even one the process
// inherited ignored: the guest still sees SIG_IGN, but the host's
// disposition is a handler, which execve resets to SIG_DFL. SIGHUP and
// SIGINT, which the Go runtime leaves ignored when it finds them so
// (graceful-init does not touch them and a direct child inherits them), are
// therefore lost under that emulator (losesIgnored); signals graceful-init
// sets to SIG_IGN itself in the handoff, with its own rt_sigaction, reach
// the host and survive the exec.
func emulatorKeepsIgnored() uint64 {
	if !emulated() || !current.losesIgnored {
		return ^uint64(0)
	}
	return ^(sigbit(syscall.SIGHUP) | sigbit(syscall.SIGINT))
}

// forEachMarkArch is forEachArch over the targets that can deliver the
// termination mark: qemu-user (7.2) keeps the host's two lowest realtime
// signals for itself and maps the guest's signal N (34-62) to the host's
// N+2, which leaves the guest's 63 (the mark, SIGRTMAX-1) without a host
// signal, so an emulated hook can not send it. The mark tests are then not
// part of that arch's matrix; TestEmulatedMarkRefused shows what such a
// hook does instead.
func forEachMarkArch(t *testing.T, f func(t *testing.T)) {
	t.Helper()
	eachTarget(t, func(a *target) bool { return !a.emulated }, f)
}
