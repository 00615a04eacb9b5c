package main

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/graceful-dev/graceful/pkg/api/v1alpha1"
	"github.com/graceful-dev/graceful/pkg/contract"
	"github.com/graceful-dev/graceful/test/envtestenv"
)

var updateGolden = flag.Bool("update", false, "rewrite cmd/webhook/testdata's golden files")

// TestDriftCommand runs `graceful-webhook drift` against a real API server
// holding wrapped, unwrapped, old-version and audited pods of a Deployment,
// a StatefulSet, a CronJob's Job, a Job and a bare pod, and compares the
// table and the JSON with golden files; the exit code says whether drift
// was found.
func TestDriftCommand(t *testing.T) {
	assets, err := envtestenv.AssetsDir()
	if err != nil {
		t.Fatal(err)
	}
	env := &envtest.Environment{BinaryAssetsDirectory: assets,
		CRDDirectoryPaths: []string{filepath.Join("..", "..", "config", "crd", "bases")}, ErrorIfCRDPathMissing: true}
	cfg, err := env.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kubeconfig, env.KubeConfig, 0o600); err != nil {
		t.Fatal(err)
	}
	scheme := k8sruntime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	create := func(obj client.Object) {
		t.Helper()
		if err := c.Create(ctx, obj); err != nil {
			t.Fatalf("creating %T %s: %v", obj, obj.GetName(), err)
		}
	}

	// An empty cluster: nothing found, exit 0.
	var out, errb bytes.Buffer
	if code := run([]string{"drift", "--kubeconfig", kubeconfig, "-A", "--webhook-version", "v2.0.0"}, nil, &out, &errb); code != 0 {
		t.Fatalf("empty cluster: exit %d, stderr %s", code, errb.String())
	}
	if !strings.HasPrefix(out.String(), "no unprotected pods (") {
		t.Errorf("empty cluster: %q", out.String())
	}

	create(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop", Labels: map[string]string{contract.LabelInject: contract.NamespaceEnabled}}})
	create(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "preview", Labels: map[string]string{"team": "preview"}}})
	create(&v1alpha1.ShutdownPolicy{ObjectMeta: metav1.ObjectMeta{Name: "preview"}, Spec: v1alpha1.ShutdownPolicySpec{Mode: v1alpha1.ModeAudit,
		NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"team": "preview"}}}})
	ctl := func(apiVersion, kind string, obj client.Object) []metav1.OwnerReference {
		yes := true
		return []metav1.OwnerReference{{APIVersion: apiVersion, Kind: kind, Name: obj.GetName(), UID: obj.GetUID(), Controller: &yes}}
	}
	sel := &metav1.LabelSelector{MatchLabels: map[string]string{"app": "x"}}
	tmpl := corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "x"}}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "busybox"}}}}
	jobTmpl := *tmpl.DeepCopy()
	jobTmpl.Spec.RestartPolicy = corev1.RestartPolicyNever
	dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web"}, Spec: appsv1.DeploymentSpec{Selector: sel, Template: tmpl}}
	create(dep)
	rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web-7f8", OwnerReferences: ctl("apps/v1", "Deployment", dep)}, Spec: appsv1.ReplicaSetSpec{Selector: sel, Template: tmpl}}
	create(rs)
	sts := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "db"}, Spec: appsv1.StatefulSetSpec{Selector: sel, Template: tmpl}}
	create(sts)
	cron := &batchv1.CronJob{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "backup"}, Spec: batchv1.CronJobSpec{Schedule: "@daily", JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: jobTmpl}}}}
	create(cron)
	manual := false
	cronJob := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "backup-29000000", OwnerReferences: ctl("batch/v1", "CronJob", cron)}, Spec: batchv1.JobSpec{ManualSelector: &manual, Template: jobTmpl}}
	create(cronJob)
	job := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "migrate"}, Spec: batchv1.JobSpec{Template: jobTmpl}}
	create(job)

	p := func(ns, name, wrappedBy string, owners []metav1.OwnerReference) {
		t.Helper()
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, OwnerReferences: owners},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "busybox", Command: []string{"sleep", "1d"}}}}}
		if wrappedBy != "" {
			pod.Annotations = map[string]string{contract.AnnotationStatus: `{"version":"` + wrappedBy + `","containers":["app"]}`}
			pod.Labels = map[string]string{contract.LabelWrapped: contract.WrappedLabelValue(wrappedBy)}
		}
		create(pod)
	}
	p("shop", "web-7f8-a", "", ctl("apps/v1", "ReplicaSet", rs))
	p("shop", "web-7f8-b", "v2.0.0", ctl("apps/v1", "ReplicaSet", rs))
	p("shop", "db-0", "v1.0.0", ctl("apps/v1", "StatefulSet", sts))
	p("shop", "backup-29000000-x", "", ctl("batch/v1", "Job", cronJob))
	p("shop", "migrate-y", "", ctl("batch/v1", "Job", job))
	p("shop", "debug", "", nil)
	p("preview", "try", "", nil)
	p("kube-system", "dns", "", nil)
	p("default", "alone", "", nil)

	for _, tc := range []struct {
		golden string
		args   []string
	}{
		{"drift-all.txt", []string{"-A"}},
		{"drift-all.json", []string{"-A", "-o", "json"}},
		{"drift-preview.txt", []string{"-n", "preview"}},
	} {
		var out, errb bytes.Buffer
		code := run(append([]string{"drift", "--kubeconfig", kubeconfig, "--webhook-version", "v2.0.0"}, tc.args...), nil, &out, &errb)
		if code != exitDrift {
			t.Errorf("%v: exit %d, want %d; stderr %s", tc.args, code, exitDrift, errb.String())
		}
		golden := filepath.Join("testdata", tc.golden)
		if *updateGolden {
			if err := os.WriteFile(golden, out.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Fatalf("%v (go test ./cmd/webhook -run TestDriftCommand -update writes it)", err)
		}
		if d := cmp.Diff(string(want), out.String()); d != "" {
			t.Errorf("%v differs from %s (-want +got):\n%s", tc.args, golden, d)
		}
	}
}

func TestDriftCommandErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"-o", "yaml"}, 2, `-o "yaml": want table or json`},
		{[]string{"-A", "-n", "x"}, 2, "exclude each other"},
		{[]string{"extra"}, 2, "unexpected arguments"},
		{[]string{"--webhook-version", ""}, 2, "--webhook-version is empty"},
		{[]string{"--kubeconfig", "/nonexistent/kubeconfig"}, 1, "kubeconfig"},
	} {
		var out, errb bytes.Buffer
		if code := run(append([]string{"drift"}, tc.args...), nil, &out, &errb); code != tc.code || !strings.Contains(errb.String(), tc.msg) {
			t.Errorf("drift %v: exit %d, stderr %q; want %d and %q", tc.args, code, errb.String(), tc.code, tc.msg)
		}
	}
}
