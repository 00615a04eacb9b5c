//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/graceful-dev/graceful/pkg/contract"
	"github.com/graceful-dev/graceful/test/deploy"
	"github.com/graceful-dev/graceful/test/podrun"
	"github.com/graceful-dev/graceful/test/seed"
)

// testDeployment: the pod of a Deployment whose template opts in is
// injected (it is created by the ReplicaSet controller, with generateName,
// not by the test), and scaling the Deployment to 0, as a rollout or a
// scale-down does, stops it through graceful-init with every process's
// cleanup done.
func testDeployment(t *testing.T) {
	const name = "seed-deployment"
	labels := map[string]string{"app": name}
	spec := seed.Pod(name, env.ns, env.images.Busybox, seedGrace).Spec
	spec.RestartPolicy = corev1.RestartPolicyAlways // the only policy a Deployment takes
	replicas := int32(1)
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: env.ns},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels, Annotations: map[string]string{contract.AnnotationInject: contract.InjectTrue}},
				Spec:       spec,
			},
		},
	}
	deps := env.cs.AppsV1().Deployments(env.ns)
	if _, err := deps.Create(t.Context(), d, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create deployment %s: %v", name, err)
	}
	t.Cleanup(func() { _ = deps.Delete(context.Background(), name, metav1.DeleteOptions{}) })

	var pod *corev1.Pod
	poll(t, 2*time.Minute, "a Ready pod of deployment "+name, func() (bool, string) {
		list, err := env.cs.CoreV1().Pods(env.ns).List(t.Context(), metav1.ListOptions{LabelSelector: "app=" + name})
		if err != nil {
			return false, err.Error()
		}
		for i := range list.Items {
			if podrun.IsReady(&list.Items[i]) {
				pod = &list.Items[i]
				return true, ""
			}
		}
		return false, fmt.Sprintf("%d pods, none Ready", len(list.Items))
	})
	describeOnFailure(t, pod.Name)
	requireInjected(t, pod)
	for _, p := range seed.Processes {
		waitLog(t, pod.Name, p+": started")
	}
	logs := followLogs(t, pod.Name)
	r, err := pods().StopWith(t.Context(), pod.Name, seed.Container, func(ctx context.Context) error {
		return deploy.Scale(ctx, env.cs, env.ns, name, 0)
	})
	if err != nil {
		t.Fatal(err)
	}
	out := waitLogEnd(t, logs)
	o := seed.Analyze(pod.Name, seedGrace*time.Second, parseLog(t, out), r)
	o.Log = out
	checkSeedInjected(t, o)
}

// testSharedPIDNamespace: in a pod with shareProcessNamespace the pause
// container is PID 1 and graceful-init runs as a subreaper; it still
// reaches the setsid daemon, and every process finishes its cleanup.
func testSharedPIDNamespace(t *testing.T) {
	pod := optIn(seed.Pod("seed-shared-pid", env.ns, env.images.Busybox, seedGrace))
	pod.Spec.ShareProcessNamespace = new(true)
	describeOnFailure(t, pod.Name)
	outs, err := seed.Run(t.Context(), pods(), pod)
	if err != nil {
		t.Fatal(err)
	}
	if !outs[0].Injected {
		t.Fatalf("%s: not injected", pod.Name)
	}
	// PID 1 is the pause container's.
	checkSeedClean(t, outs[0], "/pause")
}

// testNativeSidecar: a native sidecar (an init container with restartPolicy
// Always) is wrapped too, after graceful-install so that the init is in
// place when it starts; on delete the kubelet stops the app container, then
// the sidecar, and in both every process finishes its cleanup.
func testNativeSidecar(t *testing.T) {
	pod := optIn(seed.Pod("native-sidecar", env.ns, env.images.Busybox, seedGrace))
	side := pod.Spec.Containers[0]
	side.Name = "sidecar"
	side.RestartPolicy = new(corev1.ContainerRestartPolicyAlways)
	pod.Spec.InitContainers = []corev1.Container{side}
	got, _ := startPod(t, pod)
	requireInjected(t, got)
	if n := len(got.Spec.InitContainers); n != 2 || got.Spec.InitContainers[0].Name != contract.InstallContainerName ||
		len(got.Spec.InitContainers[1].Command) == 0 || got.Spec.InitContainers[1].Command[0] != contract.InitPath {
		t.Fatalf("init containers %v: want %s, then the sidecar wrapped with %s", containerNames(got.Spec.InitContainers), contract.InstallContainerName, contract.InitPath)
	}
	containers := []string{"sidecar", seed.Container}
	streams := map[string]*podrun.LogStream{}
	for _, c := range containers {
		for _, p := range seed.Processes {
			if _, err := pods().WaitLog(t.Context(), pod.Name, c, p+": started"); err != nil {
				t.Fatal(err)
			}
		}
		ls, err := pods().Follow(context.Background(), pod.Name, c)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(ls.Close)
		streams[c] = ls
	}
	r := deletePod(t, pod.Name)
	lines := map[string][]podrun.Line{}
	for _, c := range containers {
		out := waitLogEnd(t, streams[c])
		lines[c] = parseLog(t, out)
		o := seed.Analyze(pod.Name+"/"+c, seedGrace*time.Second, lines[c], r)
		t.Logf("%s:\n%s", o.Pod, out)
		if o.PID1 != contract.InitPath {
			t.Errorf("%s: PID 1 is %q, want %s", o.Pod, o.PID1, contract.InitPath)
		}
		for _, p := range o.Processes {
			if !p.GotTERM || !p.CleanupDone {
				t.Errorf("%s: %s: %s", o.Pod, p.Name, o.Fate(p))
			}
		}
		if !o.ChildrenGone {
			t.Errorf("%s: the main shell did not see its children end", o.Pod)
		}
	}
	// The kubelet stops sidecars after the app containers have ended: the
	// sidecar is still there for the app's cleanup.
	appEnd, ok1 := podrun.Find(lines[seed.Container], "main: children gone")
	sideTerm, ok2 := podrun.Find(lines["sidecar"], "main: got SIGTERM")
	if ok1 && ok2 && sideTerm.T.Before(appEnd.T) {
		t.Errorf("the sidecar got SIGTERM at %v, before the app container ended at %v", sideTerm.T, appEnd.T)
	}
	t.Logf("native sidecar: pod gone %.2fs after delete (grace %ds), app exit %d; sidecar SIGTERM %.2fs after the app's end",
		r.Gone.Seconds(), seedGrace, r.ExitCode, sideTerm.T.Sub(appEnd.T).Seconds())
	if r.Gone > seedGrace/2*time.Second {
		t.Errorf("pod gone after %v, want well under the %ds grace period", r.Gone, seedGrace)
	}
}

func containerNames(cs []corev1.Container) []string {
	var n []string
	for _, c := range cs {
		n = append(n, c.Name)
	}
	return n
}
