//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/graceful-dev/graceful/pkg/contract"
)

// seedScript is the seed scenario: a shell as the main process starts a
// worker and a setsid daemon; each of the three needs 1 s of cleanup on
// SIGTERM. The main shell then waits for its children, as a launcher does.
// Without an init that signals everyone, the worker and the daemon never
// hear of the stop and the main shell waits for them until the kubelet's
// SIGKILL.
const seedScript = `tr '\0' '\n' </proc/1/cmdline | { read -r a; echo "pid1: $a"; }
cleanup='echo "$0: got SIGTERM"; sleep 1; echo "$0: cleanup done"; exit 0'
sh -c "trap '$cleanup' TERM; echo worker: started; while :; do sleep 1 & wait \$!; done" worker &
setsid sh -c "trap '$cleanup' TERM; echo daemon: started; while :; do sleep 1 & wait \$!; done" daemon &
trap 'echo "main: got SIGTERM"; sleep 1; echo "main: cleanup done"; wait; echo "main: children gone"; exit 0' TERM
echo main: started
while :; do sleep 1 & wait $!; done`

// Every line the three processes print when they stop cleanly.
var seedLines = []string{
	"main: got SIGTERM", "main: cleanup done", "main: children gone",
	"worker: got SIGTERM", "worker: cleanup done",
	"daemon: got SIGTERM", "daemon: cleanup done",
}

func TestSeedScenario(t *testing.T) {
	const grace = 20
	t.Run("injected", func(t *testing.T) {
		t.Parallel()
		pod := inject(t, shellPod("seed-injected", grace, seedScript))
		startPod(t, pod)
		waitLog(t, pod.Name, "daemon: started")
		logs := followLogs(t, pod.Name, "app")
		r := deletePod(t, pod.Name)
		out := logs.wait(t)
		t.Logf("injected: container terminated %.2fs, pod gone %.2fs after delete (grace %ds), exit %d %s\n%s",
			r.Terminated.Seconds(), r.Gone.Seconds(), grace, r.ExitCode, r.Reason, out)
		lines := parseLog(t, out)
		if term, ok := findLine(lines, "signal TERM received"); ok {
			t.Logf("injected: SIGTERM reached graceful-init %.2fs after delete", term.T.Sub(r.Start).Seconds())
		}
		if end, ok := findLine(lines, "all processes gone"); ok {
			t.Logf("injected: graceful-init saw all processes gone %.2fs after delete", end.T.Sub(r.Start).Seconds())
		}
		report(t, "seed-injected", r)
		if !hasLine(lines, "pid1: "+contract.InitPath) {
			t.Errorf("PID 1 is not %s", contract.InitPath)
		}
		for _, l := range seedLines {
			if !hasLine(lines, l) {
				t.Errorf("log lacks the line %q: not every process got SIGTERM and finished its cleanup", l)
			}
		}
		// Cleanup takes ~1 s; "well under" the grace period leaves slack
		// for a loaded machine.
		if r.Gone > grace/2*time.Second {
			t.Errorf("pod gone after %v, want well under the %ds grace period", r.Gone, grace)
		}
		if r.ExitCode != 0 {
			t.Errorf("container exit code %d (%s), want 0: the main shell exits 0 after its cleanup", r.ExitCode, r.Reason)
		}
	})
	t.Run("not-injected", func(t *testing.T) {
		t.Parallel()
		pod := shellPod("seed-plain", grace, seedScript)
		startPod(t, pod)
		waitLog(t, pod.Name, "daemon: started")
		logs := followLogs(t, pod.Name, "app")
		r := deletePod(t, pod.Name)
		out := logs.wait(t)
		t.Logf("not injected: container terminated %.2fs, pod gone %.2fs after delete (grace %ds), exit %d %s\n%s",
			r.Terminated.Seconds(), r.Gone.Seconds(), grace, r.ExitCode, r.Reason, out)
		report(t, "seed-plain", r)
		// The contrast the project exists for: PID 1 hears SIGTERM, the
		// others do not, and the kubelet SIGKILLs at the end of the grace period.
		lines := parseLog(t, out)
		if !hasLine(lines, "pid1: /bin/sh") {
			t.Errorf("PID 1 is not /bin/sh")
		}
		if !hasLine(lines, "main: got SIGTERM") {
			t.Errorf("the main shell (PID 1) did not get SIGTERM")
		}
		for _, l := range []string{"worker: got SIGTERM", "daemon: got SIGTERM", "main: children gone"} {
			if hasLine(lines, l) {
				t.Errorf("log has %q: without graceful-init that should not happen", l)
			}
		}
		if r.Gone < (grace-1)*time.Second {
			t.Errorf("pod gone after %v, want the kubelet's SIGKILL at the %ds grace period", r.Gone, grace)
		}
		if r.ExitCode != 137 {
			t.Errorf("container exit code %d (%s), want 137 (SIGKILL)", r.ExitCode, r.Reason)
		}
	})
}

// TestIgnoresSIGTERM: a main process that ignores SIGTERM is SIGKILLed by
// graceful-init at its budget, before the kubelet would at the grace period.
func TestIgnoresSIGTERM(t *testing.T) {
	t.Parallel()
	const grace = 5
	pod := inject(t, shellPod("ignores-term", grace, `trap '' TERM; echo started; while :; do sleep 1; done`))
	startPod(t, pod)
	waitLog(t, pod.Name, "started")
	logs := followLogs(t, pod.Name, "app")
	r := deletePod(t, pod.Name)
	out := logs.wait(t)
	budget := contract.ShutdownBudget(grace * time.Second)
	t.Logf("ignores SIGTERM: container terminated (seen) %.2fs, pod gone %.2fs after delete (grace %ds, init budget %v), exit %d %s\n%s",
		r.Terminated.Seconds(), r.Gone.Seconds(), grace, budget, r.ExitCode, r.Reason, out)
	report(t, "ignores-term", r)
	lines := parseLog(t, out)
	term, okTerm := findLine(lines, "signal TERM received")
	kill, okKill := findLine(lines, "budget spent: SIGKILL")
	exit, okExit := findLine(lines, "exiting 137")
	if !okTerm || !okKill || !okExit {
		t.Fatalf("graceful-init did not log SIGTERM in (%v), its SIGKILL (%v) and its exit 137 (%v): the kubelet, not the init, ended the process", okTerm, okKill, okExit)
	}
	t.Logf("ignores SIGTERM: after delete, SIGTERM in at %.2fs, init SIGKILL at %.2fs, init exit at %.2fs; the kubelet's SIGKILL would come %ds after its SIGTERM",
		term.T.Sub(r.Start).Seconds(), kill.T.Sub(r.Start).Seconds(), exit.T.Sub(r.Start).Seconds(), grace)
	if r.ExitCode != 137 {
		t.Errorf("container exit code %d (%s), want 137: the main process was SIGKILLed", r.ExitCode, r.Reason)
	}
	// The deadline is the feature: everything is over before the kubelet's
	// SIGKILL, grace seconds after the SIGTERM (both clocks are the node's).
	if d := exit.T.Sub(term.T); d >= grace*time.Second {
		t.Errorf("graceful-init exited %v after SIGTERM, want before the %ds grace period", d, grace)
	}
}

// TestImageEntrypoint: a container without command runs its image's
// ENTRYPOINT and CMD, looked up in the registry, under graceful-init.
func TestImageEntrypoint(t *testing.T) {
	t.Parallel()
	grace := int64(10)
	plain := &corev1.Pod{}
	plain.APIVersion, plain.Kind = "v1", "Pod"
	plain.Name, plain.Namespace = "image-entrypoint", env.ns
	plain.Spec = corev1.PodSpec{
		TerminationGracePeriodSeconds: &grace,
		RestartPolicy:                 corev1.RestartPolicyNever,
		AutomountServiceAccountToken:  new(bool),
		Containers:                    []corev1.Container{{Name: "app", Image: env.entrypoint, ImagePullPolicy: corev1.PullIfNotPresent}},
	}
	pod := inject(t, plain)
	argv := append(slices.Clone(pod.Spec.Containers[0].Command), pod.Spec.Containers[0].Args...)
	t.Logf("wrapped argv: %q", argv)
	// The rewrite escapes "$" as "$$" in what came from the image, so that
	// Kubernetes' $(VAR) expansion gives back the image's argv.
	want := []string{"/bin/sh", "-c", entrypointScript, "image-entrypoint", "from-image-cmd"}
	var got []string
	if i := slices.Index(argv, contract.EndOfFlags); i >= 0 {
		for _, a := range argv[i+1:] {
			got = append(got, strings.ReplaceAll(a, "$$", "$"))
		}
	}
	if len(argv) == 0 || argv[0] != contract.InitPath || !slices.Equal(got, want) {
		t.Fatalf("wrapped argv %q does not run the image's ENTRYPOINT and CMD under %s", argv, contract.InitPath)
	}
	startPod(t, pod)
	out := waitLog(t, pod.Name, "pid1: ")
	lines := parseLog(t, out)
	for _, l := range []string{"image-entrypoint: args=from-image-cmd", "subst: works", "pid1: " + contract.InitPath} {
		if !hasLine(lines, l) {
			t.Errorf("log lacks the line %q:\n%s", l, out)
		}
	}
	logs := followLogs(t, pod.Name, "app")
	r := deletePod(t, pod.Name)
	out = logs.wait(t)
	report(t, "image-entrypoint", r)
	if !hasLine(parseLog(t, out), "image-entrypoint: got SIGTERM") || r.ExitCode != 0 {
		t.Errorf("the entrypoint did not stop on SIGTERM with exit 0 (exit %d):\n%s", r.ExitCode, out)
	}
}

// waitLog polls the app container's log until it contains s (within 1m) and
// returns it.
func waitLog(t *testing.T, pod, s string) string {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	var last string
	for time.Now().Before(deadline) {
		b, err := env.cs.CoreV1().Pods(env.ns).GetLogs(pod, &corev1.PodLogOptions{Container: "app", Timestamps: true}).DoRaw(t.Context())
		if err == nil && strings.Contains(string(b), s) {
			return string(b)
		}
		last = fmt.Sprintf("%s (err %v)", b, err)
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("pod %s: log does not show %q within 1m; last: %s", pod, s, last)
	return ""
}

// logLine is one line of a container log read with timestamps.
type logLine struct {
	T    time.Time
	Text string
}

func parseLog(t *testing.T, s string) []logLine {
	t.Helper()
	var ls []logLine
	for _, l := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		ts, text, _ := strings.Cut(l, " ")
		tm, err := time.Parse(time.RFC3339Nano, ts)
		if err != nil {
			t.Fatalf("log line without a timestamp: %q", l)
		}
		ls = append(ls, logLine{tm, text})
	}
	return ls
}

// hasLine: some line is exactly text.
func hasLine(ls []logLine, text string) bool {
	return slices.ContainsFunc(ls, func(l logLine) bool { return l.Text == text })
}

// findLine returns the first line containing s.
func findLine(ls []logLine, s string) (logLine, bool) {
	i := slices.IndexFunc(ls, func(l logLine) bool { return strings.Contains(l.Text, s) })
	if i < 0 {
		return logLine{}, false
	}
	return ls[i], true
}

// report appends one line per stop to $E2E_REPORT (if set), for docs.
func report(t *testing.T, what string, r stopResult) {
	p := os.Getenv("E2E_REPORT")
	if p == "" {
		return
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Logf("report: %v", err)
		return
	}
	f, err := os.OpenFile(p, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Logf("report: %v", err)
		return
	}
	defer f.Close()
	fmt.Fprintf(f, "%s stop: terminated %.2fs gone %.2fs exit %d\n", what, r.Terminated.Seconds(), r.Gone.Seconds(), r.ExitCode)
}
