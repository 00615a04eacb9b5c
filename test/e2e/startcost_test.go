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

// testPodStartCost measures create → Ready of pods not opted in, of pods
// injected by the webhook with the init container delivery and, where the
// node mounts image volumes, with the image volume delivery:
// E2E_START_RUNS each (default 10), alternating, one pod at a time. It
// reports medians (min–max) and the differences to the un-injected pods
// (and writes them to $E2E_REPORT); the targets (init container ≤
// un-injected + 1 s, image volume ≤ un-injected + 0.1 s) are benchmark
// figures, not asserted here.
func testPodStartCost(t *testing.T) {
	n := 10
	if v := os.Getenv("E2E_START_RUNS"); v != "" {
		if _, err := fmt.Sscan(v, &n); err != nil || n < 1 {
			t.Fatalf("E2E_START_RUNS=%q: want a positive number", v)
		}
	}
	script := `trap 'exit 0' TERM; while :; do sleep 1 & wait $!; done`
	type kind struct {
		name, label string
		pod         func(name string) *corev1.Pod
		check       func(*corev1.Pod)
		runs        []time.Duration
	}
	kinds := []*kind{
		{name: "plain", label: "un-injected", pod: func(name string) *corev1.Pod { return shellPod(name, 2, script) },
			check: func(p *corev1.Pod) { requireNotInjected(t, p) }},
		{name: "init-container", label: "init container", pod: func(name string) *corev1.Pod { return optIn(shellPod(name, 2, script)) },
			check: func(p *corev1.Pod) { requireDelivery(t, p, contract.DeliveryInitContainer) }},
	}
	if env.imageVolumes {
		kinds = append(kinds, &kind{name: "image-volume", label: "image volume", pod: func(name string) *corev1.Pod { return byImageVolume(optIn(shellPod(name, 2, script))) },
			check: func(p *corev1.Pod) { requireDelivery(t, p, contract.DeliveryImageVolume) }})
	}
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
	line := fmt.Sprintf("pod start (create→Ready) on %s, %d each, alternating: %s", env.runtime, n, strings.Join(parts, ", "))
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
