package drift

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/graceful-dev/graceful/pkg/api/v1alpha1"
	"github.com/graceful-dev/graceful/pkg/webhook/metrics"
)

func podWith(ann, lbl map[string]string) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "shop", Annotations: ann, Labels: lbl}}
}

func TestCheck(t *testing.T) {
	enabled := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop", Labels: map[string]string{"graceful.dev/inject": "enabled"}}}
	audit := []v1alpha1.ShutdownPolicy{{ObjectMeta: metav1.ObjectMeta{Name: "a"}, Spec: v1alpha1.ShutdownPolicySpec{Mode: v1alpha1.ModeAudit}}}
	wrapped := map[string]string{"graceful.dev/status": `{"version":"v2","containers":["app"]}`}
	old := map[string]string{"graceful.dev/status": `{"version":"v1","containers":["app"]}`}
	windows := podWith(nil, nil)
	windows.Spec.OS = &corev1.PodOS{Name: corev1.Windows}
	for _, tc := range []struct {
		name    string
		in      Input
		reason  string
		version string
	}{
		{"selected, not wrapped", Input{Pod: podWith(nil, nil), Namespace: enabled}, metrics.DriftNotWrapped, ""},
		{"selected, wrapped by this version", Input{Pod: podWith(wrapped, nil), Namespace: enabled}, "", "v2"},
		{"selected, wrapped by another", Input{Pod: podWith(old, nil), Namespace: enabled}, metrics.DriftOtherVersion, "v1"},
		{"label only: this version", Input{Pod: podWith(nil, map[string]string{"graceful.dev/wrapped": "v2"}), Namespace: enabled}, "", "v2"},
		{"label only: another", Input{Pod: podWith(nil, map[string]string{"graceful.dev/wrapped": "v1"}), Namespace: enabled}, metrics.DriftOtherVersion, "v1"},
		{"not selected, not wrapped", Input{Pod: podWith(nil, nil)}, "", ""},
		{"not selected, old version: fine", Input{Pod: podWith(old, nil)}, "", "v1"},
		{"audit, not wrapped", Input{Pod: podWith(nil, nil), Policies: audit}, metrics.DriftAudit, ""},
		{"audit, wrapped: fine", Input{Pod: podWith(old, nil), Policies: audit}, "", "v1"},
		{"excluded namespace", Input{Pod: podWith(nil, nil), Namespace: enabled, ExcludedNamespaces: []string{"shop"}}, "", ""},
		{"windows (full pod)", Input{Pod: windows, Namespace: enabled}, "", ""},
		{"opted out", Input{Pod: podWith(map[string]string{"graceful.dev/inject": "false"}, nil), Namespace: enabled}, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.in.Version = "v2"
			f := Check(tc.in)
			if f.Reason != tc.reason || f.WrappedVersion != tc.version {
				t.Errorf("reason %q version %q (decision %s), want %q %q", f.Reason, f.WrappedVersion, f.Decision.Reason, tc.reason, tc.version)
			}
		})
	}
}

func TestOwner(t *testing.T) {
	ctl := true
	ref := func(apiVersion, kind, name string) []metav1.OwnerReference {
		return []metav1.OwnerReference{{APIVersion: apiVersion, Kind: kind, Name: name, UID: "u-" + "name", Controller: &ctl}}
	}
	parents := map[string]*metav1.OwnerReference{
		"ReplicaSet/web-5d9":  &ref("apps/v1", "Deployment", "web")[0],
		"ReplicaSet/lonely":   nil,
		"Job/backup-29000000": &ref("batch/v1", "CronJob", "backup")[0],
		"Job/migrate":         nil,
	}
	parent := func(kind, ns, name string) (*metav1.OwnerReference, bool, error) {
		p, ok := parents[kind+"/"+name]
		return p, ok, nil
	}
	for _, tc := range []struct {
		owners    []metav1.OwnerReference
		want, fix string
	}{
		{ref("apps/v1", "ReplicaSet", "web-5d9"), "deployment/web", "kubectl rollout restart deployment/web -n shop"},
		{ref("apps/v1", "ReplicaSet", "lonely"), "replicaset/lonely", "kubectl delete pod p -n shop (its replicaset/lonely recreates it)"},
		{ref("apps/v1", "ReplicaSet", "gone"), "replicaset/gone", "kubectl delete pod p -n shop (its replicaset/gone recreates it)"},
		{ref("apps/v1", "StatefulSet", "db"), "statefulset/db", "kubectl rollout restart statefulset/db -n shop"},
		{ref("apps/v1", "DaemonSet", "agent"), "daemonset/agent", "kubectl rollout restart daemonset/agent -n shop"},
		{ref("batch/v1", "Job", "backup-29000000"), "cronjob/backup", "its next run is wrapped; to re-run now: kubectl create job --from=cronjob/backup backup-rerun -n shop"},
		{ref("batch/v1", "Job", "migrate"), "job/migrate", "re-run the job: kubectl get job migrate -n shop -o yaml > migrate.yaml; kubectl delete job migrate -n shop; kubectl create -f migrate.yaml (strip its selector and controller-uid labels first)"},
		{nil, "pod/p", "kubectl get pod p -n shop -o yaml > p.yaml; kubectl delete pod p -n shop; kubectl create -f p.yaml (recreate it)"},
		{[]metav1.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: "n1"}}, "pod/p", "kubectl get pod p -n shop -o yaml > p.yaml; kubectl delete pod p -n shop; kubectl create -f p.yaml (recreate it)"},
	} {
		pod := podWith(nil, nil)
		pod.OwnerReferences = tc.owners
		w, err := Owner(pod, parent)
		if err != nil {
			t.Fatal(err)
		}
		if w.String() != tc.want || w.Namespace != "shop" {
			t.Errorf("owners %+v: workload %s in %s, want %s", tc.owners, w, w.Namespace, tc.want)
		}
		if got := Fix(w, pod.Name); got != tc.fix {
			t.Errorf("%s: fix %q, want %q", w, got, tc.fix)
		}
	}
}

func TestFixForAudit(t *testing.T) {
	audit := []v1alpha1.ShutdownPolicy{{ObjectMeta: metav1.ObjectMeta{Name: "preview"}, Spec: v1alpha1.ShutdownPolicySpec{Mode: v1alpha1.ModeAudit}}}
	f := Check(Input{Pod: podWith(nil, nil), Policies: audit, Version: "v2"})
	w := Workload{Kind: "Deployment", Name: "web", Namespace: "shop"}
	if got, want := FixFor(f, w, "p"), "set ShutdownPolicy preview to mode Default or Enforce, then: kubectl rollout restart deployment/web -n shop"; got != want {
		t.Errorf("FixFor = %q, want %q", got, want)
	}
}
