package admit_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/graceful-dev/graceful/pkg/contract"
	"github.com/graceful-dev/graceful/pkg/webhook/admit"
)

// initFlags returns graceful-init's flags in c's command, before "--".
func initFlags(t *testing.T, c corev1.Container) []string {
	t.Helper()
	end := slices.Index(c.Command, contract.EndOfFlags)
	if len(c.Command) == 0 || c.Command[0] != contract.InitPath || end < 0 {
		t.Fatalf("container %s not wrapped: %q", c.Name, c.Command)
	}
	return c.Command[1:end]
}

func preStopCommand(c corev1.Container) []string {
	if c.Lifecycle == nil || c.Lifecycle.PreStop == nil || c.Lifecycle.PreStop.Exec == nil {
		return nil
	}
	return c.Lifecycle.PreStop.Exec.Command
}

// TestStopPath: the image's STOPSIGNAL comes from the registry, also for a
// container that sets its command; the preStop hooks run graceful-init
// prestop; graceful.dev/kill: "false" reaches every container. The API
// server stores all of it.
func TestStopPath(t *testing.T) {
	ns := namespace(t, map[string]string{contract.LabelInject: contract.NamespaceEnabled})
	pod := simplePod(ns, "stop-path")
	pod.Annotations = map[string]string{contract.AnnotationKill: "false"}
	sc := pod.Spec.Containers[0].SecurityContext
	pod.Spec.Containers = append(pod.Spec.Containers,
		corev1.Container{Name: "nginx", Image: quitRef, SecurityContext: sc,
			Lifecycle: &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Sleep: &corev1.SleepAction{Seconds: 5}}}},
		corev1.Container{Name: "nginx-cmd", Image: quitRef, Command: []string{"nginx", "-c", "/etc/side.conf"}, SecurityContext: sc,
			TerminationMessagePath: "/tmp/msg",
			Lifecycle:              &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"nginx", "-s", "quit"}}}}},
	)
	got, ws := mustCreate(t, pod)
	assertInjected(t, got, "app", "nginx", "nginx-cmd")
	for i, want := range [][]string{
		{"--grace-period=30s", "--kill=false", "--termination-log=/dev/termination-log"},
		{"--grace-period=30s", "--kill=false", "--stop-signal=QUIT", "--termination-log=/dev/termination-log"},
		{"--grace-period=30s", "--kill=false", "--stop-signal=QUIT", "--termination-log=/tmp/msg"},
	} {
		if f := initFlags(t, got.Spec.Containers[i]); !slices.Equal(f, want) {
			t.Errorf("container %s: graceful-init flags %q, want %q", got.Spec.Containers[i].Name, f, want)
		}
	}
	for i, want := range [][]string{
		{contract.InitPath, "prestop"},
		{contract.InitPath, "prestop", "--sleep=5s"},
		{contract.InitPath, "prestop", "--", "nginx", "-s", "quit"},
	} {
		if c := preStopCommand(got.Spec.Containers[i]); !slices.Equal(c, want) {
			t.Errorf("container %s: preStop %q, want %q", got.Spec.Containers[i].Name, c, want)
		}
	}
	if hasWarning(ws, "graceful") || hasWarning(ws, "container") {
		t.Errorf("unexpected warnings: %q", ws)
	}
}

// TestLookupFailedWithCommand: when the registry is down, a container with
// a command is still wrapped, with SIGTERM, a warning and an Event saying
// so; the reject mode denies the pod.
func TestLookupFailedWithCommand(t *testing.T) {
	ns := namespace(t, map[string]string{contract.LabelInject: contract.NamespaceEnabled})
	image := deadHost + "/cmd:v1"
	pod := lookupPod(ns, "cmd-down", image)
	pod.Spec.Containers[0].Command = []string{"/app/server"}
	got, ws := mustCreate(t, pod)
	assertInjected(t, got, "app")
	if f := initFlags(t, got.Spec.Containers[0]); slices.ContainsFunc(f, func(s string) bool { return strings.HasPrefix(s, contract.FlagStopSignal) }) {
		t.Errorf("a stop signal was guessed: %q", f)
	}
	if !hasWarning(ws, image) || !hasWarning(ws, "STOPSIGNAL; graceful-init is told the stop signal is SIGTERM") {
		t.Errorf("no warning naming %s and SIGTERM: %q", image, ws)
	}
	ev := waitEvent(t, ns, image, 20*time.Second)
	if ev == nil || ev.Reason != admit.EventReasonLookupFailed || !strings.Contains(ev.Note, "wrapped with SIGTERM") {
		t.Fatalf("event %+v, want %s saying the containers with a command were wrapped with SIGTERM", ev, admit.EventReasonLookupFailed)
	}

	useMode(t, admit.LookupReject)
	pod = lookupPod(ns, "cmd-down-reject", image)
	pod.Spec.Containers[0].Command = []string{"/app/server"}
	if _, _, err := create(t, pod); err == nil || !strings.Contains(err.Error(), image) {
		t.Errorf("reject mode: %v, want a denial naming %s", err, image)
	}
}

// TestLifecycleStopSignal: a container that sets lifecycle.stopSignal and a
// command needs no lookup (its image is in a registry that is down). (This
// API server runs without the ContainerStopSignals feature gate, so it drops
// the field after admission: docs/design.md names that limit.)
func TestLifecycleStopSignal(t *testing.T) {
	useMode(t, admit.LookupReject) // a lookup would deny the pod
	ns := namespace(t, map[string]string{contract.LabelInject: contract.NamespaceEnabled})
	pod := lookupPod(ns, "signalled", deadHost+"/signalled:v1")
	pod.Spec.OS = &corev1.PodOS{Name: corev1.Linux}
	pod.Spec.Containers[0].Command = []string{"/app/server"}
	pod.Spec.Containers[0].Lifecycle = &corev1.Lifecycle{StopSignal: new(corev1.SIGQUIT)}
	got, _, err := create(t, pod, client.DryRunAll)
	if err != nil {
		t.Fatal(err)
	}
	if f := initFlags(t, got.Spec.Containers[0]); !slices.Contains(f, "--stop-signal=QUIT") {
		t.Errorf("flags %q, want --stop-signal=QUIT", f)
	}
}

// TestOwnInitEvent: a container whose entrypoint is an init that must be
// PID 1 is left alone, with a warning and an Event on the pod's owner; a
// dry run records none.
func TestOwnInitEvent(t *testing.T) {
	ns := namespace(t, map[string]string{contract.LabelInject: contract.NamespaceEnabled})
	dry := lookupPod(ns, "booted-dry", publicRef)
	dry.Spec.Containers[0].Command = []string{"/sbin/init"}
	if _, ws, err := create(t, dry, client.DryRunAll); err != nil || !hasWarning(ws, "must itself be PID 1") {
		t.Fatalf("dry run: %v, warnings %q", err, ws)
	}
	pod := lookupPod(ns, "booted", publicRef)
	pod.Spec.Containers[0].Command = []string{"/sbin/init"}
	got, ws := mustCreate(t, pod)
	assertUntouched(t, got)
	if !hasWarning(ws, `container "app"`) || !hasWarning(ws, "/sbin/init") {
		t.Errorf("no warning naming the container and its init: %q", ws)
	}
	ev := waitEvent(t, ns, "pod booted:", 20*time.Second)
	if ev == nil {
		t.Fatalf("no Event for pod booted in namespace %s", ns)
	}
	if ev.Reason != admit.EventReasonOwnInit || ev.Regarding.Kind != "ReplicaSet" || !strings.Contains(ev.Note, "/sbin/init") {
		t.Errorf("event: reason %s regarding %+v note %q, want %s on the ReplicaSet naming /sbin/init", ev.Reason, ev.Regarding, ev.Note, admit.EventReasonOwnInit)
	}
	if ev := waitEvent(t, ns, "pod booted-dry:", time.Second); ev != nil {
		t.Errorf("dry run recorded an Event: %s", ev.Note)
	}
}
