// Package admit is graceful-webhook's mutating admission handler for pod
// CREATE: decode the pod, decide (pkg/inject/decision) from the pod, its
// namespace and the ShutdownPolicies, look up the image configs the rewrite
// needs (pkg/inject/imageconfig, with the pod's pull secrets), rewrite
// (pkg/inject/rewrite) and answer with a JSON patch.
//
// Contract:
//   - Anything but a pod CREATE is allowed unchanged. A body that does not
//     decode as a pod is answered with an error (400); the handler never
//     panics on any input.
//   - Every skip or bad setting the client should know about is an admission
//     warning: decision warnings, rewrite warnings, failed lookups.
//   - Lookups share one deadline (Options.LookupTimeout, default 3s), kept
//     well under the webhook's timeout (5s) so a slow registry costs a
//     warning, not the admission.
//   - Image configs are looked up for the containers that need them
//     (rewrite.Targets): those without a command (the ENTRYPOINT) and those
//     without lifecycle.stopSignal (the STOPSIGNAL).
//   - A failed lookup either goes on without that config (LookupSkipContainer:
//     the containers of that image without a command are left unwrapped,
//     those with one wrapped with SIGTERM as their stop signal; a warning,
//     plus an Event on the pod's controller, or on its namespace when it has
//     none) or denies the pod with the registry's error (LookupReject), also
//     when only a stop signal was missing.
//   - A container left unwrapped because its entrypoint is an init that
//     must itself be PID 1 (s6-overlay, systemd) gets a warning and an Event
//     the same way, in both modes.
//   - A pod selected by a ShutdownPolicy in mode Audit is allowed unchanged
//     (also under LookupReject), with the warnings of the rewrite it would
//     have had and one saying what would have been wrapped and how; it is
//     counted as result "audit" and causes no Event.
//   - Dry-run requests get the same answer and cause no Event.
//   - A rewrite conflict (a foreign volume or container under graceful's
//     names) admits the pod unchanged with a warning: failurePolicy Ignore is
//     the default, and a pod must not be lost to graceful.
package admit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/graceful-dev/graceful/pkg/api/v1alpha1"
	"github.com/graceful-dev/graceful/pkg/inject"
	"github.com/graceful-dev/graceful/pkg/inject/imageconfig"
	"github.com/graceful-dev/graceful/pkg/inject/rewrite"
	"github.com/graceful-dev/graceful/pkg/webhook/metrics"
)

// LookupFailure says what a failed image config lookup does to the pod.
type LookupFailure string

const (
	// LookupSkipContainer leaves the containers of that image unwrapped.
	LookupSkipContainer LookupFailure = "skip-container"
	// LookupReject denies the pod with the registry's error.
	LookupReject LookupFailure = "reject"
)

// DefaultLookupTimeout is the lookups' shared deadline when Options sets none.
const DefaultLookupTimeout = 3 * time.Second

// Reasons of the Events the handler records.
const (
	// EventReasonLookupFailed: an image config lookup failed.
	EventReasonLookupFailed = "GracefulImageLookupFailed"
	// EventReasonOwnInit: a container was left unwrapped because its
	// entrypoint is an init that must itself be PID 1.
	EventReasonOwnInit = "GracefulOwnInit"
)

// Options configure a Handler.
type Options struct {
	// Cache reads Namespaces and ShutdownPolicies (the manager's cache).
	Cache client.Reader
	// API reads service accounts and secrets for pull credentials, uncached
	// (the manager's API reader): the webhook must not watch every secret.
	API client.Reader
	// Resolver looks up image configs.
	Resolver *imageconfig.Resolver
	// Events records lookup failures; nil records none.
	Events events.EventRecorder
	// Rewrite is the cluster-wide rewrite config (image, version, resources).
	Rewrite rewrite.Config
	// ExcludedNamespaces: the webhook's own and the system namespaces.
	ExcludedNamespaces []string
	// LookupFailure: LookupSkipContainer (default) or LookupReject.
	LookupFailure LookupFailure
	// LookupTimeout bounds all lookups of one request; 0 means DefaultLookupTimeout.
	LookupTimeout time.Duration
}

// Handler is the mutating admission handler. Safe for concurrent use.
type Handler struct {
	o        Options
	decoder  admission.Decoder
	pipeline inject.Pipeline
}

// New returns a Handler; it fails when the options can not work.
func New(o Options, decoder admission.Decoder) (*Handler, error) {
	if o.Cache == nil {
		return nil, errors.New("admission: no cache reader")
	}
	if o.Resolver == nil {
		return nil, errors.New("admission: no image config resolver")
	}
	if err := o.Rewrite.Validate(); err != nil {
		return nil, fmt.Errorf("admission: %w", err)
	}
	switch o.LookupFailure {
	case "":
		o.LookupFailure = LookupSkipContainer
	case LookupSkipContainer, LookupReject:
	default:
		return nil, fmt.Errorf("admission: lookup failure mode %q: want %s or %s", o.LookupFailure, LookupSkipContainer, LookupReject)
	}
	if o.LookupTimeout <= 0 {
		o.LookupTimeout = DefaultLookupTimeout
	}
	if decoder == nil {
		return nil, errors.New("admission: no decoder")
	}
	return &Handler{o: o, decoder: decoder, pipeline: inject.Pipeline{
		Rewrite:              o.Rewrite,
		ExcludedNamespaces:   o.ExcludedNamespaces,
		RejectLookupFailures: o.LookupFailure == LookupReject,
	}}, nil
}

// Handle implements admission.Handler.
func (h *Handler) Handle(ctx context.Context, req admission.Request) (resp admission.Response) {
	log := logf.FromContext(ctx)
	reason := "invalid-request"
	result := metrics.ResultError
	defer func() {
		// The manager's webhook recovers panics too; this keeps the answer
		// well formed and counted when the handler is served some other way.
		if r := recover(); r != nil {
			log.Error(fmt.Errorf("panic: %v", r), "admission handler panicked")
			resp = admission.Errored(http.StatusInternalServerError, fmt.Errorf("graceful: internal error: %v", r))
			result = metrics.ResultError
		}
		metrics.Admissions.WithLabelValues(result, reason).Inc()
	}()

	if req.Kind.Kind != "Pod" || req.Kind.Group != "" || req.Operation != admissionv1.Create || req.SubResource != "" {
		reason, result = "not-pod-create", metrics.ResultUnchanged
		return admission.Allowed("graceful: not a pod create")
	}
	pod := &corev1.Pod{}
	if err := h.decoder.Decode(req, pod); err != nil {
		return admission.Errored(http.StatusBadRequest, fmt.Errorf("graceful: decoding the pod: %w", err))
	}
	if pod.Namespace == "" {
		pod.Namespace = req.Namespace
	}
	dryRun := req.DryRun != nil && *req.DryRun
	log = log.WithValues("namespace", pod.Namespace, "pod", inject.PodName(pod), "dryRun", dryRun)

	ns, policies, err := h.read(ctx, pod.Namespace)
	if err != nil {
		log.Error(err, "reading the cache")
		return admission.Errored(http.StatusInternalServerError, fmt.Errorf("graceful: %w", err))
	}
	ctx, cancel := context.WithTimeout(ctx, h.o.LookupTimeout)
	defer cancel()
	res := h.pipeline.Run(ctx, inject.Input{Pod: pod, Namespace: ns, Policies: policies}, h.lookupFor(pod))
	d := res.Decision
	reason = string(d.Reason)
	warnings := res.Warnings
	switch res.Outcome {
	case inject.NotSelected:
		result = metrics.ResultUnchanged
		log.V(1).Info("not injected", "reason", d.Reason, "message", d.Message)
		return admission.Allowed(d.Message).WithWarnings(warnings...)
	case inject.Audited:
		// An Audit policy changes nothing and records nothing: the
		// warning is the whole answer.
		result = metrics.ResultAudit
		log.Info("audit: left unchanged", "reason", d.Reason, "policy", d.Policy.Name, "warnings", len(warnings))
		return admission.Allowed(d.Message).WithWarnings(warnings...)
	case inject.LookupFailed:
		result = metrics.ResultDenied
		msgs := make([]string, 0, len(res.Failures))
		for _, f := range res.Failures {
			msgs = append(msgs, f.Err.Error())
		}
		log.Info("denied: image config lookup failed", "reason", d.Reason, "errors", msgs)
		return admission.Denied(fmt.Sprintf("graceful: image config lookup failed (lookup failure mode %s): %s", LookupReject, strings.Join(msgs, "; "))).WithWarnings(warnings...)
	}
	if !dryRun {
		for _, f := range res.Failures {
			h.event(pod, ns, EventReasonLookupFailed, fmt.Sprintf("graceful: pod %s: %s: %v", inject.PodName(pod), f.Effect(), f.Err))
			log.Info("image config lookup failed", "image", f.Image, "error", f.Err.Error())
		}
		for _, o := range res.OwnInit {
			h.event(pod, ns, EventReasonOwnInit, fmt.Sprintf("graceful: pod %s: container %s left unwrapped: its entrypoint %s (image %s) is an init that must itself be PID 1",
				inject.PodName(pod), o.Container, o.Entrypoint, o.Image))
		}
	}
	if res.Outcome == inject.Refused {
		result = metrics.ResultUnchanged
		log.Info("not injected: rewrite refused the pod", "reason", d.Reason, "error", res.Err.Error())
		return admission.Allowed("graceful: pod left unchanged").WithWarnings(append(warnings, fmt.Sprintf("graceful: pod left unchanged: %v", res.Err))...)
	}
	out := res.Pod
	patch, ok, err := fieldPatch(pod, out, hasMetadata(pod, req.Object.Raw))
	if err != nil {
		return admission.Errored(http.StatusInternalServerError, fmt.Errorf("graceful: %w", err))
	}
	if ok {
		if len(patch) == 0 {
			// No patch at all: a patch would also trigger reinvocation.
			result = metrics.ResultUnchanged
			log.Info("unchanged: nothing (more) to wrap", "reason", d.Reason, "warnings", len(warnings))
			return admission.Allowed("graceful: nothing to wrap").WithWarnings(warnings...)
		}
		result = metrics.ResultInjected
		log.Info("admitted", "reason", d.Reason, "result", result, "warnings", len(warnings))
		return admission.Response{AdmissionResponse: patched(patch)}.WithWarnings(warnings...)
	}
	// The rewrite touched another field: diff whole documents.
	// Patch against the pod as the API server sent it; only the namespace was
	// filled in above, which the rewrite never touches, so put it back.
	out.Namespace = ""
	if len(req.Object.Raw) > 0 {
		var raw struct {
			Metadata struct {
				Namespace string `json:"namespace"`
			} `json:"metadata"`
		}
		if json.Unmarshal(req.Object.Raw, &raw) == nil {
			out.Namespace = raw.Metadata.Namespace
		}
	}
	current, err := json.Marshal(out)
	if err != nil {
		return admission.Errored(http.StatusInternalServerError, fmt.Errorf("graceful: encoding the pod: %w", err))
	}
	resp = admission.PatchResponseFromRaw(req.Object.Raw, current)
	if !resp.Allowed {
		return resp.WithWarnings(warnings...)
	}
	if len(resp.Patches) == 0 {
		result = metrics.ResultUnchanged
	} else {
		result = metrics.ResultInjected
	}
	log.Info("admitted", "reason", d.Reason, "result", result, "patches", len(resp.Patches), "warnings", len(warnings))
	return resp.WithWarnings(warnings...)
}

// read returns the namespace (nil when not found) and the policies.
func (h *Handler) read(ctx context.Context, name string) (*corev1.Namespace, []v1alpha1.ShutdownPolicy, error) {
	var ns corev1.Namespace
	nsp := &ns
	// The cache's objects are read, never changed: no deep copies.
	if err := h.o.Cache.Get(ctx, types.NamespacedName{Name: name}, &ns, client.UnsafeDisableDeepCopy); err != nil {
		if !apierrors.IsNotFound(err) {
			return nil, nil, fmt.Errorf("reading namespace %s: %w", name, err)
		}
		nsp = nil
	}
	var list v1alpha1.ShutdownPolicyList
	if err := h.o.Cache.List(ctx, &list, client.UnsafeDisableDeepCopy); err != nil {
		return nil, nil, fmt.Errorf("listing ShutdownPolicies: %w", err)
	}
	return nsp, list.Items, nil
}

// lookupFor binds the resolver to the pod: its platform, its pull secrets,
// and the lookup duration metric.
func (h *Handler) lookupFor(pod *corev1.Pod) inject.Lookup {
	platform := imageconfig.PlatformFor(pod)
	var kc *podKeychain
	var once sync.Once
	return func(ctx context.Context, ref string) (rewrite.ImageConfig, error) {
		// One keychain a pod, bound to the run's context: it reads the
		// pull secrets on first use only.
		once.Do(func() { kc = newPodKeychain(ctx, h.o.API, pod) })
		start := time.Now()
		cfg, err := h.o.Resolver.Resolve(ctx, ref, platform, kc)
		res := "ok"
		if err != nil {
			res = "error"
		}
		metrics.LookupDuration.WithLabelValues(res).Observe(time.Since(start).Seconds())
		return cfg.ImageConfig, err
	}
}

// event records a Warning Event about pod on its controller (or first
// owner), else on its namespace: the pod itself does not exist yet.
func (h *Handler) event(pod *corev1.Pod, ns *corev1.Namespace, reason, note string) {
	if h.o.Events == nil {
		return
	}
	ref := &corev1.ObjectReference{Kind: "Namespace", APIVersion: "v1", Name: pod.Namespace, Namespace: pod.Namespace}
	if ns != nil {
		ref.UID = ns.UID
	}
	owners := pod.OwnerReferences
	if i := slices.IndexFunc(owners, func(o metav1.OwnerReference) bool { return o.Controller != nil && *o.Controller }); i >= 0 {
		owners = owners[i:]
	}
	if len(owners) > 0 {
		o := owners[0]
		ref = &corev1.ObjectReference{Kind: o.Kind, APIVersion: o.APIVersion, Name: o.Name, UID: o.UID, Namespace: pod.Namespace}
	}
	h.o.Events.Eventf(ref, nil, corev1.EventTypeWarning, reason, "Admit", "%s", note)
}

var _ admission.Handler = (*Handler)(nil)

// hasMetadata reports whether the raw object has a metadata member. A pod
// with a name or generateName has one; only a nameless pod needs a look.
func hasMetadata(pod *corev1.Pod, raw []byte) bool {
	if pod.Name != "" || pod.GenerateName != "" || len(pod.Labels) > 0 || len(pod.Annotations) > 0 {
		return true
	}
	var top map[string]json.RawMessage
	if json.Unmarshal(raw, &top) != nil {
		return true
	}
	_, ok := top["metadata"]
	return ok
}
