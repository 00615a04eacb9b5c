// Package drift is graceful's fleet view of one pod: does the current
// precedence (pkg/inject/decision, the one home of that rule) select it, and
// if so, is it wrapped by this version? It also names the workload that owns
// the pod and the command that would fix it. Pure: the pod, its namespace,
// the policies and the webhook's version and excluded namespaces in, a
// Finding out; owners are read through a function the caller gives.
//
// Contract:
//   - A pod is unprotected when the decision injects it and it is not
//     wrapped (metrics.DriftNotWrapped), when it is wrapped by another
//     version than the webhook's (metrics.DriftOtherVersion), or when an
//     Audit policy decides it and it is not wrapped (metrics.DriftAudit).
//     Anything else, a pod the decision leaves alone included, is fine
//     (Reason "").
//   - Wrapped means the pod carries graceful.dev/status (its version is
//     the one compared), or, when that does not parse, the label
//     graceful.dev/wrapped (compared with contract.WrappedLabelValue).
//   - Check reads the pod's metadata and spec. Given metadata only (an
//     empty spec, as a metadata-only watch has it), a Windows pod looks like
//     a Linux one, so a Finding with a Reason must be confirmed with the full
//     pod; a Finding without one needs no confirmation (the spec can only
//     turn an inject decision into a "never").
package drift

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/graceful-dev/graceful/pkg/api/v1alpha1"
	"github.com/graceful-dev/graceful/pkg/contract"
	"github.com/graceful-dev/graceful/pkg/inject/decision"
	"github.com/graceful-dev/graceful/pkg/inject/rewrite"
	"github.com/graceful-dev/graceful/pkg/webhook/metrics"
)

// Input is what a pod is checked against.
type Input struct {
	// Pod is the pod, full or metadata only (see the package contract).
	Pod *corev1.Pod
	// Namespace is the pod's namespace; nil when not found.
	Namespace *corev1.Namespace
	// Policies are the cluster's ShutdownPolicies.
	Policies []v1alpha1.ShutdownPolicy
	// ExcludedNamespaces are the webhook's own and the system namespaces.
	ExcludedNamespaces []string
	// Version is the webhook's version (what it writes into graceful.dev/status).
	Version string
}

// Finding is what Check says of a pod.
type Finding struct {
	// Reason is one of metrics.DriftNotWrapped, DriftOtherVersion,
	// DriftAudit, or "" when the pod is fine.
	Reason string
	// Decision is the precedence's answer for the pod.
	Decision decision.Result
	// WrappedVersion is the version that wrapped the pod; "" when it is not
	// wrapped.
	WrappedVersion string
}

// Check applies the package contract to one pod.
func Check(in Input) Finding {
	d := decision.Decide(decision.Input{Pod: in.Pod, Namespace: in.Namespace, Policies: in.Policies, ExcludedNamespaces: in.ExcludedNamespaces})
	f := Finding{Decision: d}
	if in.Pod == nil {
		return f
	}
	wrapped, version, current := wrappedBy(in.Pod, in.Version)
	f.WrappedVersion = version
	switch {
	case d.Reason == decision.ReasonPolicyAudit && !wrapped:
		f.Reason = metrics.DriftAudit
	case !d.Inject:
	case !wrapped:
		f.Reason = metrics.DriftNotWrapped
	case !current:
		f.Reason = metrics.DriftOtherVersion
	}
	return f
}

// wrappedBy reads graceful's marks on pod: whether it is wrapped, by which
// version, and whether that is want.
func wrappedBy(pod *corev1.Pod, want string) (wrapped bool, version string, current bool) {
	if s, ok := pod.Annotations[contract.AnnotationStatus]; ok {
		if st, err := rewrite.ParseStatus(s); err == nil && len(st.Containers) > 0 {
			return true, st.Version, st.Version == want
		}
	}
	if v, ok := pod.Labels[contract.LabelWrapped]; ok {
		return true, v, v == contract.WrappedLabelValue(want)
	}
	return false, "", false
}

// Workload is the object whose pods these are: a Deployment, StatefulSet,
// DaemonSet, CronJob, Job, ReplicaSet (without a Deployment), another
// controller's kind, or the pod itself (Kind "Pod").
type Workload struct {
	APIVersion string    `json:"apiVersion"`
	Kind       string    `json:"kind"`
	Namespace  string    `json:"namespace"`
	Name       string    `json:"name"`
	UID        types.UID `json:"-"`
}

// String is kind/name, as kubectl names it ("deployment/web").
func (w Workload) String() string { return strings.ToLower(w.Kind) + "/" + w.Name }

// Ref is w as the object an Event is about.
func (w Workload) Ref() *corev1.ObjectReference {
	return &corev1.ObjectReference{APIVersion: w.APIVersion, Kind: w.Kind, Namespace: w.Namespace, Name: w.Name, UID: w.UID}
}

// Parent returns the controller reference of the object kind/name in
// namespace (apps/v1 ReplicaSet, batch/v1 Job), nil when it has none; found
// is false when the object does not exist (any more).
type Parent func(kind, namespace, name string) (ref *metav1.OwnerReference, found bool, err error)

// Owner walks pod's controller references up to its workload: ReplicaSet →
// Deployment and Job → CronJob through parent, other controllers as they
// are; a pod without a controller is its own workload. A ReplicaSet or Job
// that is gone ends the walk there.
func Owner(pod metav1.Object, parent Parent) (Workload, error) {
	w := Workload{APIVersion: "v1", Kind: "Pod", Namespace: pod.GetNamespace(), Name: pod.GetName(), UID: pod.GetUID()}
	ref := metav1.GetControllerOfNoCopy(pod)
	if ref == nil {
		return w, nil
	}
	w = Workload{APIVersion: ref.APIVersion, Kind: ref.Kind, Namespace: pod.GetNamespace(), Name: ref.Name, UID: ref.UID}
	var up string // the kind that may own ref's kind
	switch {
	case ref.Kind == "ReplicaSet" && group(ref.APIVersion) == "apps":
		up = "Deployment"
	case ref.Kind == "Job" && group(ref.APIVersion) == "batch":
		up = "CronJob"
	default:
		return w, nil
	}
	p, found, err := parent(ref.Kind, pod.GetNamespace(), ref.Name)
	if err != nil {
		return w, fmt.Errorf("reading %s %s/%s: %w", ref.Kind, pod.GetNamespace(), ref.Name, err)
	}
	if found && p != nil && p.Kind == up {
		w = Workload{APIVersion: p.APIVersion, Kind: p.Kind, Namespace: pod.GetNamespace(), Name: p.Name, UID: p.UID}
	}
	return w, nil
}

func group(apiVersion string) string {
	g, _, ok := strings.Cut(apiVersion, "/")
	if !ok {
		return ""
	}
	return g
}

// FixFor is Fix for the finding f of pod: for an audited pod, the policy
// has to leave Audit first.
func FixFor(f Finding, w Workload, pod string) string {
	if f.Reason == metrics.DriftAudit && f.Decision.Policy != nil {
		return fmt.Sprintf("set ShutdownPolicy %s to mode Default or Enforce, then: %s", f.Decision.Policy.Name, Fix(w, pod))
	}
	return Fix(w, pod)
}

// Fix is the command that replaces pod (owned by w) with one the webhook
// wraps now.
func Fix(w Workload, pod string) string {
	ns := w.Namespace
	switch w.Kind {
	case "Deployment", "StatefulSet", "DaemonSet":
		return fmt.Sprintf("kubectl rollout restart %s -n %s", w, ns)
	case "Pod":
		return fmt.Sprintf("kubectl get pod %s -n %s -o yaml > %s.yaml; kubectl delete pod %s -n %s; kubectl create -f %s.yaml (recreate it)", pod, ns, pod, pod, ns, pod)
	case "CronJob":
		return fmt.Sprintf("its next run is wrapped; to re-run now: kubectl create job --from=cronjob/%s %s-rerun -n %s", w.Name, w.Name, ns)
	case "Job":
		return fmt.Sprintf("re-run the job: kubectl get job %s -n %s -o yaml > %s.yaml; kubectl delete job %s -n %s; kubectl create -f %s.yaml (strip its selector and controller-uid labels first)", w.Name, ns, w.Name, w.Name, ns, w.Name)
	default:
		return fmt.Sprintf("kubectl delete pod %s -n %s (its %s recreates it)", pod, ns, w)
	}
}
