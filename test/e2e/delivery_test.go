//go:build e2e

package e2e

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/graceful-dev/graceful/pkg/contract"
	"github.com/graceful-dev/graceful/test/seed"
)

// runtimeCases are the pod cases that depend on the node's runtime: on a
// node that mounts image volumes (containerd 2), the image volume delivery
// through the stop paths and lifecycle.stopSignal end to end; elsewhere
// (containerd 1.6), what a pod that asks for the image volume gets there.
func runtimeCases() map[string]func(*testing.T) {
	if !env.imageVolumes {
		return map[string]func(*testing.T){
			"image-volume-unschedulable":   testImageVolumeUnschedulable,
			"image-volume-runtime-refuses": testImageVolumeRuntimeRefuses,
		}
	}
	return map[string]func(*testing.T){
		"seed-scenario-image-volume": testSeedImageVolume,
		"prestop-exec-ignores-term-image-volume": func(t *testing.T) {
			testPreStopIgnoresTERM(t, corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"sleep", "4"}}}, "prestop-exec-iv", contract.DeliveryImageVolume, byImageVolume)
		},
		"stopsignal-lifecycle-image-volume": testStopSignalLifecycle,
	}
}

// admitted is pod as admission would store it (a dry-run create: the
// webhook runs, nothing is kept).
func admitted(t *testing.T, pod *corev1.Pod) *corev1.Pod {
	t.Helper()
	got, err := env.cs.CoreV1().Pods(pod.Namespace).Create(t.Context(), pod, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	if err != nil {
		t.Fatalf("dry-run create of %s: %v", pod.Name, err)
	}
	return got
}

// requireImageVolumeAffinity fails unless every term of pod's required node
// affinity asks for the image volume node label.
func requireImageVolumeAffinity(t *testing.T, pod *corev1.Pod) {
	t.Helper()
	a := pod.Spec.Affinity
	if a == nil || a.NodeAffinity == nil || a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		t.Fatalf("pod %s: no required node affinity", pod.Name)
	}
	for _, term := range a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms {
		if !slices.ContainsFunc(term.MatchExpressions, func(r corev1.NodeSelectorRequirement) bool {
			return r.Key == contract.LabelImageVolume && r.Operator == corev1.NodeSelectorOpIn && slices.Equal(r.Values, []string{"true"})
		}) {
			t.Fatalf("pod %s: node affinity term %+v lacks %s=true", pod.Name, term, contract.LabelImageVolume)
		}
	}
}

// testSeedImageVolume: the seed scenario delivered by image volume: the
// same clean stop as by the init container.
func testSeedImageVolume(t *testing.T) {
	pod := byImageVolume(optIn(seed.Pod("seed-image-volume", env.ns, env.images.Busybox, seedGrace)))
	adm := admitted(t, pod)
	requireDelivery(t, adm, contract.DeliveryImageVolume)
	requireImageVolumeAffinity(t, adm)
	describeOnFailure(t, pod.Name)
	outs, err := seed.Run(t.Context(), pods(), pod)
	if err != nil {
		t.Fatal(err)
	}
	checkSeedInjected(t, outs[0])
}

// stopSignalScript: a main shell and a daemon in a session of its own that
// both clean up on SIGUSR2 only; the daemon writes to graceful-init's
// stdout, the container's log.
const stopSignalScript = `trap 'echo "main: got USR2"; echo "main: cleanup done"; exit 0' USR2
start-stop-daemon -S -b -p /nonexistent -x /bin/sh -- -c 'exec >/proc/1/fd/1; trap "echo daemon: got USR2; sleep 1; echo daemon: cleanup done; exit 0" USR2; echo daemon: started; while :; do sleep 1; done'
echo "main: started"; while :; do sleep 1 & wait $!; done`

// testStopSignalLifecycle: lifecycle.stopSignal SIGUSR2 (ContainerStopSignals,
// spec.os.name linux): the runtime stops the container with SIGUSR2, the
// webhook read it from the pod and passed --stop-signal=USR2, and
// graceful-init sends it to the main shell and to the daemon that left the
// process group: both clean up, exit 0 well within the grace period.
// Delivered by image volume, as both need containerd 2.
func testStopSignalLifecycle(t *testing.T) {
	const grace = 10
	p := shellPod("stopsignal-lifecycle", grace, stopSignalScript)
	p.Spec.OS = &corev1.PodOS{Name: corev1.Linux}
	p.Spec.Containers[0].Lifecycle = &corev1.Lifecycle{StopSignal: new(corev1.SIGUSR2)}
	pod, _ := startPod(t, byImageVolume(optIn(p)))
	requireDelivery(t, pod, contract.DeliveryImageVolume)
	if ls := pod.Spec.Containers[0].Lifecycle; ls == nil || ls.StopSignal == nil || *ls.StopSignal != corev1.SIGUSR2 {
		t.Fatalf("lifecycle %+v: the API server dropped stopSignal (is the ContainerStopSignals gate on?)", ls)
	}
	if c := pod.Spec.Containers[0].Command; !slices.Contains(c, contract.FlagStopSignal+"=USR2") {
		t.Fatalf("wrapped command %q lacks %s=USR2 from lifecycle.stopSignal", c, contract.FlagStopSignal)
	}
	stopDaemonPod(t, pod.Name, "lifecycle.stopSignal SIGUSR2", grace, "USR2")
}

// testImageVolumeUnschedulable: on a node not labelled as mounting image
// volumes, a pod that asks for the image volume delivery is not started
// there: it stays Pending, and its PodScheduled condition names the node
// affinity the webhook added.
func testImageVolumeUnschedulable(t *testing.T) {
	p := byImageVolume(optIn(shellPod("image-volume-unschedulable", 2, "sleep 3600")))
	created := createPod(t, env.cs, env.ns, p)
	describeOnFailure(t, p.Name)
	requireDelivery(t, created, contract.DeliveryImageVolume)
	requireImageVolumeAffinity(t, created)
	var cond corev1.PodCondition
	poll(t, time.Minute, "PodScheduled=False naming the node affinity", func() (bool, string) {
		got, err := env.cs.CoreV1().Pods(env.ns).Get(t.Context(), p.Name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		for _, c := range got.Status.Conditions {
			if c.Type == corev1.PodScheduled {
				cond = c
			}
		}
		return cond.Status == corev1.ConditionFalse && strings.Contains(cond.Message, "node affinity"), cond.Message
	})
	t.Logf("image volume pod on %s: %s: %s", env.runtime, cond.Reason, cond.Message)
	report(t, "image volume delivery on %s: pod Pending, %s: %s", env.runtime, cond.Reason, cond.Message)
	if got, _ := env.cs.CoreV1().Pods(env.ns).Get(t.Context(), p.Name, metav1.GetOptions{}); got != nil && got.Spec.NodeName != "" {
		t.Errorf("pod was bound to %s", got.Spec.NodeName)
	}
	deletePod(t, p.Name)
}

// testImageVolumeRuntimeRefuses shows why the webhook adds the node
// affinity: a pod of graceful's own, not injected, with an image volume of
// the graceful image, on a runtime that does not mount image volumes
// (containerd 1.6 drops the CRI mount's image field and is left with a mount
// of no host path). The kubelet pulls the image, then the container never
// starts: it waits with reason CreateContainerError, retried with backoff,
// the runtime's message in its status; the pod never runs and never
// crash-loops.
func testImageVolumeRuntimeRefuses(t *testing.T) {
	p := shellPod("image-volume-runtime-refuses", 2, "ls -l "+contract.MountPath+"; sleep 3600")
	p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: "img", VolumeSource: corev1.VolumeSource{Image: &corev1.ImageVolumeSource{Reference: env.images.Graceful, PullPolicy: corev1.PullIfNotPresent}}})
	p.Spec.Containers[0].VolumeMounts = append(p.Spec.Containers[0].VolumeMounts, corev1.VolumeMount{Name: "img", MountPath: contract.MountPath, ReadOnly: true})
	created := createPod(t, env.cs, env.ns, p)
	describeOnFailure(t, p.Name)
	requireNotInjected(t, created)
	var w *corev1.ContainerStateWaiting
	poll(t, 2*time.Minute, "the container waiting with CreateContainerError", func() (bool, string) {
		got, err := env.cs.CoreV1().Pods(env.ns).Get(t.Context(), p.Name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		for _, cs := range got.Status.ContainerStatuses {
			if cs.State.Running != nil || cs.State.Terminated != nil {
				t.Fatalf("the container ran on %s: %+v", env.runtime, cs.State)
			}
			w = cs.State.Waiting
		}
		return w != nil && w.Reason == "CreateContainerError", fmt.Sprintf("%+v", w)
	})
	t.Logf("image volume on %s: %s: %s", env.runtime, w.Reason, w.Message)
	report(t, "image volume on %s, without graceful's node affinity: container waiting, %s: %s", env.runtime, w.Reason, w.Message)
	deletePod(t, p.Name)
}
