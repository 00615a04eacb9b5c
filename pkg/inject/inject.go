// Package inject is graceful's one injection pipeline: decide whether a pod
// is injected (pkg/inject/decision), look up the image configs its rewrite
// needs, and rewrite it (pkg/inject/rewrite). The admission handler
// (pkg/webhook/admit) and offline `graceful-webhook inject`
// (pkg/inject/manifest) both run their pods through Pipeline.Run, so the two
// can not drift apart; they differ only at the edges: where namespaces,
// policies and registry credentials come from, and how a Result is answered.
//
// Contract:
//   - Run reads nothing but its arguments and the lookup it is given, and
//     never changes the input pod.
//   - Every image the rewrite needs is looked up once, all in parallel, under
//     the caller's context (its deadline bounds them all).
//   - A failed lookup either ends the run before the rewrite
//     (RejectLookupFailures: Outcome LookupFailed; a lookup needed only for
//     the STOPSIGNAL of a container with a command fails the run too, as the
//     stop signal would be a guess) or gives a warning naming the image and
//     the error, and the rewrite goes on without that config: containers of
//     that image without a command are left unwrapped, those with one are
//     wrapped with SIGTERM as their stop signal (the rewrite's warnings say
//     which).
//   - Warnings come in a stable order: the decision's, the lookups' (by
//     image), the rewrite's.
package inject

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"

	"github.com/graceful-dev/graceful/pkg/api/v1alpha1"
	"github.com/graceful-dev/graceful/pkg/inject/decision"
	"github.com/graceful-dev/graceful/pkg/inject/rewrite"
)

// Lookup returns the config (ENTRYPOINT, CMD, STOPSIGNAL) of image ref. The
// caller binds it to the pod (platform, registry credentials); it must be
// safe for concurrent use.
type Lookup func(ctx context.Context, ref string) (rewrite.ImageConfig, error)

// Input is what a pod is decided and rewritten from.
type Input struct {
	// Pod is the pod (or the pod of a template), namespace filled in.
	Pod *corev1.Pod
	// Namespace is the pod's namespace object; nil when unknown (offline) or
	// not found.
	Namespace *corev1.Namespace
	// Policies are the cluster's ShutdownPolicies.
	Policies []v1alpha1.ShutdownPolicy
}

// Pipeline holds the cluster-wide settings of a run. The zero value is not
// usable: Rewrite must be valid (rewrite.Config.Validate).
type Pipeline struct {
	// Rewrite is the cluster-wide rewrite config (image, version, resources).
	Rewrite rewrite.Config
	// ExcludedNamespaces are never injected.
	ExcludedNamespaces []string
	// RejectLookupFailures ends the run at a failed lookup instead of
	// leaving that image's containers unwrapped.
	RejectLookupFailures bool
}

// Outcome is how a run ended.
type Outcome int

const (
	// NotSelected: the decision leaves the pod alone (Result.Decision says why).
	NotSelected Outcome = iota
	// LookupFailed: a lookup failed under RejectLookupFailures (Result.Failures).
	LookupFailed
	// Refused: the rewrite refused the pod (Result.Err), e.g. a foreign
	// volume under graceful's name.
	Refused
	// Rewritten: Result.Pod is the rewritten pod. It may equal the input
	// when there was nothing (more) to wrap.
	Rewritten
)

// LookupFailure is a failed image config lookup.
type LookupFailure struct {
	Image string
	Err   error
}

// Effect says what a failure that did not end the run did to the pod.
func (f LookupFailure) Effect() string {
	return fmt.Sprintf("image %q: config lookup failed; its containers without a command are left unwrapped, those with one are wrapped with SIGTERM as their stop signal", f.Image)
}

// Result is what a run produced.
type Result struct {
	Outcome  Outcome
	Decision decision.Result
	// Pod is the rewritten pod when Outcome is Rewritten, else nil.
	Pod *corev1.Pod
	// Warnings are every skip and bad setting the user should hear of.
	Warnings []string
	// Failures are the failed lookups, sorted by image.
	Failures []LookupFailure
	// OwnInit are the containers left unwrapped because their entrypoint is
	// an init that must itself be PID 1.
	OwnInit []rewrite.OwnInit
	// Err is the rewrite's refusal when Outcome is Refused.
	Err error
}

// Run decides, looks up and rewrites in.Pod (see the package contract).
func (p *Pipeline) Run(ctx context.Context, in Input, lookup Lookup) Result {
	d := decision.Decide(decision.Input{Pod: in.Pod, Namespace: in.Namespace, Policies: in.Policies, ExcludedNamespaces: p.ExcludedNamespaces})
	res := Result{Decision: d, Warnings: slices.Clone(d.Warnings)}
	if !d.Inject {
		return res
	}
	defaults := defaultsOf(d.Policy)
	// Pod repeats Targets' warnings, so only Pod's are kept.
	_, refs, _ := rewrite.Targets(in.Pod, defaults)
	images, failures := lookupAll(ctx, refs, lookup)
	res.Failures = failures
	if len(failures) > 0 && p.RejectLookupFailures {
		res.Outcome = LookupFailed
		return res
	}
	for _, f := range failures {
		res.Warnings = append(res.Warnings, fmt.Sprintf("graceful: %s: %v", f.Effect(), f.Err))
	}
	out, err := rewrite.Rewrite(in.Pod, p.Rewrite, defaults, images)
	res.Warnings = append(res.Warnings, out.Warnings...)
	if err != nil {
		res.Outcome, res.Err = Refused, err
		return res
	}
	res.Outcome, res.Pod, res.OwnInit = Rewritten, out.Pod, out.OwnInit
	return res
}

// lookupAll resolves every ref (distinct, as rewrite.Targets gives them) in parallel.
func lookupAll(ctx context.Context, refs []string, lookup Lookup) (map[string]rewrite.ImageConfig, []LookupFailure) {
	if len(refs) == 0 {
		return nil, nil
	}
	var (
		mu       sync.Mutex
		wg       sync.WaitGroup
		images   = make(map[string]rewrite.ImageConfig, len(refs))
		failures []LookupFailure
	)
	for _, ref := range refs {
		wg.Go(func() {
			cfg, err := lookup(ctx, ref)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				failures = append(failures, LookupFailure{Image: ref, Err: err})
				return
			}
			images[ref] = cfg
		})
	}
	wg.Wait()
	slices.SortFunc(failures, func(a, b LookupFailure) int { return strings.Compare(a.Image, b.Image) })
	return images, failures
}

// defaultsOf is what policy p (nil: none) sets for the pods it selects,
// before their own annotations.
func defaultsOf(p *v1alpha1.ShutdownPolicy) rewrite.Defaults {
	if p == nil {
		return rewrite.Defaults{}
	}
	d := rewrite.Defaults{Containers: p.Spec.Containers, SignalMap: p.Spec.SignalMap}
	if p.Spec.DrainDelay != nil {
		dd := p.Spec.DrainDelay.Duration
		d.DrainDelay = &dd
	}
	return d
}

// PodName names a pod in messages: its name, or its generateName followed
// by "*" before the API server picked one.
func PodName(pod *corev1.Pod) string {
	if pod.Name == "" && pod.GenerateName != "" {
		return pod.GenerateName + "*"
	}
	return pod.Name
}
