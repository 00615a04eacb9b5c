//go:build e2e

package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/graceful-dev/graceful/pkg/contract"
	"github.com/graceful-dev/graceful/pkg/drift/scan"
	"github.com/graceful-dev/graceful/pkg/webhook/fleet"
	"github.com/graceful-dev/graceful/pkg/webhook/metrics"
)

// testDriftAfterOutage: the pod testOutage created while no webhook ran is
// opted in but not wrapped. Once the webhook is back, `graceful-webhook
// drift` lists it (exit 3) with its fix, the leader's drift controller sends
// its Event and its gauge counts it, and the pod created after the outage
// carries the wrapped label and is not listed.
func testDriftAfterOutage(t *testing.T) {
	after, err := env.cs.CoreV1().Pods(env.ns).Get(t.Context(), "resumed", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if v := after.Labels[contract.LabelWrapped]; v == "" {
		t.Errorf("pod resumed has no %s label: %v", contract.LabelWrapped, after.Labels)
	}
	bin := envOr("GRACEFUL_WEBHOOK", filepath.Join(env.root, "bin/graceful-webhook"))
	cmd := exec.CommandContext(t.Context(), bin, "drift", "-n", env.ns, "-o", "json")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.Env = append(os.Environ(), "KUBECONFIG="+os.Getenv("KUBECONFIG"))
	err = cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 3 {
		t.Fatalf("drift: %v, want exit 3; stderr %s\n%s", err, errb.String(), out.String())
	}
	var res scan.Result
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("drift -o json: %v\n%s", err, out.String())
	}
	i := slices.IndexFunc(res.Unprotected, func(p scan.Pod) bool { return p.Name == "outage" })
	if i < 0 {
		t.Fatalf("drift does not list the pod created during the outage: %+v", res.Unprotected)
	}
	if p := res.Unprotected[i]; p.Reason != "not-wrapped" || p.Workload.Kind != "Pod" || !strings.Contains(p.Fix, "kubectl delete pod outage -n "+env.ns) {
		t.Errorf("outage pod listed as %+v", p)
	}
	if slices.ContainsFunc(res.Unprotected, func(p scan.Pod) bool { return p.Name == "resumed" }) {
		t.Errorf("the wrapped pod resumed is listed: %+v", res.Unprotected)
	}
	report(t, "drift after the outage: %d of %d pods in the run's namespace unprotected (graceful-webhook drift), the outage pod among them", len(res.Unprotected), res.Scanned)

	t0 := time.Now()
	poll(t, 2*time.Minute, "the leader's GracefulUnprotected Event on the outage pod", func() (bool, string) {
		evs, err := env.cs.EventsV1().Events(env.ns).List(t.Context(), metav1.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		var seen []string
		for _, e := range evs.Items {
			if e.Reason != fleet.EventReasonUnprotected {
				continue
			}
			seen = append(seen, e.Regarding.Kind+"/"+e.Regarding.Name)
			if e.Regarding.Kind == "Pod" && e.Regarding.Name == "outage" {
				return true, ""
			}
		}
		return false, "events on " + strings.Join(seen, ", ")
	})
	report(t, "drift after the outage: the leader's Event came %.1fs after the CLI run", time.Since(t0).Seconds())

	// The leader's gauge counts the namespace's not-wrapped pods as the
	// CLI does: the outage pod among them.
	n := 0
	for _, p := range res.Unprotected {
		if p.Reason == metrics.DriftNotWrapped {
			n++
		}
	}
	leaderPod := waitUnprotectedGauge(t, env.ns, n)
	report(t, "drift after the outage: the leader's (%s) graceful_unprotected_pods{reason=%q} for the run's namespace is %d, as drift lists", leaderPod, metrics.DriftNotWrapped, n)
}
