//go:build e2e

package e2e

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/go-logr/logr"

	"github.com/graceful-dev/graceful/pkg/api/v1alpha1"
	"github.com/graceful-dev/graceful/pkg/contract"
	"github.com/graceful-dev/graceful/test/deploy"
	"github.com/graceful-dev/graceful/test/podrun"
)

// TestWebhook installs charts/graceful with helm and runs its cases in
// order, each depending on the ones before: install, an
// opted-in pod, the pod cases (seed scenario, a SIGTERM ignorer, an image
// entrypoint, a Deployment scaled down, a shared PID namespace, a native
// sidecar: together), the start cost (alone), namespace label and
// Enforce policy, Pod Security restricted, an outage with failurePolicy
// Ignore, uninstall. It leaves no release behind.
func TestWebhook(t *testing.T) {
	h := deploy.Helm{Bin: envOr("HELM", filepath.Join(env.root, "bin/tools/helm")), Kubeconfig: os.Getenv("KUBECONFIG")}
	if _, err := os.Stat(h.Bin); err != nil {
		t.Fatalf("helm: %v (run `make tools`, or set HELM)", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			dumpWebhook(t)
		}
		// Whatever happened, leave no webhook that would intercept the
		// cluster's pods, and no namespace a next run would trip over.
		if _, err := deploy.Uninstall(context.Background(), h, env.cs); err != nil {
			t.Logf("cleanup: %v", err)
		}
	})

	var running *corev1.Pod // the pod of opted-in-pod, checked again after uninstall
	ok := t.Run("install", func(t *testing.T) { installChart(t, h) }) &&
		t.Run("opted-in-pod", func(t *testing.T) { running = optedInPod(t) }) &&
		t.Run("pods", func(t *testing.T) {
			for name, f := range map[string]func(*testing.T){
				"seed-scenario":    testSeedScenario,
				"ignores-sigterm":  testIgnoresSIGTERM,
				"image-entrypoint": testImageEntrypoint,
				"deployment":       testDeployment,
				"shared-pid":       testSharedPIDNamespace,
				"native-sidecar":   testNativeSidecar,
				"stopsignal-quit":  testStopSignalQuit,
				"prestop-sleep-ignores-term": func(t *testing.T) {
					testPreStopIgnoresTERM(t, corev1.LifecycleHandler{Sleep: &corev1.SleepAction{Seconds: 5}}, "prestop-sleep", contract.DeliveryInitContainer)
				},
				"prestop-exec-ignores-term": func(t *testing.T) {
					testPreStopIgnoresTERM(t, corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"sleep", "4"}}}, "prestop-exec", contract.DeliveryInitContainer)
				},
				"sidecar-ignores-term": testSidecarIgnoresTERM,
				"prestop-uses-grace":   testPreStopUsesGrace,
				"report-finished-pod":  testReportFinishedPod,
				"report-probe-restart": testReportProbeRestart,
			} {
				t.Run(name, func(t *testing.T) { t.Parallel(); f(t) })
			}
			for name, f := range runtimeCases() {
				t.Run(name, func(t *testing.T) { t.Parallel(); f(t) })
			}
		}) &&
		t.Run("start-cost", testPodStartCost) &&
		t.Run("namespace-label-and-enforce-policy", testNamespaceAndPolicy) &&
		t.Run("pod-security-restricted", testRestricted) &&
		t.Run("outage-failure-policy-ignore", testOutage) &&
		t.Run("drift-after-outage", testDriftAfterOutage) &&
		t.Run("chaos-sigkill-replica", func(t *testing.T) { testChaos(t, h) }) &&
		t.Run("uninstall", func(t *testing.T) { testUninstall(t, h, running) })
	if !ok {
		t.Log("a webhook case failed; the cases after it were not run")
	}
}

// chartValues are the values TestWebhook installs and upgrades the chart
// with: deploy.Values, and this run's default ServiceAccount among the
// metrics readers (metricsReaderSubjects), for the e2e's scrapes.
func chartValues(t *testing.T) map[string]any {
	t.Helper()
	values, err := deploy.Values(env.images, env.registry)
	if err != nil {
		t.Fatal(err)
	}
	values["metricsReaderSubjects"] = []map[string]any{{"kind": "ServiceAccount", "name": "default", "namespace": env.ns}}
	return values
}

// installChart: helm install with graceful's image by digest from
// the test registry; both replicas Ready; the caBundle patched by the
// built-in rotation and matching the serving certificate.
func installChart(t *testing.T, h deploy.Helm) {
	ctx := t.Context()
	if err := deploy.WaitNamespaceGone(ctx, env.cs, deploy.Namespace, 2*time.Minute); err != nil {
		t.Fatal(err) // a previous run's, still terminating
	}
	values := chartValues(t)
	t0 := time.Now()
	out, err := h.Install(ctx, "install", filepath.Join(env.root, "charts/graceful"), deploy.Namespace, values)
	if err != nil {
		t.Fatalf("%v\n(the e2e installs and removes its own release %s/%s: a cluster that runs graceful already, make demo's for one, needs it removed first: make demo-down)", err, deploy.Namespace, deploy.ReleaseName)
	}
	t.Logf("helm install (%.1fs):\n%s", time.Since(t0).Seconds(), out)

	waitReplicas(t, 2)
	ready := time.Since(t0)
	t.Logf("install → 2 replicas Ready: %.1fs", ready.Seconds())
	logWebhookPods(t)
	if ready > 30*time.Second {
		// Seen now and then (docs/e2e.md): keep the evidence.
		t.Log("a replica was slow to become Ready; the webhook pods' logs:")
		dumpWebhook(t)
	}

	// The chart ships the configuration without a caBundle (mode rotate);
	// the webhook patches in the CA of the certificate it wrote.
	ca, err := deploy.WaitCABundle(ctx, env.cs, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("install → caBundle patched: %.1fs", time.Since(t0).Seconds())
	sec, err := env.cs.CoreV1().Secrets(deploy.Namespace).Get(ctx, deploy.CertSecret, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("serving certificate secret: %v", err)
	}
	verifyServing(t, ca, sec.Data["tls.crt"])
	// Ready replicas are not yet endpoints the API server reaches, and with
	// failurePolicy Ignore a pod created in between is admitted as it is.
	if err := deploy.WaitInjecting(ctx, env.cs, env.ns, time.Minute); err != nil {
		t.Fatal(err)
	}
}

// verifyServing checks that caPEM signs the serving certificate certPEM for
// the webhook Service's DNS name.
func verifyServing(t *testing.T, caPEM, certPEM []byte) {
	t.Helper()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		t.Fatalf("caBundle holds no PEM certificate:\n%s", caPEM)
	}
	blk, _ := pem.Decode(certPEM)
	if blk == nil {
		t.Fatalf("secret %s: tls.crt holds no PEM block", deploy.CertSecret)
	}
	cert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatalf("secret %s: tls.crt: %v", deploy.CertSecret, err)
	}
	dns := deploy.Deployment + "." + deploy.Namespace + ".svc"
	if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, DNSName: dns}); err != nil {
		t.Fatalf("serving certificate does not verify against the caBundle for %s: %v", dns, err)
	}
}

// optedInPod: a pod with graceful.dev/inject: "true" created through the
// API comes back rewritten, starts and runs graceful-init as PID 1.
func optedInPod(t *testing.T) *corev1.Pod {
	pod := optIn(shellPod("webhook-opted-in", 10, pid1Sleeper))
	got, _ := startPod(t, pod)
	requireInjected(t, got)
	out := waitLog(t, pod.Name, "pid1: ")
	if !podrun.Has(parseLog(t, out), "pid1: "+contract.InitPath) {
		t.Fatalf("PID 1 is not %s:\n%s", contract.InitPath, out)
	}
	return got
}

// requireInjected fails unless pod carries the webhook's status annotation,
// an app command that starts with graceful-init, and graceful's volume of
// one of the two deliveries: an emptyDir filled by the graceful-install
// init container, or an image volume and no install container.
func requireInjected(t *testing.T, pod *corev1.Pod) {
	t.Helper()
	if _, ok := pod.Annotations[contract.AnnotationStatus]; !ok {
		t.Errorf("pod %s/%s: no %s annotation: not injected (annotations %v)", pod.Namespace, pod.Name, contract.AnnotationStatus, pod.Annotations)
	}
	if cmd := pod.Spec.Containers[0].Command; len(cmd) == 0 || cmd[0] != contract.InitPath {
		t.Errorf("pod %s/%s: command %q does not start with %s", pod.Namespace, pod.Name, cmd, contract.InitPath)
	}
	if t.Failed() {
		t.FailNow()
	}
	delivery(t, pod)
}

// delivery returns how graceful-init reached pod, and fails unless the pod
// has exactly one delivery's parts.
func delivery(t *testing.T, pod *corev1.Pod) string {
	t.Helper()
	install := slices.ContainsFunc(pod.Spec.InitContainers, func(c corev1.Container) bool { return c.Name == contract.InstallContainerName })
	i := slices.IndexFunc(pod.Spec.Volumes, func(v corev1.Volume) bool { return v.Name == contract.VolumeName })
	switch {
	case i < 0:
		t.Fatalf("pod %s/%s: no %s volume", pod.Namespace, pod.Name, contract.VolumeName)
	case pod.Spec.Volumes[i].Image != nil && !install:
		return contract.DeliveryImageVolume
	case pod.Spec.Volumes[i].EmptyDir != nil && install:
		return contract.DeliveryInitContainer
	}
	t.Fatalf("pod %s/%s: volume %s %+v with install container %v: neither delivery", pod.Namespace, pod.Name, contract.VolumeName, pod.Spec.Volumes[i].VolumeSource, install)
	return ""
}

// requireDelivery is requireInjected, and the delivery is want.
func requireDelivery(t *testing.T, pod *corev1.Pod, want string) {
	t.Helper()
	requireInjected(t, pod)
	if got := delivery(t, pod); got != want {
		t.Fatalf("pod %s/%s: delivered by %s, want %s", pod.Namespace, pod.Name, got, want)
	}
}

func requireNotInjected(t *testing.T, pod *corev1.Pod) {
	t.Helper()
	if _, ok := pod.Annotations[contract.AnnotationStatus]; ok || len(pod.Spec.InitContainers) != 0 {
		t.Fatalf("pod %s/%s was injected (annotations %v, %d init containers)", pod.Namespace, pod.Name, pod.Annotations, len(pod.Spec.InitContainers))
	}
}

// warnings collects the API server's warning headers.
type warnings struct {
	mu   sync.Mutex
	list []string
}

func (w *warnings) HandleWarningHeader(_ int, _ string, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.list = append(w.list, text)
}

func (w *warnings) all() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.list)
}

// tempNamespace creates a namespace with labels, deleted at the end of the test.
func tempNamespace(t *testing.T, labels map[string]string) string {
	t.Helper()
	ns, err := env.cs.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: env.ns + "-", Labels: labels}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	t.Cleanup(func() { _ = env.cs.CoreV1().Namespaces().Delete(context.Background(), ns.Name, metav1.DeleteOptions{}) })
	if err := (podrun.Client{CS: env.cs, NS: ns.Name}).WaitServiceAccount(t.Context()); err != nil {
		t.Fatal(err)
	}
	return ns.Name
}

// createPod creates pod in ns through cs and returns the stored object, as
// the admission chain left it.
func createPod(t *testing.T, cs kubernetes.Interface, ns string, pod *corev1.Pod) *corev1.Pod {
	t.Helper()
	pod = pod.DeepCopy()
	pod.Namespace = ns
	got, err := cs.CoreV1().Pods(ns).Create(t.Context(), pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create pod %s/%s: %v", ns, pod.Name, err)
	}
	return got
}

// waitInjects waits until dry runs of pod in ns come back injected: the
// webhook is reachable and its replicas' caches hold what decides it (a
// namespace just created with the opt-in label, a new policy).
func waitInjects(t *testing.T, ns string, pod *corev1.Pod) {
	t.Helper()
	if err := deploy.WaitInjects(t.Context(), env.cs, ns, pod, time.Minute); err != nil {
		t.Fatal(err)
	}
}

// pid1Sleeper names PID 1, then sleeps until SIGTERM.
const pid1Sleeper = podrun.PrintPID1 + `; trap 'exit 0' TERM; while :; do sleep 1 & wait $!; done`

// optedOut marks pod as opted out by annotation.
func optedOut(pod *corev1.Pod) *corev1.Pod {
	pod.Annotations = map[string]string{contract.AnnotationInject: contract.InjectFalse}
	return pod
}

func testNamespaceAndPolicy(t *testing.T) {
	t.Run("namespace-label", func(t *testing.T) {
		ns := tempNamespace(t, map[string]string{contract.LabelInject: contract.NamespaceEnabled})
		waitInjects(t, ns, shellPod("ns-opted-in", 5, "sleep 3600"))
		requireInjected(t, createPod(t, env.cs, ns, shellPod("ns-opted-in", 5, "sleep 3600")))
		requireNotInjected(t, createPod(t, env.cs, ns, optedOut(shellPod("ns-opted-out", 5, "sleep 3600"))))
	})
	t.Run("enforce-policy-overrules-opt-out", func(t *testing.T) {
		ns := tempNamespace(t, nil)
		ctrllog.SetLogger(logr.Discard()) // the client logs nothing worth reading here
		scheme := runtime.NewScheme()
		if err := v1alpha1.AddToScheme(scheme); err != nil {
			t.Fatal(err)
		}
		c, err := client.New(env.cfg, client.Options{Scheme: scheme})
		if err != nil {
			t.Fatal(err)
		}
		pol := &v1alpha1.ShutdownPolicy{
			ObjectMeta: metav1.ObjectMeta{Name: ns},
			Spec: v1alpha1.ShutdownPolicySpec{
				Mode:              v1alpha1.ModeEnforce,
				NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": ns}},
			},
		}
		if err := c.Create(t.Context(), pol); err != nil {
			t.Fatalf("create ShutdownPolicy: %v", err)
		}
		t.Cleanup(func() { _ = c.Delete(context.Background(), pol) })
		// The webhook's status controller marks the policy Ready once its
		// cache holds it.
		poll(t, time.Minute, "ShutdownPolicy Ready", func() (bool, string) {
			if err := c.Get(t.Context(), client.ObjectKeyFromObject(pol), pol); err != nil {
				return false, err.Error()
			}
			return meta.IsStatusConditionTrue(pol.Status.Conditions, "Ready"), fmt.Sprint(pol.Status.Conditions)
		})

		w := &warnings{}
		cfg := rest.CopyConfig(env.cfg)
		cfg.WarningHandler = w
		cs, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			t.Fatal(err)
		}
		// Both replicas serve admission; each has its own cache, which
		// may see the policy a moment after the status controller did.
		// (The dry runs go through env.cs: the warning checked below is
		// the real create's.)
		waitInjects(t, ns, optedOut(shellPod("enforced", 5, "sleep 3600")))
		got := createPod(t, cs, ns, optedOut(shellPod("enforced", 5, "sleep 3600")))
		requireInjected(t, got)
		want := fmt.Sprintf("opt-out annotation %s=false overruled by ShutdownPolicy %s (Enforce)", contract.AnnotationInject, pol.Name)
		ws := w.all()
		t.Logf("warnings returned to the client: %q", ws)
		if !slices.ContainsFunc(ws, func(s string) bool { return strings.Contains(s, want) }) {
			t.Errorf("no warning %q returned to the client; got %q", want, ws)
		}
	})
}

// testRestricted: a namespace enforcing the restricted Pod Security
// Standard (checked after mutation) admits an injected pod that complies on
// its own, and the pod starts.
func testRestricted(t *testing.T) {
	ns := tempNamespace(t, map[string]string{
		contract.LabelInject:                 contract.NamespaceEnabled,
		"pod-security.kubernetes.io/enforce": "restricted",
	})
	pod := shellPod("restricted", 5, pid1Sleeper)
	pod.Namespace = ns
	pod.Spec.SecurityContext = &corev1.PodSecurityContext{
		RunAsNonRoot:   new(true),
		RunAsUser:      new(int64(1000)),
		SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
	pod.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{
		AllowPrivilegeEscalation: new(false),
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
	}
	// The pod complies with restricted on its own; injected, it is still
	// admitted (the namespace's policy is checked after mutation), by
	// either delivery: restricted allows image volumes.
	waitInjects(t, ns, pod)
	pods := []*corev1.Pod{pod}
	if env.imageVolumes {
		iv := byImageVolume(pod.DeepCopy())
		iv.Name = "restricted-image-volume"
		pods = append(pods, iv)
	}
	for _, pod := range pods {
		got := createPod(t, env.cs, ns, pod)
		requireInjected(t, got)
		poll(t, 2*time.Minute, pod.Name+" Ready", func() (bool, string) {
			p, err := env.cs.CoreV1().Pods(ns).Get(t.Context(), pod.Name, metav1.GetOptions{})
			if err != nil {
				return false, err.Error()
			}
			if p.Status.Phase == corev1.PodFailed {
				t.Fatalf("restricted pod %s failed: %v", pod.Name, p.Status)
			}
			return podrun.IsReady(p), string(p.Status.Phase)
		})
		b, err := env.cs.CoreV1().Pods(ns).GetLogs(pod.Name, &corev1.PodLogOptions{Container: "app"}).DoRaw(t.Context())
		if err != nil || !strings.Contains(string(b), "pid1: "+contract.InitPath) {
			t.Fatalf("restricted pod %s (%s): PID 1 is not %s (err %v):\n%s", pod.Name, delivery(t, got), contract.InitPath, err, b)
		}
	}
	// A pod breaking the standard is still refused: injection does not
	// open a hole.
	bad := shellPod("restricted-bad", 5, "sleep 3600")
	bad.Namespace = ns
	if _, err := env.cs.CoreV1().Pods(ns).Create(t.Context(), bad, metav1.CreateOptions{}); err == nil || !apierrors.IsForbidden(err) {
		t.Fatalf("non-compliant pod in a restricted namespace: err %v, want Forbidden", err)
	}
}

func testOutage(t *testing.T) {
	scale(t, 0)
	poll(t, 2*time.Minute, "no webhook pods left", func() (bool, string) {
		pods, err := env.cs.CoreV1().Pods(deploy.Namespace).List(t.Context(), metav1.ListOptions{LabelSelector: deploy.PodSelector})
		if err != nil {
			return false, err.Error()
		}
		return len(pods.Items) == 0, fmt.Sprintf("%d pods", len(pods.Items))
	})
	pod := shellPod("outage", 5, "sleep 3600")
	pod.Annotations = map[string]string{contract.AnnotationInject: contract.InjectTrue}
	t0 := time.Now()
	got := createPod(t, env.cs, env.ns, pod)
	d := time.Since(t0)
	t.Logf("outage: opted-in pod created in %.2fs", d.Seconds())
	requireNotInjected(t, got)
	// The configuration's timeoutSeconds is 5; with no endpoints the API
	// server fails the call at once. Generous slack for a loaded machine.
	if d > 10*time.Second {
		t.Errorf("create took %v during the outage, want a few seconds at most", d)
	}

	scale(t, 2)
	waitReplicas(t, 2)
	t0 = time.Now()
	waitInjects(t, env.ns, optIn(shellPod("resumed", 5, "sleep 3600")))
	after := createPod(t, env.cs, env.ns, optIn(shellPod("resumed", 5, "sleep 3600")))
	requireInjected(t, after)
	t.Logf("outage: injection resumed %.2fs after both replicas were Ready again", time.Since(t0).Seconds())
}

func testUninstall(t *testing.T, h deploy.Helm, running *corev1.Pod) {
	out, err := h.Run(t.Context(), "uninstall", deploy.ReleaseName, "--namespace", deploy.Namespace, "--wait")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("helm uninstall:\n%s", out)
	if _, err := env.cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(t.Context(), deploy.WebhookConfig, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("MutatingWebhookConfiguration %s after uninstall: %v, want NotFound", deploy.WebhookConfig, err)
	}
	all, err := env.cs.AdmissionregistrationV1().MutatingWebhookConfigurations().List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range all.Items {
		for _, w := range m.Webhooks {
			if strings.HasSuffix(w.Name, ".graceful.dev") {
				t.Errorf("MutatingWebhookConfiguration %s still has webhook %s after uninstall", m.Name, w.Name)
			}
		}
	}
	// A new pod is admitted as is, without waiting for a webhook.
	p := shellPod("after-uninstall", 5, "sleep 3600")
	p.Annotations = map[string]string{contract.AnnotationInject: contract.InjectTrue}
	requireNotInjected(t, createPod(t, env.cs, env.ns, p))
	if running == nil {
		t.Fatal("no running pod from the opted-in case")
	}
	got, err := env.cs.CoreV1().Pods(env.ns).Get(t.Context(), running.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("injected pod %s after uninstall: %v", running.Name, err)
	}
	if got.UID != running.UID || !podrun.IsReady(got) || got.Status.ContainerStatuses[0].RestartCount != 0 {
		t.Errorf("injected pod %s did not keep running through the uninstall: phase %s, ready %v, uid %s → %s",
			got.Name, got.Status.Phase, podrun.IsReady(got), running.UID, got.UID)
	}
}

// scale sets the webhook Deployment's replicas through its scale subresource.
func scale(t *testing.T, n int32) {
	t.Helper()
	if err := deploy.Scale(t.Context(), env.cs, deploy.Namespace, deploy.Deployment, n); err != nil {
		t.Fatal(err)
	}
}

func waitReplicas(t *testing.T, n int32) {
	t.Helper()
	if err := deploy.WaitReplicas(t.Context(), env.cs, deploy.Namespace, n, 3*time.Minute); err != nil {
		t.Fatal(err)
	}
}

// poll calls f every 250 ms until it returns true, failing the test after d
// with f's last explanation.
func poll(t *testing.T, d time.Duration, what string, f func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		ok, why := f()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v (last: %s)", what, d, why)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// logWebhookPods logs each webhook pod's start and restarts.
func logWebhookPods(t *testing.T) {
	t.Helper()
	pods, err := env.cs.CoreV1().Pods(deploy.Namespace).List(t.Context(), metav1.ListOptions{LabelSelector: deploy.PodSelector})
	if err != nil {
		t.Fatalf("webhook pods: %v", err)
	}
	for _, p := range pods.Items {
		for _, c := range p.Status.ContainerStatuses {
			started := ""
			if c.State.Running != nil {
				started = c.State.Running.StartedAt.Sub(p.CreationTimestamp.Time).String()
			}
			var ready string
			for _, cond := range p.Status.Conditions {
				if cond.Type == corev1.PodReady {
					ready = cond.LastTransitionTime.Sub(p.CreationTimestamp.Time).String()
				}
			}
			t.Logf("webhook pod %s: container %s running %s after create, Ready %s after create, restarts %d", p.Name, c.Name, started, ready, c.RestartCount)
		}
	}
}

// dumpWebhook logs the webhook pods (status, logs, events) and the release
// namespace's events.
func dumpWebhook(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := podrun.Client{CS: env.cs, NS: deploy.Namespace}
	pods, err := env.cs.CoreV1().Pods(deploy.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Logf("webhook pods: %v", err)
		return
	}
	for _, p := range pods.Items {
		t.Log(c.Describe(ctx, p.Name))
	}
	t.Log(c.Events(ctx, ""))
}
