// Package fleet is graceful-webhook's view of the pods already running: the
// drift controller keeps graceful_unprotected_pods (pods that the current
// precedence selects but that this version did not wrap: pkg/drift) and
// Events on their workloads, and the outcome controller counts wrapped
// containers' shutdowns in graceful_container_shutdowns_total from the
// report graceful-init leaves in their termination message.
//
// Contract:
//   - Both controllers, and the caches they read, run on the leader only:
//     a replica that is not the leader exports neither metric's series,
//     emits no Event and holds no pod in memory.
//   - Memory is bounded by what the pods' metadata holds, not by their
//     specs: every pod is watched as metadata only (managedFields and
//     kubectl's last-applied annotation dropped); the pods graceful wrapped
//     (the label graceful.dev/wrapped, selected by the API server) are also
//     watched in full but stored stripped to their container termination
//     states; a drifting pod is read in full once (GET) to confirm what its
//     metadata can not tell (a Windows pod is never selected), and the
//     answer is kept by UID.
//   - An Event goes to a drifting pod's workload once per workload and
//     reason while it has drifting pods, not once per resync; it comes back
//     when the workload drifts again after it was fixed.
//   - A container termination is counted once: by pod UID and the
//     terminated container's ID (finishedAt and restartCount when the
//     runtime gave none), whether it is seen as state or lastState, across
//     resyncs. Terminations that ended before this leader started (less a
//     lookback, the lease's duration) are not counted: the leader before
//     counted them.
//   - owner_name is the workload (pkg/drift.Owner), not the pod: the
//     counter's series are bounded by namespaces × workloads × 4 outcomes.
package fleet

import (
	"context"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/graceful-dev/graceful/pkg/contract"
	"github.com/graceful-dev/graceful/pkg/drift"
)

// Event reasons.
const (
	// EventReasonUnprotected: a workload has pods the current precedence
	// selects that this version did not wrap.
	EventReasonUnprotected = "GracefulUnprotected"
	// EventReasonKilled: graceful-init SIGKILLed processes of a wrapped
	// container at its shutdown budget.
	EventReasonKilled = "GracefulKilledAtBudget"
)

// DefaultLookback is how long before this leader's start a termination may
// have finished and still be counted: the default leader election lease.
const DefaultLookback = 15 * time.Second

// Options configure the controllers.
type Options struct {
	// Version is the webhook's (what it writes into graceful.dev/status).
	Version string
	// ExcludedNamespaces: the webhook's own and the system namespaces.
	ExcludedNamespaces []string
	// Events records the Events; nil records none.
	Events events.EventRecorder
	// Lookback: see DefaultLookback (0: the default).
	Lookback time.Duration
}

// Setup adds both controllers and their caches to mgr. Namespaces and
// ShutdownPolicies are read from mgr's cache (the admission handler's).
func Setup(mgr manager.Manager, o Options) error {
	if o.Version == "" {
		return fmt.Errorf("fleet: no version")
	}
	if o.Lookback <= 0 {
		o.Lookback = DefaultLookback
	}
	base := cache.Options{Scheme: mgr.GetScheme(), Mapper: mgr.GetRESTMapper(), DefaultTransform: stripMeta}
	metaCache, err := cache.New(mgr.GetConfig(), base)
	if err != nil {
		return fmt.Errorf("fleet: metadata cache: %w", err)
	}
	wrapped, err := labels.NewRequirement(contract.LabelWrapped, selection.Exists, nil)
	if err != nil {
		return fmt.Errorf("fleet: %w", err)
	}
	wopts := base
	wopts.ByObject = map[client.Object]cache.ByObject{&corev1.Pod{}: {Label: labels.NewSelector().Add(*wrapped), Transform: slimPod}}
	wrappedCache, err := cache.New(mgr.GetConfig(), wopts)
	if err != nil {
		return fmt.Errorf("fleet: wrapped pods cache: %w", err)
	}
	for _, c := range []cache.Cache{metaCache, wrappedCache} {
		if err := mgr.Add(leaderOnly{c}); err != nil {
			return fmt.Errorf("fleet: %w", err)
		}
	}
	owners := &ownerReader{c: metaCache}
	d := &driftReconciler{o: o, meta: metaCache, decisions: mgr.GetCache(), api: mgr.GetAPIReader(), owners: owners, state: newDriftState()}
	if err := d.setup(mgr); err != nil {
		return fmt.Errorf("fleet: drift controller: %w", err)
	}
	out := &outcomeReconciler{o: o, pods: wrappedCache, owners: owners, seen: map[types.NamespacedName]podSeen{}}
	if err := out.setup(mgr); err != nil {
		return fmt.Errorf("fleet: outcome controller: %w", err)
	}
	return nil
}

// leaderOnly starts a cache on the leader only.
type leaderOnly struct{ cache.Cache }

func (leaderOnly) NeedLeaderElection() bool { return true }

// stripMeta drops what no controller here reads and what weighs most in
// metadata: managedFields and kubectl's copy of the whole object.
func stripMeta(obj any) (any, error) {
	if m, err := meta.Accessor(obj); err == nil {
		m.SetManagedFields(nil)
		if a := m.GetAnnotations(); a != nil {
			if _, ok := a[corev1.LastAppliedConfigAnnotation]; ok {
				delete(a, corev1.LastAppliedConfigAnnotation)
				m.SetAnnotations(a)
			}
		}
	}
	return obj, nil
}

// slimPod keeps of a wrapped pod its metadata and its containers'
// termination states: all the outcome controller reads.
func slimPod(obj any) (any, error) {
	p, ok := obj.(*corev1.Pod)
	if !ok {
		return obj, nil
	}
	if _, err := stripMeta(p); err != nil {
		return nil, err
	}
	out := &corev1.Pod{TypeMeta: p.TypeMeta, ObjectMeta: p.ObjectMeta}
	out.Status.InitContainerStatuses = slimStatuses(p.Status.InitContainerStatuses)
	out.Status.ContainerStatuses = slimStatuses(p.Status.ContainerStatuses)
	return out, nil
}

func slimStatuses(in []corev1.ContainerStatus) []corev1.ContainerStatus {
	if len(in) == 0 {
		return nil
	}
	out := make([]corev1.ContainerStatus, len(in))
	for i, s := range in {
		out[i] = corev1.ContainerStatus{Name: s.Name, RestartCount: s.RestartCount,
			State:                corev1.ContainerState{Terminated: s.State.Terminated},
			LastTerminationState: corev1.ContainerState{Terminated: s.LastTerminationState.Terminated}}
	}
	return out
}

// metaOf is an empty metadata-only object of kind (core v1 Pod, apps/v1
// ReplicaSet, batch/v1 Job).
func metaOf(apiVersion, kind string) *metav1.PartialObjectMetadata {
	return &metav1.PartialObjectMetadata{TypeMeta: metav1.TypeMeta{APIVersion: apiVersion, Kind: kind}}
}

func metaListOf(apiVersion, kind string) *metav1.PartialObjectMetadataList {
	return &metav1.PartialObjectMetadataList{TypeMeta: metav1.TypeMeta{APIVersion: apiVersion, Kind: kind + "List"}}
}

// ownerReader walks ReplicaSets and Jobs (metadata only) for drift.Owner.
type ownerReader struct{ c client.Reader }

func (r *ownerReader) parent(ctx context.Context) drift.Parent {
	return func(kind, namespace, name string) (*metav1.OwnerReference, bool, error) {
		var obj *metav1.PartialObjectMetadata
		switch kind {
		case "ReplicaSet":
			obj = metaOf(appsv1.SchemeGroupVersion.String(), "ReplicaSet")
		case "Job":
			obj = metaOf(batchv1.SchemeGroupVersion.String(), "Job")
		default:
			return nil, false, nil
		}
		if err := r.c.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, obj); err != nil {
			if apierrors.IsNotFound(err) {
				return nil, false, nil
			}
			return nil, false, err
		}
		return metav1.GetControllerOfNoCopy(obj), true, nil
	}
}

func (r *ownerReader) owner(ctx context.Context, pod metav1.Object) (drift.Workload, error) {
	return drift.Owner(pod, r.parent(ctx))
}
