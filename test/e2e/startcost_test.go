//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// TestPodStartCost measures create → Ready of injected and un-injected
// pods, E2E_START_RUNS each (default 10), alternating, one pod at a time. It
// reports the figures (and writes them to $E2E_REPORT); the target
// (injected ≤ un-injected + 1 s) is a benchmark figure, not asserted here.
func TestPodStartCost(t *testing.T) {
	n := 10
	if v := os.Getenv("E2E_START_RUNS"); v != "" {
		if _, err := fmt.Sscan(v, &n); err != nil || n < 1 {
			t.Fatalf("E2E_START_RUNS=%q: want a positive number", v)
		}
	}
	script := `trap 'exit 0' TERM; while :; do sleep 1 & wait $!; done`
	var plain, injected []time.Duration
	for i := range n {
		p := shellPod(fmt.Sprintf("start-plain-%d", i), 2, script)
		plain = append(plain, startPod(t, p))
		deletePod(t, p.Name)
		q := inject(t, shellPod(fmt.Sprintf("start-injected-%d", i), 2, script))
		injected = append(injected, startPod(t, q))
		deletePod(t, q.Name)
	}
	mp, mi := median(plain), median(injected)
	line := fmt.Sprintf("pod start (create→Ready), %d each: un-injected median %.2fs (min %.2fs max %.2fs), injected median %.2fs (min %.2fs max %.2fs), difference %+.2fs",
		n, mp.Seconds(), slices.Min(plain).Seconds(), slices.Max(plain).Seconds(),
		mi.Seconds(), slices.Min(injected).Seconds(), slices.Max(injected).Seconds(), (mi - mp).Seconds())
	t.Log(line)
	t.Logf("un-injected: %v", plain)
	t.Logf("injected:    %v", injected)
	if p := os.Getenv("E2E_REPORT"); p != "" {
		_ = os.MkdirAll(filepath.Dir(p), 0o755)
		if f, err := os.OpenFile(p, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644); err == nil {
			fmt.Fprintln(f, line)
			f.Close()
		}
	}
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
