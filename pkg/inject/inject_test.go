package inject

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/graceful-dev/graceful/pkg/api/v1alpha1"
	"github.com/graceful-dev/graceful/pkg/inject/decision"
	"github.com/graceful-dev/graceful/pkg/inject/rewrite"
)

var testPipeline = Pipeline{Rewrite: rewrite.Config{Image: "registry.example/graceful:v1", Version: "v1.2.3"}, RejectLookupFailures: true}

func auditPolicy(mutate func(*v1alpha1.ShutdownPolicy)) []v1alpha1.ShutdownPolicy {
	p := v1alpha1.ShutdownPolicy{ObjectMeta: metav1.ObjectMeta{Name: "preview"}, Spec: v1alpha1.ShutdownPolicySpec{Mode: v1alpha1.ModeAudit}}
	if mutate != nil {
		mutate(&p)
	}
	return []v1alpha1.ShutdownPolicy{p}
}

func twoContainers() *corev1.Pod {
	grace := int64(20)
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop"},
		Spec: corev1.PodSpec{
			TerminationGracePeriodSeconds: &grace,
			Containers: []corev1.Container{
				{Name: "app", Image: "app:1", Command: []string{"/app"}},
				{Name: "proxy", Image: "nginx:1"},
			},
		},
	}
}

func lookup(_ context.Context, ref string) (rewrite.ImageConfig, error) {
	switch ref {
	case "app:1":
		return rewrite.ImageConfig{}, nil
	case "nginx:1":
		return rewrite.ImageConfig{Entrypoint: []string{"/docker-entrypoint.sh"}, Cmd: []string{"nginx"}, StopSignal: "SIGQUIT"}, nil
	}
	return rewrite.ImageConfig{}, errors.New("no such image")
}

// An Audit policy's pod comes back as it was, with one warning that says
// what the rewrite would have done: every container, its stop signal (the
// image's STOPSIGNAL), the grace period and the budget, the policy's drain
// delay.
func TestAuditLeavesThePodAndSaysHow(t *testing.T) {
	pod := twoContainers()
	policies := auditPolicy(func(p *v1alpha1.ShutdownPolicy) { p.Spec.DrainDelay = &metav1.Duration{Duration: 2 * time.Second} })
	res := testPipeline.Run(context.Background(), Input{Pod: pod, Policies: policies}, lookup)
	if res.Outcome != Audited || res.Pod != nil || res.Decision.Reason != decision.ReasonPolicyAudit {
		t.Fatalf("outcome %v, pod %v, reason %s: want Audited, no pod, %s", res.Outcome, res.Pod, res.Decision.Reason, decision.ReasonPolicyAudit)
	}
	want := `graceful: ShutdownPolicy preview (Audit): pod left unchanged; injecting would wrap ` +
		`container "app" (stop signal SIGTERM, grace period 20s, SIGKILL of what is left after 18s, drain delay 2s), ` +
		`container "proxy" (stop signal SIGQUIT, grace period 20s, SIGKILL of what is left after 18s, drain delay 2s)`
	if len(res.Warnings) == 0 || res.Warnings[len(res.Warnings)-1] != want {
		t.Errorf("warnings %q\nwant last %q", res.Warnings, want)
	}
	if len(res.Audit) != 2 || res.Audit[1].StopSignal != "SIGQUIT" {
		t.Errorf("audit %+v", res.Audit)
	}
	if pod.Annotations != nil || pod.Spec.Containers[0].Command[0] != "/app" {
		t.Errorf("the input pod changed: %+v", pod)
	}
}

// A failed lookup under RejectLookupFailures does not end an Audit run: the
// pod is admitted either way, and the warnings say what failed.
func TestAuditLookupFailureIsAWarning(t *testing.T) {
	pod := twoContainers()
	pod.Spec.Containers[1].Image = "gone:1"
	res := testPipeline.Run(context.Background(), Input{Pod: pod, Policies: auditPolicy(nil)}, lookup)
	if res.Outcome != Audited || len(res.Failures) != 1 {
		t.Fatalf("outcome %v, failures %+v: want Audited with one failure", res.Outcome, res.Failures)
	}
	last := res.Warnings[len(res.Warnings)-1]
	if want := `graceful: ShutdownPolicy preview (Audit): pod left unchanged; injecting would wrap container "app" (stop signal SIGTERM, grace period 20s, SIGKILL of what is left after 18s)`; last != want {
		t.Errorf("last warning %q, want %q", last, want)
	}
}

// The same pod under a Default policy is rewritten: Audit is that rewrite,
// not applied.
func TestAuditMatchesDefault(t *testing.T) {
	pod := twoContainers()
	res := testPipeline.Run(context.Background(), Input{Pod: pod, Policies: auditPolicy(func(p *v1alpha1.ShutdownPolicy) { p.Spec.Mode = v1alpha1.ModeDefault })}, lookup)
	if res.Outcome != Rewritten {
		t.Fatalf("outcome %v, want Rewritten", res.Outcome)
	}
	got := audited(res.Pod)
	aud := testPipeline.Run(context.Background(), Input{Pod: pod, Policies: auditPolicy(nil)}, lookup)
	if len(got) != len(aud.Audit) {
		t.Fatalf("default wraps %+v, audit says %+v", got, aud.Audit)
	}
	for i := range got {
		if got[i] != aud.Audit[i] {
			t.Errorf("container %d: default %+v, audit %+v", i, got[i], aud.Audit[i])
		}
	}
}

// A pod the rewrite would refuse says so.
func TestAuditRefused(t *testing.T) {
	pod := twoContainers()
	pod.Spec.Volumes = []corev1.Volume{{Name: "graceful-bin"}}
	res := testPipeline.Run(context.Background(), Input{Pod: pod, Policies: auditPolicy(nil)}, lookup)
	if res.Outcome != Audited || res.Err == nil {
		t.Fatalf("outcome %v err %v, want Audited with the refusal", res.Outcome, res.Err)
	}
	if last := res.Warnings[len(res.Warnings)-1]; last == "" || !strings.Contains(last, "injecting would fail") {
		t.Errorf("last warning %q", last)
	}
}
