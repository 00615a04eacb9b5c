//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/graceful-dev/graceful/pkg/contract"
	"github.com/graceful-dev/graceful/pkg/drift/scan"
	"github.com/graceful-dev/graceful/test/deploy"
)

// chaosDeployments × chaosReplicas pods are created twice per round (scaled
// up, down, up again): 300 creations through ReplicaSets.
const (
	chaosDeployments = 3
	chaosReplicas    = 50
)

// testChaos SIGKILLs one webhook replica while Deployments create 300 pods,
// under failurePolicy Ignore and then Fail. Under Fail every pod object the
// API server stored is wrapped (the ReplicaSet controller retries a refused
// create); under Ignore the pods left unwrapped are exactly the ones
// `graceful-webhook drift` lists. The pods can not be scheduled (a
// nodeSelector no node has): only their creation is tested, not the node.
func testChaos(t *testing.T, h deploy.Helm) {
	for _, policy := range []string{"Ignore", "Fail"} {
		t.Run(strings.ToLower(policy), func(t *testing.T) { chaosRound(t, h, policy) })
	}
}

func chaosRound(t *testing.T, h deploy.Helm, policy string) {
	ctx := t.Context()
	if policy != "Ignore" {
		values := chartValues(t)
		values["webhook"] = map[string]any{"failurePolicy": policy}
		if out, err := h.Install(ctx, "upgrade", filepath.Join(env.root, "charts/graceful"), deploy.Namespace, values); err != nil {
			t.Fatalf("helm upgrade to failurePolicy %s: %v\n%s", policy, err, out)
		}
		t.Cleanup(func() {
			values["webhook"] = map[string]any{"failurePolicy": "Ignore"}
			if out, err := h.Install(context.Background(), "upgrade", filepath.Join(env.root, "charts/graceful"), deploy.Namespace, values); err != nil {
				t.Errorf("helm upgrade back to Ignore: %v\n%s", err, out)
			}
		})
	}
	ns := tempNamespace(t, map[string]string{contract.LabelInject: contract.NamespaceEnabled})
	if err := deploy.WaitInjecting(ctx, env.cs, ns, time.Minute); err != nil {
		t.Fatal(err)
	}

	// Every pod object as the API server stored it: the watch's ADDED.
	w, err := env.cs.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu      sync.Mutex
		created = map[string]bool{} // name → wrapped
	)
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		for ev := range w.ResultChan() {
			if p, ok := ev.Object.(*corev1.Pod); ok && ev.Type == watch.Added {
				mu.Lock()
				created[p.Name] = p.Annotations[contract.AnnotationStatus] != ""
				mu.Unlock()
			}
		}
	}()

	for i := range chaosDeployments {
		createChaosDeployment(t, ns, fmt.Sprintf("chaos-%d", i))
	}
	time.Sleep(500 * time.Millisecond)
	killed := killWebhookReplica(t)
	waitChaosPods(t, ns, chaosDeployments*chaosReplicas)
	if policy == "Ignore" {
		checkUnwrappedListed(t, ns, "the first wave")
	}
	for i := range chaosDeployments {
		if err := deploy.Scale(ctx, env.cs, ns, fmt.Sprintf("chaos-%d", i), 0); err != nil {
			t.Fatal(err)
		}
	}
	waitChaosPods(t, ns, 0)
	for i := range chaosDeployments {
		if err := deploy.Scale(ctx, env.cs, ns, fmt.Sprintf("chaos-%d", i), chaosReplicas); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(500 * time.Millisecond)
	killed = append(killed, killWebhookReplica(t)...)
	waitChaosPods(t, ns, chaosDeployments*chaosReplicas)
	time.Sleep(2 * time.Second) // the last ADDED events
	w.Stop()
	<-watched

	mu.Lock()
	defer mu.Unlock()
	unwrapped := map[string]bool{}
	for name, wrapped := range created {
		if !wrapped {
			unwrapped[name] = true
		}
	}
	if len(created) < 2*chaosDeployments*chaosReplicas {
		t.Errorf("%d pod creations seen, want at least %d", len(created), 2*chaosDeployments*chaosReplicas)
	}
	report(t, "chaos (failurePolicy %s): %d pod creations through %d Deployments, webhook replicas SIGKILLed: %s; %d stored unwrapped",
		policy, len(created), chaosDeployments, strings.Join(killed, ", "), len(unwrapped))
	if policy == "Fail" {
		if len(unwrapped) > 0 {
			t.Errorf("failurePolicy Fail: %d pods stored unwrapped: %v", len(unwrapped), keys(unwrapped))
		}
		return
	}

	checkUnwrappedListed(t, ns, "the second wave")
}

// checkUnwrappedListed: `graceful-webhook drift -n ns` lists exactly the
// pods of ns that are stored unwrapped, each not-wrapped with its chaos
// Deployment, and the leader's gauge counts the same number.
func checkUnwrappedListed(t *testing.T, ns, when string) {
	t.Helper()
	pods, err := env.cs.CoreV1().Pods(ns).List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for _, p := range pods.Items {
		if p.Annotations[contract.AnnotationStatus] == "" {
			want[p.Name] = true
		}
	}
	res := runDrift(t, ns)
	got := map[string]bool{}
	for _, p := range res.Unprotected {
		got[p.Name] = true
		if p.Reason != "not-wrapped" || p.Workload.Kind != "Deployment" || !strings.HasPrefix(p.Workload.Name, "chaos-") {
			t.Errorf("drift lists %+v", p)
		}
	}
	for name := range want {
		if !got[name] {
			t.Errorf("unwrapped pod %s is not listed by drift", name)
		}
	}
	for name := range got {
		if !want[name] {
			t.Errorf("drift lists %s, which is wrapped", name)
		}
	}
	leaderPod := waitUnprotectedGauge(t, ns, len(want))
	report(t, "chaos (failurePolicy Ignore), after %s: %d of %d existing pods unwrapped, graceful-webhook drift lists %d, the leader's (%s) graceful_unprotected_pods counts %d",
		when, len(want), len(pods.Items), len(got), leaderPod, len(want))
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

func createChaosDeployment(t *testing.T, ns, name string) {
	t.Helper()
	n := int32(chaosReplicas)
	labels := map[string]string{"app": name}
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: appsv1.DeploymentSpec{Replicas: &n, Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					NodeSelector: map[string]string{"graceful.dev/e2e-no-such-node": "true"},
					Containers:   []corev1.Container{{Name: "app", Image: env.images.Busybox, Command: []string{"sleep", "3600"}}},
				}}}}
	if _, err := env.cs.AppsV1().Deployments(ns).Create(t.Context(), d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// waitChaosPods waits until ns holds n pods (not being deleted).
func waitChaosPods(t *testing.T, ns string, n int) {
	t.Helper()
	poll(t, 4*time.Minute, fmt.Sprintf("%d pods in %s", n, ns), func() (bool, string) {
		pods, err := env.cs.CoreV1().Pods(ns).List(t.Context(), metav1.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		live := 0
		for _, p := range pods.Items {
			if p.DeletionTimestamp == nil {
				live++
			}
		}
		return live == n && len(pods.Items) == n, fmt.Sprintf("%d pods, %d live", len(pods.Items), live)
	})
}

// killWebhookReplica SIGKILLs the webhook process of one running replica:
// the container's init process, found through the local cluster's
// containerd (crictl inspect). It returns the pod's name.
func killWebhookReplica(t *testing.T) []string {
	t.Helper()
	pods, err := env.cs.CoreV1().Pods(deploy.Namespace).List(t.Context(), metav1.ListOptions{LabelSelector: deploy.PodSelector})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pods.Items {
		for _, cs := range p.Status.ContainerStatuses {
			if cs.State.Running == nil || cs.ContainerID == "" {
				continue
			}
			_, id, _ := strings.Cut(cs.ContainerID, "://")
			crictl := envOr("CRICTL", filepath.Join(env.root, "bin/tools/crictl"))
			sock := "unix://" + filepath.Join(envOr("GRACEFUL_CLUSTER_DIR", "/var/lib/graceful-cluster"), "containerd", "containerd.sock")
			var out, errb bytes.Buffer
			cmd := exec.CommandContext(t.Context(), crictl, "--runtime-endpoint", sock, "inspect", id)
			cmd.Stdout, cmd.Stderr = &out, &errb
			if err := cmd.Run(); err != nil {
				t.Fatalf("crictl inspect %s (the chaos case needs the local cluster, hack/cluster): %v\n%s", id, err, errb.String())
			}
			var info struct {
				Info struct {
					PID int `json:"pid"`
				} `json:"info"`
			}
			if err := json.Unmarshal(out.Bytes(), &info); err != nil || info.Info.PID <= 1 {
				t.Fatalf("crictl inspect %s: no pid (%v)", id, err)
			}
			if err := syscall.Kill(info.Info.PID, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
				t.Fatalf("SIGKILL webhook pid %d: %v", info.Info.PID, err)
			}
			return []string{p.Name}
		}
	}
	t.Fatal("no running webhook replica to SIGKILL")
	return nil
}

// runDrift runs `graceful-webhook drift -n ns -o json` and returns what it
// found (it must exit 0 or 3).
func runDrift(t *testing.T, ns string) scan.Result {
	t.Helper()
	bin := envOr("GRACEFUL_WEBHOOK", filepath.Join(env.root, "bin/graceful-webhook"))
	cmd := exec.CommandContext(t.Context(), bin, "drift", "-n", ns, "-o", "json")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.Env = append(os.Environ(), "KUBECONFIG="+os.Getenv("KUBECONFIG"))
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && (!errors.As(err, &exit) || exit.ExitCode() != 3) {
		t.Fatalf("drift: %v; stderr %s", err, errb.String())
	}
	var res scan.Result
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("drift -o json: %v\n%s", err, out.String())
	}
	return res
}
