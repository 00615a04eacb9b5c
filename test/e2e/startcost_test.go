//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/graceful-dev/graceful/pkg/contract"
)

// testPodStartCost measures create → Ready, one pod at a time, of pods not
// opted in and of pods injected with the init container delivery and,
// where the node mounts image volumes, with the image volume delivery:
// E2E_START_RUNS each (default 10), alternating. Those pods are the
// default shape, with the service account token the API server mounts
// into every pod that does not turn it off; one more kind, un-injected
// with no volume at all, shows the floor that any volume adds: the
// kubelet returns at once from its wait for a pod's volumes only when the
// pod has none, and polls every 300 ms otherwise. It reports medians
// (min–max) and the differences to the un-injected default pods (and
// writes them to $E2E_REPORT); the targets (init container ≤ un-injected
// + 1 s, image volume ≤ un-injected + 0.1 s) are benchmark figures, not
// asserted here.
func testPodStartCost(t *testing.T) {
	n := 10
	if v := os.Getenv("E2E_START_RUNS"); v != "" {
		if _, err := fmt.Sscan(v, &n); err != nil || n < 1 {
			t.Fatalf("E2E_START_RUNS=%q: want a positive number", v)
		}
	}
	script := `trap 'exit 0' TERM; while :; do sleep 1 & wait $!; done`
	// withToken is the pod as most are: the service account token mounted.
	withToken := func(name string) *corev1.Pod {
		p := shellPod(name, 2, script)
		p.Spec.AutomountServiceAccountToken = nil
		return p
	}
	type kind struct {
		name, label string
		pod         func(name string) *corev1.Pod
		check       func(*corev1.Pod)
		runs        []time.Duration
	}
	requireToken := func(p *corev1.Pod) {
		for _, v := range p.Spec.Volumes {
			if v.Projected != nil && strings.HasPrefix(v.Name, "kube-api-access-") {
				return
			}
		}
		t.Fatalf("pod %s has no service account token volume: %+v", p.Name, p.Spec.Volumes)
	}
	kinds := []*kind{
		{name: "plain", label: "un-injected", pod: withToken,
			check: func(p *corev1.Pod) { requireNotInjected(t, p); requireToken(p) }},
		{name: "init-container", label: "init container", pod: func(name string) *corev1.Pod { return optIn(withToken(name)) },
			check: func(p *corev1.Pod) { requireDelivery(t, p, contract.DeliveryInitContainer); requireToken(p) }},
	}
	if env.imageVolumes {
		kinds = append(kinds, &kind{name: "image-volume", label: "image volume", pod: func(name string) *corev1.Pod { return byImageVolume(optIn(withToken(name))) },
			check: func(p *corev1.Pod) { requireDelivery(t, p, contract.DeliveryImageVolume); requireToken(p) }})
	}
	kinds = append(kinds, &kind{name: "novolume", label: "un-injected without volumes", pod: func(name string) *corev1.Pod { return shellPod(name, 2, script) },
		check: func(p *corev1.Pod) {
			requireNotInjected(t, p)
			if len(p.Spec.Volumes) > 0 {
				t.Fatalf("pod %s has volumes: %+v", p.Name, p.Spec.Volumes)
			}
		}})
	for i := range n {
		for _, k := range kinds {
			p, d := startPod(t, k.pod(fmt.Sprintf("start-%s-%d", k.name, i)))
			k.check(p)
			k.runs = append(k.runs, d)
			deletePod(t, p.Name)
		}
	}
	base := median(kinds[0].runs)
	parts := make([]string, 0, len(kinds))
	for _, k := range kinds {
		m := median(k.runs)
		part := fmt.Sprintf("%s median %.2fs (%.2f–%.2fs)", k.label, m.Seconds(), slices.Min(k.runs).Seconds(), slices.Max(k.runs).Seconds())
		if k != kinds[0] {
			part += fmt.Sprintf(" %+.2fs", (m - base).Seconds())
		}
		parts = append(parts, part)
		t.Logf("%s: %v", k.label, k.runs)
	}
	line := fmt.Sprintf("pod start (create→Ready) on %s, %d each, alternating, against un-injected pods with the service account token: %s", env.runtime, n, strings.Join(parts, ", "))
	t.Log(line)
	report(t, "%s", line)
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
