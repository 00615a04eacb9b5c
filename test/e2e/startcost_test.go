//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"slices"
	"testing"
	"time"
)

// testPodStartCost measures create → Ready of pods not opted in
// and of pods injected by the webhook, E2E_START_RUNS each (default 10),
// alternating, one pod at a time. It reports the figures (and writes them
// to $E2E_REPORT); the target (injected ≤ un-injected + 1 s) is a benchmark
// figure, not asserted here.
func testPodStartCost(t *testing.T) {
	n := 10
	if v := os.Getenv("E2E_START_RUNS"); v != "" {
		if _, err := fmt.Sscan(v, &n); err != nil || n < 1 {
			t.Fatalf("E2E_START_RUNS=%q: want a positive number", v)
		}
	}
	script := `trap 'exit 0' TERM; while :; do sleep 1 & wait $!; done`
	var plain, injected []time.Duration
	for i := range n {
		p, d := startPod(t, shellPod(fmt.Sprintf("start-plain-%d", i), 2, script))
		requireNotInjected(t, p)
		plain = append(plain, d)
		deletePod(t, p.Name)
		q, d := startPod(t, optIn(shellPod(fmt.Sprintf("start-injected-%d", i), 2, script)))
		requireInjected(t, q)
		injected = append(injected, d)
		deletePod(t, q.Name)
	}
	mp, mi := median(plain), median(injected)
	line := fmt.Sprintf("pod start (create→Ready), %d each: un-injected median %.2fs (min %.2fs max %.2fs), injected by the webhook median %.2fs (min %.2fs max %.2fs), difference %+.2fs",
		n, mp.Seconds(), slices.Min(plain).Seconds(), slices.Max(plain).Seconds(),
		mi.Seconds(), slices.Min(injected).Seconds(), slices.Max(injected).Seconds(), (mi - mp).Seconds())
	t.Log(line)
	t.Logf("un-injected: %v", plain)
	t.Logf("injected:    %v", injected)
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
