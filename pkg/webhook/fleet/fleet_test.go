package fleet_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"
	dto "github.com/prometheus/client_model/go"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/graceful-dev/graceful/pkg/api/v1alpha1"
	"github.com/graceful-dev/graceful/pkg/contract"
	"github.com/graceful-dev/graceful/pkg/webhook/fleet"
	"github.com/graceful-dev/graceful/pkg/webhook/metrics"
	"github.com/graceful-dev/graceful/test/envtestenv"
)

// The suite: one real etcd + kube-apiserver, one manager in this process
// running the fleet controllers (no leader election: this process leads).
var (
	shared = &envtestenv.Shared{}
	k8s    client.Client
	scheme = k8sruntime.NewScheme()
)

const version = "v2.0.0"

func TestMain(m *testing.M) {
	root, err := envtestenv.ModuleRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	shared.Environment.CRDDirectoryPaths = []string{filepath.Join(root, "config", "crd", "bases")}
	shared.Environment.ErrorIfCRDPathMissing = true
	code := m.Run()
	if stop != nil {
		stop()
		if err := <-stopped; err != nil {
			fmt.Fprintln(os.Stderr, "manager:", err)
		}
	}
	if err := shared.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
	os.Exit(code)
}

var (
	started atomic.Bool
	stop    context.CancelFunc
	stopped = make(chan error, 1)
)

// start runs the manager with the fleet controllers once for the package.
func start(t *testing.T) {
	t.Helper()
	cfg := shared.Config(t)
	if started.Swap(true) {
		return
	}
	logf.SetLogger(funcr.New(func(prefix, args string) {
		if os.Getenv("GRACEFUL_TEST_VERBOSE") != "" {
			fmt.Fprintln(os.Stderr, prefix, args)
		}
	}, funcr.Options{}))
	for _, add := range []func(*k8sruntime.Scheme) error{clientgoscheme.AddToScheme, v1alpha1.AddToScheme} {
		if err := add(scheme); err != nil {
			t.Fatal(err)
		}
	}
	var err error
	if k8s, err = client.New(cfg, client.Options{Scheme: scheme}); err != nil {
		t.Fatal(err)
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{Scheme: scheme, Metrics: metricsserver.Options{BindAddress: "0"}, HealthProbeBindAddress: "0"})
	if err != nil {
		t.Fatal(err)
	}
	metrics.Register(nil)
	if err := fleet.Setup(mgr, fleet.Options{Version: version, ExcludedNamespaces: []string{"kube-system", "graceful-system"},
		Events: mgr.GetEventRecorder("graceful-webhook")}); err != nil {
		t.Fatal(err)
	}
	// The package's tests share the manager; TestMain stops it.
	var ctx context.Context
	ctx, stop = context.WithCancel(context.Background())
	go func() { stopped <- mgr.Start(ctx) }()
}

var seq atomic.Int64

func namespace(t *testing.T, labels map[string]string) string {
	t.Helper()
	name := fmt.Sprintf("fleet-%d", seq.Add(1))
	if err := k8s.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}); err != nil {
		t.Fatal(err)
	}
	return name
}

var enabled = map[string]string{contract.LabelInject: contract.NamespaceEnabled}

// pod creates a pod as the webhook (version v, "" not wrapped) would have
// left it, owned by owner when given.
func pod(t *testing.T, ns, name, v string, owner client.Object, mutate func(*corev1.Pod)) *corev1.Pod {
	t.Helper()
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "busybox", Command: []string{"sleep", "1d"}}}}}
	if v != "" {
		p.Annotations = map[string]string{contract.AnnotationStatus: fmt.Sprintf(`{"version":%q,"containers":["app"]}`, v)}
		p.Labels = map[string]string{contract.LabelWrapped: contract.WrappedLabelValue(v)}
		p.Spec.Containers[0].Command = []string{contract.InitPath, "--grace-period=30s", "--", "sleep", "1d"}
	}
	if owner != nil {
		gvk, err := apiutil.GVKForObject(owner, scheme)
		if err != nil {
			t.Fatal(err)
		}
		p.OwnerReferences = []metav1.OwnerReference{*metav1.NewControllerRef(owner, gvk)}
	}
	if mutate != nil {
		mutate(p)
	}
	if err := k8s.Create(context.Background(), p); err != nil {
		t.Fatalf("creating pod %s/%s: %v", ns, name, err)
	}
	return p
}

// deployment creates a Deployment and a ReplicaSet it owns, as the
// deployment controller would (envtest runs no controllers).
func deployment(t *testing.T, ns, name string) (*appsv1.Deployment, *appsv1.ReplicaSet) {
	t.Helper()
	sel := &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}}
	tmpl := corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "busybox"}}}}
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: appsv1.DeploymentSpec{Selector: sel, Template: tmpl}}
	if err := k8s.Create(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name + "-5d9",
		OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(d, appsv1.SchemeGroupVersion.WithKind("Deployment"))}},
		Spec: appsv1.ReplicaSetSpec{Selector: sel, Template: tmpl}}
	if err := k8s.Create(context.Background(), rs); err != nil {
		t.Fatal(err)
	}
	return d, rs
}

// gauge reads graceful_unprotected_pods{namespace,reason} from the registry
// (-1: no such series).
func gauge(t *testing.T, ns, reason string) float64 {
	t.Helper()
	return metric(t, "graceful_unprotected_pods", map[string]string{"namespace": ns, "reason": reason})
}

func metric(t *testing.T, name string, want map[string]string) float64 {
	t.Helper()
	fams, err := crmetrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			if labelsAre(m, want) {
				if f.GetType() == dto.MetricType_GAUGE {
					return m.GetGauge().GetValue()
				}
				return m.GetCounter().GetValue()
			}
		}
	}
	return -1
}

func labelsAre(m *dto.Metric, want map[string]string) bool {
	if len(m.GetLabel()) != len(want) {
		return false
	}
	for _, l := range m.GetLabel() {
		if want[l.GetName()] != l.GetValue() {
			return false
		}
	}
	return true
}

// eventually retries check until it returns "" or 30s pass.
func eventually(t *testing.T, what string, check func() string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		msg := check()
		if msg == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %s", what, msg)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func expectGauge(t *testing.T, ns string, want map[string]float64) {
	t.Helper()
	eventually(t, "graceful_unprotected_pods in "+ns, func() string {
		for _, reason := range []string{metrics.DriftNotWrapped, metrics.DriftOtherVersion, metrics.DriftAudit} {
			w, ok := want[reason]
			if !ok {
				w = -1
			}
			if got := gauge(t, ns, reason); got != w {
				return fmt.Sprintf("reason %s: %v, want %v (-1: no series)", reason, got, w)
			}
		}
		return ""
	})
}

// events lists the events.k8s.io Events in ns with reason.
func events(t *testing.T, ns, reason string) []eventsv1.Event {
	t.Helper()
	var list eventsv1.EventList
	if err := k8s.List(context.Background(), &list, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	var out []eventsv1.Event
	for _, e := range list.Items {
		if e.Reason == reason {
			out = append(out, e)
		}
	}
	return out
}

// TestUnprotectedPods: wrapped, unwrapped, old-version, audit and Windows
// pods; the gauge counts what drifts, by namespace and reason, follows
// deletes and policy changes, and the owner hears of it once.
func TestUnprotectedPods(t *testing.T) {
	start(t)
	ns := namespace(t, enabled)
	d, rs := deployment(t, ns, "web")
	pod(t, ns, "web-5d9-a", "", rs, nil)
	pod(t, ns, "web-5d9-b", "", rs, nil)
	pod(t, ns, "wrapped", version, nil, nil)
	old := pod(t, ns, "old", "v1.0.0", nil, nil)
	pod(t, ns, "windows", "", nil, func(p *corev1.Pod) { p.Spec.OS = &corev1.PodOS{Name: corev1.Windows} })
	pod(t, ns, "opted-out", "", nil, func(p *corev1.Pod) { p.Annotations = map[string]string{contract.AnnotationInject: "false"} })
	other := namespace(t, nil) // selected by nothing
	pod(t, other, "alone", "", nil, nil)

	expectGauge(t, ns, map[string]float64{metrics.DriftNotWrapped: 2, metrics.DriftOtherVersion: 1})
	expectGauge(t, other, nil)

	// One Event for the Deployment, not one per pod or resync.
	eventually(t, "the Deployment's Event", func() string {
		evs := events(t, ns, fleet.EventReasonUnprotected)
		var onDeploy []eventsv1.Event
		for _, e := range evs {
			if e.Regarding.Kind == "Deployment" && e.Regarding.Name == d.Name {
				onDeploy = append(onDeploy, e)
			}
		}
		if len(onDeploy) != 1 {
			return fmt.Sprintf("%d Events on the Deployment, want 1: %+v", len(onDeploy), evs)
		}
		if !strings.Contains(onDeploy[0].Note, "kubectl rollout restart deployment/web -n "+ns) || onDeploy[0].Regarding.UID != d.UID {
			return fmt.Sprintf("Event %q on %+v", onDeploy[0].Note, onDeploy[0].Regarding)
		}
		return ""
	})

	// An Audit policy selecting the other namespace's pods.
	audit := &v1alpha1.ShutdownPolicy{ObjectMeta: metav1.ObjectMeta{Name: "audit-" + other},
		Spec: v1alpha1.ShutdownPolicySpec{Mode: v1alpha1.ModeAudit, NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{corev1.LabelMetadataName: other}}}}
	if err := k8s.Create(context.Background(), audit); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = k8s.Delete(context.Background(), audit) })
	expectGauge(t, other, map[string]float64{metrics.DriftAudit: 1})

	// Fixed pods leave the count; the last one takes the series with it.
	if err := k8s.Delete(context.Background(), old); err != nil {
		t.Fatal(err)
	}
	expectGauge(t, ns, map[string]float64{metrics.DriftNotWrapped: 2})
	// The namespace opting out takes every pod out of the precedence.
	var n corev1.Namespace
	if err := k8s.Get(context.Background(), client.ObjectKey{Name: ns}, &n); err != nil {
		t.Fatal(err)
	}
	n.Labels[contract.LabelInject] = contract.NamespaceDisabled
	if err := k8s.Update(context.Background(), &n); err != nil {
		t.Fatal(err)
	}
	expectGauge(t, ns, nil)
}

// runInit runs the real graceful-init (not as PID 1: a subreaper) around
// shell, stops it with SIGTERM once it runs, and returns the report it
// wrote and its exit code.
func runInit(t *testing.T, grace string, shell string) (string, int) {
	t.Helper()
	bin := initBinary(t)
	log := filepath.Join(t.TempDir(), "termination-log")
	cmd := exec.Command(bin, "--grace-period="+grace, "--termination-log="+log, "--", "sh", "-c", shell)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond) // the shell sets its traps
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	code := cmd.ProcessState.ExitCode()
	if err != nil && code < 0 {
		t.Fatal(err)
	}
	b, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	return string(b), code
}

var initBin string

func initBinary(t *testing.T) string {
	t.Helper()
	if initBin != "" {
		return initBin
	}
	root, err := envtestenv.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "graceful-init")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/init")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build cmd/init: %v\n%s", err, out)
	}
	initBin = bin
	return bin
}

// terminate writes a terminated state into the pod's status subresource,
// as the kubelet would; lastState keeps the termination before it.
func terminate(t *testing.T, p *corev1.Pod, container, id string, code int32, msg string, last *corev1.ContainerStateTerminated) *corev1.ContainerStateTerminated {
	t.Helper()
	now := metav1.NewTime(time.Now().Truncate(time.Second))
	term := &corev1.ContainerStateTerminated{ExitCode: code, Message: msg, StartedAt: now, FinishedAt: now, ContainerID: id, Reason: "Error"}
	var cur corev1.Pod
	if err := k8s.Get(context.Background(), client.ObjectKeyFromObject(p), &cur); err != nil {
		t.Fatal(err)
	}
	var restarts int32
	if last != nil {
		restarts = 1
	}
	status := corev1.ContainerStatus{Name: container, Image: "busybox", ImageID: "docker.io/library/busybox@sha256:0000000000000000000000000000000000000000000000000000000000000000",
		RestartCount: restarts, State: corev1.ContainerState{Terminated: term}}
	if last != nil {
		status.LastTerminationState.Terminated = last
		status.State = corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}}
		status.ContainerID = id + "-next"
	}
	cur.Status.Phase = corev1.PodRunning
	cur.Status.ContainerStatuses = []corev1.ContainerStatus{status}
	if err := k8s.Status().Update(context.Background(), &cur); err != nil {
		t.Fatalf("writing the status of %s: %v", p.Name, err)
	}
	return term
}

// TestShutdownOutcomes: reports written by the real graceful-init, put into
// wrapped pods' statuses, are counted once each by outcome and workload,
// also when the termination moves to lastState; a SIGKILL at the budget
// names the process in an Event on the workload.
func TestShutdownOutcomes(t *testing.T) {
	start(t)
	ns := namespace(t, enabled)
	d, rs := deployment(t, ns, "api")
	killedReport, code := runInit(t, "2s", `trap "" TERM; sleep 30`)
	if !strings.Contains(killedReport, "budget spent") || code != 137 {
		t.Fatalf("graceful-init exit %d, report:\n%s", code, killedReport)
	}
	cleanReport, code := runInit(t, "10s", `exec sleep 30`)
	if code != 143 {
		t.Fatalf("graceful-init exit %d, report:\n%s", code, cleanReport)
	}
	outcome := func(o string) float64 {
		return metric(t, "graceful_container_shutdowns_total", map[string]string{"namespace": ns, "owner_kind": "Deployment", "owner_name": d.Name, "outcome": o})
	}
	expect := func(want map[string]float64) {
		t.Helper()
		eventually(t, "graceful_container_shutdowns_total", func() string {
			for _, o := range []string{metrics.OutcomeClean, metrics.OutcomeGracefulKill, metrics.OutcomeKubeletKill, metrics.OutcomeUnknown} {
				w, ok := want[o]
				if !ok {
					w = -1
				}
				if got := outcome(o); got != w {
					return fmt.Sprintf("outcome %s: %v, want %v", o, got, w)
				}
			}
			return ""
		})
	}

	killed := pod(t, ns, "api-5d9-a", version, rs, nil)
	first := terminate(t, killed, "app", "containerd://a1", 137, killedReport, nil)
	expect(map[string]float64{metrics.OutcomeGracefulKill: 1})
	// The restart moves it to lastState: not counted again.
	terminate(t, killed, "app", "containerd://a2", 0, "", first)
	clean := pod(t, ns, "api-5d9-b", version, rs, nil)
	terminate(t, clean, "app", "containerd://b1", 143, cleanReport, nil)
	byKubelet := pod(t, ns, "api-5d9-c", version, rs, nil)
	terminate(t, byKubelet, "app", "containerd://c1", 137, "", nil)
	// A container graceful did not wrap is not counted.
	unwrapped := pod(t, ns, "api-5d9-d", version, rs, func(p *corev1.Pod) {
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "sidecar", Image: "busybox"})
	})
	terminate(t, unwrapped, "sidecar", "containerd://d1", 137, "", nil)
	expect(map[string]float64{metrics.OutcomeGracefulKill: 1, metrics.OutcomeClean: 1, metrics.OutcomeKubeletKill: 1})

	eventually(t, "the SIGKILL Event", func() string {
		evs := events(t, ns, fleet.EventReasonKilled)
		if len(evs) != 1 {
			return fmt.Sprintf("%d %s Events, want 1: %+v", len(evs), fleet.EventReasonKilled, evs)
		}
		e := evs[0]
		if e.Regarding.Kind != "Deployment" || e.Regarding.Name != d.Name || !strings.Contains(e.Note, "SIGKILLed pid ") || !strings.Contains(e.Note, "sleep 30") {
			return fmt.Sprintf("Event %q on %+v", e.Note, e.Regarding)
		}
		return ""
	})
}
