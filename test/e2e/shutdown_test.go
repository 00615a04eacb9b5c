//go:build e2e

package e2e

import (
	"context"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/graceful-dev/graceful/pkg/contract"
	"github.com/graceful-dev/graceful/pkg/init/supervisor"
	"github.com/graceful-dev/graceful/test/podrun"
	"github.com/graceful-dev/graceful/test/seed"
)

const seedGrace = 20

// testSeedScenario: the seed scenario with grace 20 s,
// opted in and injected by the webhook, and the same pod not opted in,
// stopped together.
func testSeedScenario(t *testing.T) {
	injected := optIn(seed.Pod("seed-injected", env.ns, env.images.Busybox, seedGrace))
	requireDelivery(t, admitted(t, injected), contract.DeliveryInitContainer)
	plain := seed.Pod("seed-plain", env.ns, env.images.Busybox, seedGrace)
	describeOnFailure(t, injected.Name)
	describeOnFailure(t, plain.Name)
	outs, err := seed.Run(t.Context(), pods(), injected, plain)
	if err != nil {
		t.Fatal(err)
	}
	var table strings.Builder
	if err := seed.WriteTable(&table, []string{"not injected", "injected by the webhook"}, []seed.Outcome{outs[1], outs[0]}); err != nil {
		t.Fatal(err)
	}
	t.Logf("seed scenario, grace %ds:\n%s", seedGrace, table.String())
	checkSeedInjected(t, outs[0])
	checkSeedPlain(t, outs[1])
}

// logOutcome logs how the pod stopped and its log, and reports the times.
func logOutcome(t *testing.T, o seed.Outcome) {
	r := o.Stop
	t.Logf("%s: container terminated %.2fs, pod gone %.2fs after delete (grace %v), exit %d %s\n%s",
		o.Pod, r.Terminated.Seconds(), r.Gone.Seconds(), o.Grace, r.ExitCode, r.Reason, o.Log)
	reportStop(t, o.Pod, r)
}

// checkSeedInjected: graceful-init was PID 1, every process got SIGTERM and
// finished its cleanup, and the pod went well before the grace period.
func checkSeedInjected(t *testing.T, o seed.Outcome) {
	t.Helper()
	checkSeedClean(t, o, contract.InitPath)
}

// checkSeedClean: PID 1 was pid1, every process got SIGTERM and finished
// its cleanup, and the pod went well before the grace period.
func checkSeedClean(t *testing.T, o seed.Outcome, pid1 string) {
	t.Helper()
	r := o.Stop
	logOutcome(t, o)
	lines := parseLog(t, o.Log)
	if term, ok := podrun.Find(lines, "signal TERM received"); ok {
		t.Logf("%s: SIGTERM reached graceful-init %.2fs after delete", o.Pod, term.T.Sub(r.Start).Seconds())
	}
	if end, ok := podrun.Find(lines, "all processes gone"); ok {
		t.Logf("%s: graceful-init saw all processes gone %.2fs after delete", o.Pod, end.T.Sub(r.Start).Seconds())
	}
	if o.PID1 != pid1 {
		t.Errorf("%s: PID 1 is %q, want %s", o.Pod, o.PID1, pid1)
	}
	if !o.Clean() {
		for _, p := range o.Processes {
			t.Errorf("%s: %s: %s", o.Pod, p.Name, o.Fate(p))
		}
		t.Errorf("%s: not every process got SIGTERM and finished its cleanup (children gone %v, exit %d %s)", o.Pod, o.ChildrenGone, r.ExitCode, r.Reason)
	}
	// Cleanup takes ~1 s; "well under" the grace period leaves slack for a
	// loaded machine.
	if r.Gone > o.Grace/2 {
		t.Errorf("%s: pod gone after %v, want well under the %v grace period", o.Pod, r.Gone, o.Grace)
	}
}

// checkSeedPlain: the contrast graceful exists for. PID 1 hears SIGTERM,
// the others do not, and the kubelet SIGKILLs at the end of the grace period.
func checkSeedPlain(t *testing.T, o seed.Outcome) {
	t.Helper()
	r := o.Stop
	logOutcome(t, o)
	if o.PID1 != "/bin/sh" {
		t.Errorf("%s: PID 1 is %q, want /bin/sh", o.Pod, o.PID1)
	}
	for _, p := range o.Processes {
		if want := p.Name == "main"; p.GotTERM != want {
			t.Errorf("%s: %s got SIGTERM: %v, want %v: %s", o.Pod, p.Name, p.GotTERM, want, o.Fate(p))
		}
	}
	if o.ChildrenGone {
		t.Errorf("%s: the main shell saw its children end: without graceful-init that should not happen", o.Pod)
	}
	if r.Gone < o.Grace-time.Second {
		t.Errorf("%s: pod gone after %v, want the kubelet's SIGKILL at the %v grace period", o.Pod, r.Gone, o.Grace)
	}
	if !o.Killed() {
		t.Errorf("%s: container exit code %d (%s), want 137 (SIGKILL)", o.Pod, r.ExitCode, r.Reason)
	}
}

// TestOfflineInject: the seed scenario injected by `graceful-webhook inject
// -f -` instead of the webhook, run on the cluster: the same outcome.
func TestOfflineInject(t *testing.T) {
	t.Parallel()
	in, err := yaml.Marshal(seed.Pod("seed-offline", env.ns, env.images.Busybox, seedGrace))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, envOr("GRACEFUL_WEBHOOK", env.root+"/bin/graceful-webhook"),
		"inject", "-f", "-", "-all", "-image", env.images.Graceful, "-insecure-registries", env.registry)
	cmd.Stdin = strings.NewReader(string(in))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("graceful-webhook inject: %v\n%s", err, stderr.String())
	}
	var pod corev1.Pod
	if err := yaml.UnmarshalStrict(out, &pod); err != nil {
		t.Fatalf("injected manifest: %v\n%s", err, out)
	}
	requireInjected(t, &pod)
	describeOnFailure(t, pod.Name)
	outs, err := seed.Run(t.Context(), pods(), &pod)
	if err != nil {
		t.Fatal(err)
	}
	checkSeedInjected(t, outs[0])
}

// testIgnoresSIGTERM: a main process that ignores SIGTERM is
// SIGKILLed by graceful-init at its budget, before the kubelet would at the
// grace period.
func testIgnoresSIGTERM(t *testing.T) {
	const grace = 5
	pod, _ := startPod(t, optIn(shellPod("ignores-term", grace, `trap '' TERM; echo started; while :; do sleep 1; done`)))
	requireInjected(t, pod)
	waitLog(t, pod.Name, "started")
	logs := followLogs(t, pod.Name)
	r := deletePod(t, pod.Name)
	out := waitLogEnd(t, logs)
	budget := contract.ShutdownBudget(grace * time.Second)
	t.Logf("ignores SIGTERM: container terminated (seen) %.2fs, pod gone %.2fs after delete (grace %ds, init budget %v), exit %d %s\n%s",
		r.Terminated.Seconds(), r.Gone.Seconds(), grace, budget, r.ExitCode, r.Reason, out)
	reportStop(t, "ignores-term", r)
	lines := parseLog(t, out)
	term, okTerm := podrun.Find(lines, "signal TERM received")
	kill, okKill := podrun.Find(lines, "budget spent: SIGKILL")
	exit, okExit := podrun.Find(lines, "exiting 137")
	if !okTerm || !okKill || !okExit {
		t.Fatalf("graceful-init did not log SIGTERM in (%v), its SIGKILL (%v) and its exit 137 (%v): the kubelet, not the init, ended the process", okTerm, okKill, okExit)
	}
	t.Logf("ignores SIGTERM: after delete, SIGTERM in at %.2fs, init SIGKILL at %.2fs, init exit at %.2fs; the kubelet's SIGKILL would come %ds after its SIGTERM",
		term.T.Sub(r.Start).Seconds(), kill.T.Sub(r.Start).Seconds(), exit.T.Sub(r.Start).Seconds(), grace)
	if r.ExitCode != 137 {
		t.Errorf("container exit code %d (%s), want 137: the main process was SIGKILLed", r.ExitCode, r.Reason)
	}
	// The deadline is the feature: everything is over before the kubelet's
	// SIGKILL, grace seconds after the SIGTERM. Measured on graceful-init's
	// own clock ("+S.SSSs" in its log): the log timestamps are when the
	// runtime read each line, which lags by up to a second on a loaded node
	// and would leave only the 0.5 s margin for it.
	if d := initClock(t, exit) - initClock(t, term); d >= grace*time.Second {
		t.Errorf("graceful-init exited %v after SIGTERM by its own clock, want before the %ds grace period", d, grace)
	}
}

// initClock is the time since graceful-init started that it wrote in log
// line l.
func initClock(t *testing.T, l podrun.Line) time.Duration {
	t.Helper()
	d, ok := supervisor.LogTime(l.Text)
	if !ok {
		t.Fatalf("no graceful-init time in %q", l.Text)
	}
	return d
}

// testImageEntrypoint: a container without command runs its
// image's ENTRYPOINT and CMD, looked up in the registry by the webhook,
// under graceful-init.
func testImageEntrypoint(t *testing.T) {
	grace := int64(10)
	plain := &corev1.Pod{}
	plain.Name, plain.Namespace = "image-entrypoint", env.ns
	plain.Spec = corev1.PodSpec{
		TerminationGracePeriodSeconds: &grace,
		RestartPolicy:                 corev1.RestartPolicyNever,
		AutomountServiceAccountToken:  new(bool),
		Containers:                    []corev1.Container{{Name: "app", Image: env.entrypoint, ImagePullPolicy: corev1.PullIfNotPresent}},
	}
	pod, _ := startPod(t, optIn(plain))
	requireInjected(t, pod)
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
	if !slices.Equal(got, want) {
		t.Fatalf("wrapped argv %q does not run the image's ENTRYPOINT and CMD under %s", argv, contract.InitPath)
	}
	out := waitLog(t, pod.Name, "pid1: ")
	lines := parseLog(t, out)
	for _, l := range []string{"image-entrypoint: args=from-image-cmd", "subst: works", "pid1: " + contract.InitPath} {
		if !podrun.Has(lines, l) {
			t.Errorf("log lacks the line %q:\n%s", l, out)
		}
	}
	logs := followLogs(t, pod.Name)
	r := deletePod(t, pod.Name)
	out = waitLogEnd(t, logs)
	reportStop(t, "image-entrypoint", r)
	if !podrun.Has(parseLog(t, out), "image-entrypoint: got SIGTERM") || r.ExitCode != 0 {
		t.Errorf("the entrypoint did not stop on SIGTERM with exit 0 (exit %d):\n%s", r.ExitCode, out)
	}
}
