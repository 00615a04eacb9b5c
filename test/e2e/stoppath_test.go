//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/graceful-dev/graceful/pkg/contract"
	"github.com/graceful-dev/graceful/test/podrun"
)

// quitScript is the STOPSIGNAL SIGQUIT image's entrypoint: a main shell and
// a daemon in a session of its own that both clean up on QUIT only, as
// nginx's master does. The daemon is started by start-stop-daemon, not as
// "setsid ... &": a shell starts its background jobs with SIGQUIT ignored,
// and a signal ignored at a shell's start can not be trapped. Its output
// goes to graceful-init's stdout, the container's log.
const quitScript = `trap 'echo "main: got QUIT"; echo "main: cleanup done"; exit 0' QUIT
start-stop-daemon -S -b -p /nonexistent -x /bin/sh -- -c 'exec >/proc/1/fd/1; trap "echo daemon: got QUIT; sleep 1; echo daemon: cleanup done; exit 0" QUIT; echo daemon: started; while :; do sleep 1; done'
echo "main: started"; while :; do sleep 1 & wait $!; done`

// ignoreTERM runs a main process that ignores SIGTERM: only a SIGKILL ends it.
const ignoreTERM = `trap '' TERM; echo started; while :; do sleep 1; done`

// timeline is one stop as graceful-init logged it: each time on its own
// clock (since it started) and, for the report, as the runtime's log
// timestamps put it after the delete call.
type timeline struct {
	mark, signal, kill, exit          podrun.Line
	marked, signalled, killed, exited bool
}

// stopTimeline reads the stop from a wrapped container's log and reports
// it with the kubelet's deadline, deadline after the delete call (the grace
// period; a preStop hook that uses it up adds the kubelet's 2 s floor).
func stopTimeline(t *testing.T, what string, r podrun.Stop, grace int, deadline time.Duration, out, signal string) timeline {
	t.Helper()
	lines := parseLog(t, out)
	var tl timeline
	tl.mark, tl.marked = podrun.Find(lines, "termination mark received")
	tl.signal, tl.signalled = podrun.Find(lines, "signal "+signal+" received")
	tl.kill, tl.killed = podrun.Find(lines, "budget spent: SIGKILL")
	tl.exit, tl.exited = podrun.Find(lines, "all processes gone")
	after := func(l podrun.Line, ok bool) string {
		if !ok {
			return "-"
		}
		return fmt.Sprintf("%.2fs", l.T.Sub(r.Start).Seconds())
	}
	sinceMark := "-"
	if tl.marked && tl.killed {
		sinceMark = fmt.Sprintf("%.2fs", (initClock(t, tl.kill) - initClock(t, tl.mark)).Seconds())
	}
	t.Logf("%s (grace %ds): after the delete: mark %s, %s %s, graceful-init SIGKILL %s (mark + %s on its clock), exit %s; the kubelet's deadline %v\n%s",
		what, grace, after(tl.mark, tl.marked), signal, after(tl.signal, tl.signalled), after(tl.kill, tl.killed), sinceMark, after(tl.exit, tl.exited), deadline, out)
	report(t, "stop path %s: grace %ds; after delete: mark %s, stop signal %s %s, init SIGKILL %s (mark+%s, init clock), init exit %s, kubelet deadline %v",
		what, grace, after(tl.mark, tl.marked), signal, after(tl.signal, tl.signalled), after(tl.kill, tl.killed), sinceMark, after(tl.exit, tl.exited), deadline)
	return tl
}

// requireInitKilledFirst: the termination was marked, graceful-init
// SIGKILLed what was left and exited itself (so the kubelet never had to),
// within the budget of the grace period counted from the mark.
func requireInitKilledFirst(t *testing.T, tl timeline, grace int, named string) {
	t.Helper()
	if !tl.marked || !tl.killed || !tl.exited {
		t.Fatalf("graceful-init logged the mark (%v), its SIGKILL (%v) and its exit (%v): without all three the kubelet, not the init, ended the container", tl.marked, tl.killed, tl.exited)
	}
	if !strings.Contains(tl.kill.Text, named) {
		t.Errorf("the SIGKILL line %q does not name %q", tl.kill.Text, named)
	}
	budget := contract.ShutdownBudget(time.Duration(grace) * time.Second)
	// 100 ms for the init's own loop; the kubelet's deadline is grace after
	// the termination's start, which came before the mark.
	if d := initClock(t, tl.exit) - initClock(t, tl.mark); d > budget+100*time.Millisecond {
		t.Errorf("graceful-init exited %v after the mark by its own clock, want within its budget %v of the %ds grace period", d, budget, grace)
	}
}

// testStopSignalQuit: the runtime stops a container with its image's
// STOPSIGNAL (SIGQUIT); the webhook found it in the image config, so
// graceful-init starts its shutdown on QUIT and sends it to the daemon that
// left the process group too, and waits for it after the main shell exits:
// both clean up, the container exits 0 long before the grace period.
func testStopSignalQuit(t *testing.T) {
	const grace = 10
	p := &corev1.Pod{}
	p.Name, p.Namespace = "stopsignal-quit", env.ns
	p.Spec = corev1.PodSpec{
		TerminationGracePeriodSeconds: new(int64(grace)),
		RestartPolicy:                 corev1.RestartPolicyNever,
		AutomountServiceAccountToken:  new(bool),
		Containers:                    []corev1.Container{{Name: "app", Image: env.quit, ImagePullPolicy: corev1.PullIfNotPresent}},
	}
	pod, _ := startPod(t, optIn(p))
	requireInjected(t, pod)
	if c := pod.Spec.Containers[0].Command; !slices.Contains(c, contract.FlagStopSignal+"=QUIT") {
		t.Fatalf("wrapped command %q lacks %s=QUIT from the image's STOPSIGNAL", c, contract.FlagStopSignal)
	}
	stopDaemonPod(t, pod.Name, "STOPSIGNAL SIGQUIT", grace, "QUIT")
}

// stopDaemonPod deletes the running pod name, whose main shell and setsid
// daemon each trap signal (a name without SIG) and clean up, and requires
// what both stop-signal cases promise: graceful-init saw the signal, both
// processes got it and cleaned up, the container exited 0, and the pod was
// seen terminated well within its grace period. (When the pod object goes
// after that is the kubelet's own cleanup, an image volume's unmount among
// it, not graceful's.)
func stopDaemonPod(t *testing.T, name, what string, grace int, signal string) {
	t.Helper()
	waitLog(t, name, "daemon: started")
	logs := followLogs(t, name)
	r := deletePod(t, name)
	out := waitLogEnd(t, logs)
	reportStop(t, name, r)
	tl := stopTimeline(t, what, r, grace, time.Duration(grace)*time.Second, out, signal)
	lines := parseLog(t, out)
	for _, l := range []string{"main: got " + signal, "daemon: got " + signal, "daemon: cleanup done", "main: cleanup done"} {
		if !podrun.Has(lines, l) {
			t.Errorf("log lacks %q", l)
		}
	}
	if !tl.signalled || r.ExitCode != 0 {
		t.Errorf("graceful-init saw %s: %v; container exit %d %s, want 0", signal, tl.signalled, r.ExitCode, r.Reason)
	}
	if r.Terminated == 0 || r.Terminated > time.Duration(grace)*time.Second/2 {
		t.Errorf("container seen terminated %v after delete (0: never), want well within the %ds grace period", r.Terminated, grace)
	}
}

// testPreStopIgnoresTERM: with a preStop hook of its own (sleep, or exec),
// the kubelet's grace period starts before the hook; graceful-init's clock
// starts at the mark its wrapped hook sends, so its SIGKILL of the process
// that ignores SIGTERM still comes before the kubelet's deadline. Each of
// mods edits the pod before it is created (byImageVolume); delivery is the
// delivery the webhook must have chosen.
func testPreStopIgnoresTERM(t *testing.T, hook corev1.LifecycleHandler, name, delivery string, mods ...func(*corev1.Pod) *corev1.Pod) {
	const grace = 10
	p := shellPod(name, grace, ignoreTERM)
	p.Spec.Containers[0].Lifecycle = &corev1.Lifecycle{PreStop: &hook}
	for _, m := range mods {
		p = m(p)
	}
	pod, _ := startPod(t, optIn(p))
	requireDelivery(t, pod, delivery)
	if ps := pod.Spec.Containers[0].Lifecycle.PreStop; ps == nil || ps.Exec == nil || len(ps.Exec.Command) < 2 || ps.Exec.Command[1] != contract.SubcommandPreStop {
		t.Fatalf("preStop %+v is not graceful-init's", ps)
	}
	waitLog(t, pod.Name, "started")
	logs := followLogs(t, pod.Name)
	r := deletePod(t, pod.Name)
	out := waitLogEnd(t, logs)
	reportStop(t, name, r)
	tl := stopTimeline(t, name, r, grace, grace*time.Second, out, "TERM")
	requireInitKilledFirst(t, tl, grace, "sh -c")
	if r.ExitCode != 137 {
		t.Errorf("container exit %d %s, want 137 (SIGKILLed by graceful-init)", r.ExitCode, r.Reason)
	}
}

// testSidecarIgnoresTERM: a native sidecar that ignores SIGTERM behind an
// app that needs 7 s: the kubelet stops the sidecar last, with what is left
// of the pod's grace period; its graceful-init counts from the mark of its
// own preStop hook (the kubelet runs every hook when termination starts),
// so its SIGKILL lands before the kubelet's.
func testSidecarIgnoresTERM(t *testing.T) {
	const grace = 10
	p := shellPod("sidecar-ignores-term", grace, `trap 'echo "app: got SIGTERM"; sleep 7; echo "app: cleanup done"; exit 0' TERM; echo started; while :; do sleep 1 & wait $!; done`)
	side := corev1.Container{
		Name: "sidecar", Image: env.images.Busybox, ImagePullPolicy: corev1.PullIfNotPresent,
		Command:       []string{"/bin/sh", "-c", ignoreTERM},
		RestartPolicy: new(corev1.ContainerRestartPolicyAlways),
	}
	p.Spec.InitContainers = []corev1.Container{side}
	pod, _ := startPod(t, optIn(p))
	requireInjected(t, pod)
	if _, err := pods().WaitLog(t.Context(), pod.Name, "sidecar", "started"); err != nil {
		t.Fatal(err)
	}
	waitLog(t, pod.Name, "started")
	app := followLogs(t, pod.Name)
	sideLogs, err := pods().Follow(context.Background(), pod.Name, "sidecar")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sideLogs.Close)
	r := deletePod(t, pod.Name)
	appOut := waitLogEnd(t, app)
	sideOut := waitLogEnd(t, sideLogs)
	reportStop(t, "sidecar-ignores-term", r)
	if !podrun.Has(parseLog(t, appOut), "app: cleanup done") {
		t.Errorf("the app did not finish its 7 s cleanup:\n%s", appOut)
	}
	tl := stopTimeline(t, "native sidecar ignoring SIGTERM behind a 7 s app", r, grace, grace*time.Second, sideOut, "TERM")
	requireInitKilledFirst(t, tl, grace, "sh -c")
}

// testPreStopUsesGrace: a preStop hook that outlasts the whole grace
// period. The kubelet then still gives the container its 2 s floor, and
// graceful-init, whose deadline has passed when the stop signal comes,
// gives the app that floor less a margin instead of an instant SIGKILL:
// the app's 1 s cleanup finishes.
func testPreStopUsesGrace(t *testing.T) {
	const grace = 4
	p := shellPod("prestop-uses-grace", grace, `trap 'echo "app: got SIGTERM"; sleep 1; echo "app: cleanup done"; exit 0' TERM; echo started; while :; do sleep 1 & wait $!; done`)
	p.Spec.Containers[0].Lifecycle = &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"sleep", "30"}}}}
	pod, _ := startPod(t, optIn(p))
	requireInjected(t, pod)
	waitLog(t, pod.Name, "started")
	logs := followLogs(t, pod.Name)
	r := deletePod(t, pod.Name)
	out := waitLogEnd(t, logs)
	reportStop(t, "prestop-uses-grace", r)
	tl := stopTimeline(t, "preStop using the whole grace period", r, grace, grace*time.Second+contract.StopFloor, out, "TERM")
	lines := parseLog(t, out)
	if !tl.marked || !tl.signalled {
		t.Fatalf("graceful-init logged the mark (%v) and SIGTERM (%v)", tl.marked, tl.signalled)
	}
	if !podrun.Has(lines, "app: cleanup done") || r.ExitCode != 0 {
		t.Errorf("the app's 1 s cleanup after a late SIGTERM did not finish (exit %d %s)", r.ExitCode, r.Reason)
	}
	if _, ok := podrun.Find(lines, "floor"); !ok {
		t.Errorf("graceful-init did not say it gave the processes the kubelet's floor")
	}
}

// probePod is a pod whose liveness probe fails 3 s after the start: its
// main shell stops cleanly on SIGTERM, its worker ignores it, so the kubelet
// kills the container (preStop, stop signal, grace) and graceful-init
// SIGKILLs the worker at its budget and writes the shutdown report into
// the termination message.
func probePod(name string, restart corev1.RestartPolicy) *corev1.Pod {
	const grace = 4
	p := shellPod(name, grace, `sh -c 'trap "" TERM; while :; do sleep 1; done' worker-ignores-term &
trap 'echo "main: got SIGTERM"; exit 0' TERM
echo started; sleep 3; : > /unhealthy; while :; do sleep 1 & wait $!; done`)
	p.Spec.RestartPolicy = restart
	p.Spec.Containers[0].LivenessProbe = &corev1.Probe{
		ProbeHandler:     corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"/bin/sh", "-c", "[ ! -e /unhealthy ]"}}},
		PeriodSeconds:    1,
		FailureThreshold: 1,
	}
	return p
}

// checkReport: the termination message is graceful-init's report, naming
// the SIGKILLed worker in its last lines.
func checkReport(t *testing.T, what string, term *corev1.ContainerStateTerminated) {
	t.Helper()
	if term == nil {
		t.Fatalf("%s: no terminated state", what)
	}
	t.Logf("%s: exit %d %s, message (%d bytes):\n%s", what, term.ExitCode, term.Reason, len(term.Message), term.Message)
	report(t, "%s: termination message %d bytes, last line %q", what, len(term.Message), lastLine(term.Message))
	if len(term.Message) > contract.TerminationLogLimit {
		t.Errorf("%s: message of %d bytes, over the kubelet's %d", what, len(term.Message), contract.TerminationLogLimit)
	}
	if !strings.Contains(term.Message, "SIGKILL pid") || !strings.Contains(term.Message, "worker-ignores-term") {
		t.Errorf("%s: the message does not name the SIGKILLed worker", what)
	}
	if !strings.Contains(lastLine(term.Message), "exit") {
		t.Errorf("%s: the exit code is not the report's last line", what)
	}
}

func lastLine(s string) string {
	s = strings.TrimRight(s, "\n")
	return s[strings.LastIndex(s, "\n")+1:]
}

// testReportFinishedPod: a pod that ends (restartPolicy Never) when its
// liveness probe fails keeps graceful-init's report as
// state.terminated.message.
func testReportFinishedPod(t *testing.T) {
	testProbeReport(t, "report-finished", corev1.RestartPolicyNever, "finished pod", func(cs corev1.ContainerStatus) *corev1.ContainerStateTerminated {
		return cs.State.Terminated
	})
}

// testReportProbeRestart: a container restarted by its liveness probe keeps
// the report of its previous run as lastState.terminated.message.
func testReportProbeRestart(t *testing.T) {
	testProbeReport(t, "report-restart", corev1.RestartPolicyAlways, "liveness-probe restart", func(cs corev1.ContainerStatus) *corev1.ContainerStateTerminated {
		if cs.RestartCount == 0 {
			return nil
		}
		return cs.LastTerminationState.Terminated
	})
}

// testProbeReport runs probePod with restart and checks the report in the
// terminated state that state picks from the container's status, once there.
func testProbeReport(t *testing.T, name string, restart corev1.RestartPolicy, what string, state func(corev1.ContainerStatus) *corev1.ContainerStateTerminated) {
	pod, _ := startPod(t, optIn(probePod(name, restart)))
	requireInjected(t, pod)
	var term *corev1.ContainerStateTerminated
	poll(t, time.Minute, what, func() (bool, string) {
		p, err := env.cs.CoreV1().Pods(env.ns).Get(t.Context(), pod.Name, metav1.GetOptions{})
		if err != nil || len(p.Status.ContainerStatuses) == 0 {
			return false, fmt.Sprint(err)
		}
		cs := p.Status.ContainerStatuses[0]
		term = state(cs)
		return term != nil, fmt.Sprintf("phase %s, restarts %d", p.Status.Phase, cs.RestartCount)
	})
	checkReport(t, what, term)
	deletePod(t, pod.Name)
}
