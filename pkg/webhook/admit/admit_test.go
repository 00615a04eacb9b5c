package admit_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/graceful-dev/graceful/pkg/api/v1alpha1"
	"github.com/graceful-dev/graceful/pkg/contract"
	"github.com/graceful-dev/graceful/pkg/inject/decision"
	"github.com/graceful-dev/graceful/pkg/inject/rewrite"
	"github.com/graceful-dev/graceful/pkg/webhook/admit"
	"github.com/graceful-dev/graceful/pkg/webhook/metrics"
	"github.com/graceful-dev/graceful/pkg/webhook/policystatus"
)

var nsSeq atomic.Int64

// namespace creates a fresh namespace with labels.
func namespace(t *testing.T, labels map[string]string) string {
	t.Helper()
	name := fmt.Sprintf("t%d-%s", nsSeq.Add(1), strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			return r
		}
		return '-'
	}, strings.ToLower(t.Name())))
	if len(name) > 63 {
		name = name[:63]
	}
	name = strings.TrimRight(name, "-")
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
	if err := k8s.Create(context.Background(), ns); err != nil {
		t.Fatalf("creating namespace %s: %v", name, err)
	}
	waitCached(t, &corev1.Namespace{}, types.NamespacedName{Name: name}, func(client.Object) bool { return true })
	return name
}

// waitCached waits until the manager's cache holds key and ok says yes.
func waitCached(t *testing.T, obj client.Object, key types.NamespacedName, ok func(client.Object) bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		err := mgrClient.Get(context.Background(), key, obj)
		if err == nil && ok(obj) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%T %s never reached the manager's cache in the expected state (last error: %v)", obj, key, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// simplePod runs a command on a public image of the loopback registry (whose
// STOPSIGNAL is looked up) and passes Pod Security "restricted".
func simplePod(ns, name string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: corev1.PodSpec{
			SecurityContext: &corev1.PodSecurityContext{
				RunAsNonRoot:   ptr.To(true),
				RunAsUser:      ptr.To[int64](1000),
				SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
			},
			Containers: []corev1.Container{{
				Name: "app", Image: publicRef, Command: []string{"sh", "-c", "sleep 3600"},
				SecurityContext: &corev1.SecurityContext{
					AllowPrivilegeEscalation: ptr.To(false),
					Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
				},
			}},
		},
	}
}

// create creates pod and returns the stored pod and the warnings the client saw.
func create(t *testing.T, pod *corev1.Pod, opts ...client.CreateOption) (*corev1.Pod, []string, error) {
	t.Helper()
	warns.take()
	err := k8s.Create(context.Background(), pod, opts...)
	return pod, warns.take(), err
}

func mustCreate(t *testing.T, pod *corev1.Pod) (*corev1.Pod, []string) {
	t.Helper()
	p, w, err := create(t, pod)
	if err != nil {
		t.Fatalf("creating pod %s/%s: %v", pod.Namespace, pod.Name, err)
	}
	return p, w
}

func status(t *testing.T, pod *corev1.Pod) (rewrite.Status, bool) {
	t.Helper()
	s, ok := pod.Annotations[contract.AnnotationStatus]
	if !ok {
		return rewrite.Status{}, false
	}
	st, err := rewrite.ParseStatus(s)
	if err != nil {
		t.Fatalf("pod %s: bad %s %q: %v", pod.Name, contract.AnnotationStatus, s, err)
	}
	return st, true
}

func assertInjected(t *testing.T, pod *corev1.Pod, containers ...string) {
	t.Helper()
	st, ok := status(t, pod)
	if !ok {
		t.Fatalf("pod %s not injected: no %s annotation; containers %+v", pod.Name, contract.AnnotationStatus, pod.Spec.Containers)
	}
	if !slices.Equal(st.Containers, containers) {
		t.Errorf("pod %s: wrapped %v, want %v", pod.Name, st.Containers, containers)
	}
	if v := pod.Labels[contract.LabelWrapped]; v != contract.WrappedLabelValue(st.Version) {
		t.Errorf("pod %s: label %s=%q, want the status's version %q", pod.Name, contract.LabelWrapped, v, st.Version)
	}
	if len(pod.Spec.InitContainers) == 0 || pod.Spec.InitContainers[0].Name != contract.InstallContainerName {
		t.Errorf("pod %s: first init container is not %s: %+v", pod.Name, contract.InstallContainerName, pod.Spec.InitContainers)
	}
	for _, c := range pod.Spec.Containers {
		wrapped := len(c.Command) > 0 && c.Command[0] == contract.InitPath
		if wrapped != slices.Contains(containers, c.Name) {
			t.Errorf("pod %s container %s: command %q, wrapped=%v, want wrapped=%v", pod.Name, c.Name, c.Command, wrapped, !wrapped)
		}
		if wrapped && slices.Contains(c.Command[1:], contract.InitPath) {
			t.Errorf("pod %s container %s wrapped twice: %q", pod.Name, c.Name, c.Command)
		}
	}
}

func assertUntouched(t *testing.T, pod *corev1.Pod) {
	t.Helper()
	if v, ok := pod.Labels[contract.LabelWrapped]; ok {
		t.Errorf("pod %s labelled %s=%s, want untouched", pod.Name, contract.LabelWrapped, v)
	}
	if _, ok := pod.Annotations[contract.AnnotationStatus]; ok {
		t.Errorf("pod %s injected, want untouched: %s", pod.Name, pod.Annotations[contract.AnnotationStatus])
	}
	if len(pod.Spec.InitContainers) > 0 {
		t.Errorf("pod %s got init containers: %+v", pod.Name, pod.Spec.InitContainers)
	}
	for _, c := range pod.Spec.Containers {
		if len(c.Command) > 0 && c.Command[0] == contract.InitPath {
			t.Errorf("pod %s container %s wrapped: %q", pod.Name, c.Name, c.Command)
		}
	}
}

func hasWarning(ws []string, sub string) bool {
	return slices.ContainsFunc(ws, func(w string) bool { return strings.Contains(w, sub) })
}

// policy creates a cluster-scoped ShutdownPolicy for namespaces labelled
// test.graceful.dev/policy=<its name>, and waits until the cache has it.
func policy(t *testing.T, mode v1alpha1.PolicyMode, mutate func(*v1alpha1.ShutdownPolicy)) *v1alpha1.ShutdownPolicy {
	t.Helper()
	name := fmt.Sprintf("p%d", nsSeq.Add(1))
	p := &v1alpha1.ShutdownPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: v1alpha1.ShutdownPolicySpec{
			Mode:              mode,
			NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"test.graceful.dev/policy": name}},
		},
	}
	if mutate != nil {
		mutate(p)
	}
	if err := k8s.Create(context.Background(), p); err != nil {
		t.Fatalf("creating ShutdownPolicy %s: %v", name, err)
	}
	t.Cleanup(func() { _ = k8s.Delete(context.Background(), p) })
	waitCached(t, &v1alpha1.ShutdownPolicy{}, types.NamespacedName{Name: name}, func(client.Object) bool { return true })
	return p
}

func policyLabel(p *v1alpha1.ShutdownPolicy) map[string]string {
	return map[string]string{"test.graceful.dev/policy": p.Name}
}

// TestDecisionTable creates a pod through the API server for every row of
// the precedence table and checks the stored pod.
func TestDecisionTable(t *testing.T) {
	enforce := policy(t, v1alpha1.ModeEnforce, nil)
	dflt := policy(t, v1alpha1.ModeDefault, func(p *v1alpha1.ShutdownPolicy) {
		p.Spec.DrainDelay = &metav1.Duration{Duration: 3 * time.Second}
	})

	type row struct {
		name     string
		nsLabels map[string]string
		annot    map[string]string
		mutate   func(*corev1.Pod)
		inject   bool
		warning  string
		check    func(*testing.T, *corev1.Pod)
	}
	rows := []row{
		{name: "nothing: left alone"},
		{name: "annotation true", annot: map[string]string{contract.AnnotationInject: "true"}, inject: true},
		{name: "annotation false", annot: map[string]string{contract.AnnotationInject: "false"}},
		{name: "annotation bad value warns", annot: map[string]string{contract.AnnotationInject: "yes"}, warning: `is not "true" or "false"`},
		{name: "namespace enabled", nsLabels: map[string]string{contract.LabelInject: contract.NamespaceEnabled}, inject: true},
		{name: "namespace disabled", nsLabels: map[string]string{contract.LabelInject: contract.NamespaceDisabled}},
		{name: "annotation false beats namespace enabled", nsLabels: map[string]string{contract.LabelInject: contract.NamespaceEnabled},
			annot: map[string]string{contract.AnnotationInject: "false"}},
		{name: "annotation true beats namespace disabled", nsLabels: map[string]string{contract.LabelInject: contract.NamespaceDisabled},
			annot: map[string]string{contract.AnnotationInject: "true"}, inject: true},
		{name: "default policy", nsLabels: policyLabel(dflt), inject: true, check: func(t *testing.T, p *corev1.Pod) {
			if !slices.Contains(p.Spec.Containers[0].Command, contract.FlagDrainDelay+"=3s") {
				t.Errorf("policy drain delay not passed: %q", p.Spec.Containers[0].Command)
			}
		}},
		{name: "namespace disabled beats default policy", nsLabels: merge(policyLabel(dflt), map[string]string{contract.LabelInject: contract.NamespaceDisabled})},
		{name: "annotation false beats default policy", nsLabels: policyLabel(dflt), annot: map[string]string{contract.AnnotationInject: "false"}},
		{name: "enforce policy", nsLabels: policyLabel(enforce), inject: true},
		{name: "enforce overrules opt-out with a warning", nsLabels: policyLabel(enforce),
			annot: map[string]string{contract.AnnotationInject: "false"}, inject: true, warning: "overruled by ShutdownPolicy " + enforce.Name},
		{name: "enforce beats namespace disabled", nsLabels: merge(policyLabel(enforce), map[string]string{contract.LabelInject: contract.NamespaceDisabled}), inject: true},
		{name: "windows pod never", annot: map[string]string{contract.AnnotationInject: "true"},
			mutate: func(p *corev1.Pod) {
				p.Spec.OS = &corev1.PodOS{Name: corev1.Windows}
				p.Spec.SecurityContext = nil
				p.Spec.Containers[0].SecurityContext = nil
			}},
		{name: "mirror pod never", annot: map[string]string{contract.AnnotationInject: "true", corev1.MirrorPodAnnotationKey: "x"},
			mutate: func(p *corev1.Pod) { p.Spec.NodeName = "node-1" }},
		{name: "annotation picks containers", annot: map[string]string{contract.AnnotationInject: "true", contract.AnnotationContainers: "app,missing"},
			inject: true, warning: "missing"},
	}
	for i, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			ns := namespace(t, r.nsLabels)
			pod := simplePod(ns, fmt.Sprintf("pod-%d", i))
			pod.Annotations = r.annot
			if r.mutate != nil {
				r.mutate(pod)
			}
			got, ws := mustCreate(t, pod)
			if r.inject {
				assertInjected(t, got, "app")
			} else {
				assertUntouched(t, got)
			}
			if r.warning != "" && !hasWarning(ws, r.warning) {
				t.Errorf("no warning containing %q; warnings: %q", r.warning, ws)
			}
			if r.check != nil {
				r.check(t, got)
			}
		})
	}
}

func merge(a, b map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

// TestExcludedNamespaces: system namespaces and the webhook's own are left
// alone, even with an Enforce policy selecting everything and an opt-in.
func TestExcludedNamespaces(t *testing.T) {
	p := policy(t, v1alpha1.ModeEnforce, func(p *v1alpha1.ShutdownPolicy) { p.Spec.NamespaceSelector = nil })
	_ = p
	own := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ownNamespace}}
	if err := k8s.Create(context.Background(), own); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	for i, ns := range append([]string{ownNamespace}, systemNamespaces...) {
		if ns == "kube-node-lease" || ns == "kube-public" {
			waitCached(t, &corev1.Namespace{}, types.NamespacedName{Name: ns}, func(client.Object) bool { return true })
		}
		pod := simplePod(ns, fmt.Sprintf("excluded-%d", i))
		pod.Annotations = map[string]string{contract.AnnotationInject: "true"}
		got, _ := mustCreate(t, pod)
		assertUntouched(t, got)
		_ = k8s.Delete(context.Background(), got)
	}
	// The handler excludes them on its own too, not only the webhook's
	// namespaceSelector: ask it directly.
	for _, ns := range append([]string{ownNamespace}, systemNamespaces...) {
		resp := handlers[admit.LookupSkipContainer].Handle(context.Background(), review(t, simplePod(ns, "direct"), false))
		if !resp.Allowed || len(resp.Patches) != 0 {
			t.Errorf("handler on namespace %s: allowed=%v patches=%v, want allowed without patch", ns, resp.Allowed, resp.Patches)
		}
	}
}

// TestPodSecurityRestricted: a namespace enforcing "restricted" admits the
// injected pod.
func TestPodSecurityRestricted(t *testing.T) {
	ns := namespace(t, map[string]string{
		"pod-security.kubernetes.io/enforce": "restricted",
		contract.LabelInject:                 contract.NamespaceEnabled,
	})
	got, ws := mustCreate(t, simplePod(ns, "restricted"))
	assertInjected(t, got, "app")
	if hasWarning(ws, "violate PodSecurity") {
		t.Errorf("PodSecurity warnings: %q", ws)
	}
}

// TestReinvocation: a webhook running after ours adds a container; ours is
// called again and wraps it; nothing is wrapped twice.
func TestReinvocation(t *testing.T) {
	ns := namespace(t, map[string]string{contract.LabelInject: contract.NamespaceEnabled})
	pod := simplePod(ns, "reinvoked")
	pod.Labels = map[string]string{addLateLabel: "true"}
	got, _ := mustCreate(t, pod)
	assertInjected(t, got, "app", lateContainer)
	if n := countInstall(got); n != 1 {
		t.Errorf("%d install containers, want 1", n)
	}
}

func countInstall(p *corev1.Pod) int {
	n := 0
	for _, c := range p.Spec.InitContainers {
		if c.Name == contract.InstallContainerName {
			n++
		}
	}
	return n
}

// lookupPod has a container without a command: its image config must come
// from the registry.
func lookupPod(ns, name, image string) *corev1.Pod {
	p := simplePod(ns, name)
	p.Spec.Containers[0].Image = image
	p.Spec.Containers[0].Command = nil
	p.Spec.Containers[0].Args = nil
	p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "web-7d9f", UID: types.UID("00000000-0000-0000-0000-0000000000aa"), Controller: ptr.To(true)}}
	return p
}

// TestLookupWithPullSecret: the image config comes from a registry that
// wants basic auth, through the pod's imagePullSecret.
func TestLookupWithPullSecret(t *testing.T) {
	ns := namespace(t, map[string]string{contract.LabelInject: contract.NamespaceEnabled})
	if err := k8s.Create(context.Background(), pullSecret(ns, "regcred")); err != nil {
		t.Fatal(err)
	}
	pod := lookupPod(ns, "private", privateRef)
	pod.Spec.ImagePullSecrets = []corev1.LocalObjectReference{{Name: "regcred"}}
	got, ws := mustCreate(t, pod)
	assertInjected(t, got, "app")
	c := got.Spec.Containers[0]
	if !slices.Equal(c.Command[len(c.Command)-2:], []string{contract.EndOfFlags, "/app/server"}) || !slices.Equal(c.Args, []string{"--listen=:8080"}) {
		t.Errorf("argv not taken from the image config: command %q args %q", c.Command, c.Args)
	}
	if len(ws) != 0 {
		t.Errorf("unexpected warnings: %q", ws)
	}
}

// TestLookupWithServiceAccountSecret: the pull secret comes from the pod's
// service account.
func TestLookupWithServiceAccountSecret(t *testing.T) {
	ns := namespace(t, map[string]string{contract.LabelInject: contract.NamespaceEnabled})
	if err := k8s.Create(context.Background(), pullSecret(ns, "sacred")); err != nil {
		t.Fatal(err)
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "puller"},
		ImagePullSecrets: []corev1.LocalObjectReference{{Name: "sacred"}}}
	if err := k8s.Create(context.Background(), sa); err != nil {
		t.Fatal(err)
	}
	// A tag nobody looked up yet, so the cache can not answer.
	pod := lookupPod(ns, "via-sa", privateRef)
	pod.Spec.ServiceAccountName = "puller"
	pod.Spec.NodeSelector = map[string]string{corev1.LabelArchStable: "amd64", corev1.LabelOSStable: "linux"}
	got, ws := mustCreate(t, pod)
	assertInjected(t, got, "app")
	if len(ws) != 0 {
		t.Errorf("unexpected warnings: %q", ws)
	}
}

// TestLookupUnauthorized: without credentials the registry says no; the
// container is left unwrapped with a warning naming the image.
func TestLookupUnauthorized(t *testing.T) {
	ns := namespace(t, map[string]string{contract.LabelInject: contract.NamespaceEnabled})
	other := regHost + "/private/other:v2" // not cached by another test
	got, ws := mustCreate(t, lookupPod(ns, "nocreds", other))
	assertUntouched(t, got)
	if !hasWarning(ws, other) {
		t.Errorf("no warning naming %s: %q", other, ws)
	}
}

// TestRegistryDownSkip: the pod is created unwrapped, with a warning and an
// Event on its owner naming the image.
func TestRegistryDownSkip(t *testing.T) {
	useMode(t, admit.LookupSkipContainer)
	ns := namespace(t, map[string]string{contract.LabelInject: contract.NamespaceEnabled})
	image := deadHost + "/app:v1"
	pod := lookupPod(ns, "down-skip", image)
	// A second container with a command is still wrapped.
	pod.Spec.Containers = append(pod.Spec.Containers, corev1.Container{Name: "side", Image: publicRef, Command: []string{"sleep", "1d"},
		SecurityContext: pod.Spec.Containers[0].SecurityContext})
	got, ws := mustCreate(t, pod)
	assertInjected(t, got, "side")
	if !hasWarning(ws, image) {
		t.Errorf("no warning naming %s: %q", image, ws)
	}
	ev := waitEvent(t, ns, image, 20*time.Second)
	if ev == nil {
		t.Fatalf("no Event naming %s in namespace %s", image, ns)
	}
	if ev.Regarding.Kind != "ReplicaSet" || ev.Regarding.Name != "web-7d9f" || ev.Type != corev1.EventTypeWarning || ev.Reason != admit.EventReasonLookupFailed {
		t.Errorf("event: regarding %+v type %s reason %s, want the pod's ReplicaSet, Warning, %s", ev.Regarding, ev.Type, ev.Reason, admit.EventReasonLookupFailed)
	}
}

// TestRegistryDownSkipNoOwner: without an owner the Event goes on the namespace.
func TestRegistryDownSkipNoOwner(t *testing.T) {
	ns := namespace(t, map[string]string{contract.LabelInject: contract.NamespaceEnabled})
	image := deadHost + "/lonely:v1"
	pod := lookupPod(ns, "down-lonely", image)
	pod.OwnerReferences = nil
	got, _ := mustCreate(t, pod)
	assertUntouched(t, got)
	ev := waitEvent(t, ns, image, 20*time.Second)
	if ev == nil {
		t.Fatalf("no Event naming %s in namespace %s", image, ns)
	}
	if ev.Regarding.Kind != "Namespace" || ev.Regarding.Name != ns {
		t.Errorf("event regarding %+v, want namespace %s", ev.Regarding, ns)
	}
}

// TestRegistryDownReject: the create is denied with a message naming the image.
func TestRegistryDownReject(t *testing.T) {
	useMode(t, admit.LookupReject)
	ns := namespace(t, map[string]string{contract.LabelInject: contract.NamespaceEnabled})
	image := deadHost + "/app:v1"
	_, _, err := create(t, lookupPod(ns, "down-reject", image))
	if err == nil {
		t.Fatal("pod created, want denied")
	}
	if !apierrors.IsForbidden(err) && !apierrors.IsBadRequest(err) {
		t.Errorf("error %v is not a denial", err)
	}
	if !strings.Contains(err.Error(), image) {
		t.Errorf("denial %q does not name the image %s", err, image)
	}
	var p corev1.Pod
	if err := k8s.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "down-reject"}, &p); !apierrors.IsNotFound(err) {
		t.Errorf("denied pod exists (err %v)", err)
	}
}

// TestDryRun: the response carries the rewrite, and no Event is recorded
// for a failed lookup.
func TestDryRun(t *testing.T) {
	ns := namespace(t, map[string]string{contract.LabelInject: contract.NamespaceEnabled})
	image := deadHost + "/dry:v1"
	pod := lookupPod(ns, "dry", image)
	pod.Spec.Containers = append(pod.Spec.Containers, corev1.Container{Name: "side", Image: publicRef, Command: []string{"sleep", "1d"},
		SecurityContext: pod.Spec.Containers[0].SecurityContext})
	got, ws, err := create(t, pod, client.DryRunAll)
	if err != nil {
		t.Fatal(err)
	}
	assertInjected(t, got, "side")
	if !hasWarning(ws, image) {
		t.Errorf("no warning naming %s: %q", image, ws)
	}
	var stored corev1.Pod
	if err := k8s.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "dry"}, &stored); !apierrors.IsNotFound(err) {
		t.Errorf("dry-run pod stored (err %v)", err)
	}
	// A real create of another pod with the same failure records an Event;
	// once it is there, the dry run's would have been too.
	if _, _, err := create(t, lookupPod(ns, "wet", deadHost+"/wet:v1")); err != nil {
		t.Fatal(err)
	}
	if waitEvent(t, ns, deadHost+"/wet:v1", 20*time.Second) == nil {
		t.Fatal("no Event for the real create")
	}
	if ev := waitEvent(t, ns, image, time.Second); ev != nil {
		t.Errorf("dry run recorded an Event: %s", ev.Note)
	}
}

func waitEvent(t *testing.T, ns, sub string, wait time.Duration) *eventsv1.Event {
	t.Helper()
	deadline := time.Now().Add(wait)
	for {
		var list eventsv1.EventList
		if err := k8s.List(context.Background(), &list, client.InNamespace(ns)); err != nil {
			t.Fatal(err)
		}
		for i := range list.Items {
			if strings.Contains(list.Items[i].Note, sub) {
				return &list.Items[i]
			}
		}
		if time.Now().After(deadline) {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestPolicyStatus: an invalid selector gets Ready=False/InvalidSelector
// with the parse error; a valid policy Ready=True.
func TestPolicyStatus(t *testing.T) {
	bad := policy(t, v1alpha1.ModeDefault, func(p *v1alpha1.ShutdownPolicy) {
		p.Spec.PodSelector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "app", Operator: "Near", Values: []string{"x"}}}}
	})
	good := policy(t, v1alpha1.ModeDefault, nil)
	for _, c := range []struct {
		p      *v1alpha1.ShutdownPolicy
		status metav1.ConditionStatus
		reason string
		msg    string
	}{
		{bad, metav1.ConditionFalse, policystatus.ReasonInvalidSelector, "podSelector"},
		{good, metav1.ConditionTrue, policystatus.ReasonValid, ""},
	} {
		deadline := time.Now().Add(20 * time.Second)
		for {
			var p v1alpha1.ShutdownPolicy
			if err := k8s.Get(context.Background(), types.NamespacedName{Name: c.p.Name}, &p); err != nil {
				t.Fatal(err)
			}
			cond := meta.FindStatusCondition(p.Status.Conditions, policystatus.ConditionReady)
			if cond != nil && cond.Status == c.status && cond.Reason == c.reason && strings.Contains(cond.Message, c.msg) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("policy %s: Ready condition %+v, want %s/%s mentioning %q", c.p.Name, cond, c.status, c.reason, c.msg)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// TestAuditMode: a pod that an Audit policy selects is stored as it was
// sent, the client hears what would have been wrapped and how, and the
// admission counts as result "audit"; the same pod under a Default policy
// is wrapped, and an opt-in under Audit is injected as without it.
func TestAuditMode(t *testing.T) {
	audit := policy(t, v1alpha1.ModeAudit, func(p *v1alpha1.ShutdownPolicy) {
		p.Spec.DrainDelay = &metav1.Duration{Duration: time.Second}
	})
	ns := namespace(t, policyLabel(audit))
	before := counterValue(t, metrics.Admissions.WithLabelValues(metrics.ResultAudit, string(decision.ReasonPolicyAudit)))
	got, ws := mustCreate(t, simplePod(ns, "audited"))
	assertUntouched(t, got)
	want := fmt.Sprintf(`graceful: ShutdownPolicy %s (Audit): pod left unchanged; injecting would wrap container "app" (stop signal SIGTERM, grace period 30s, SIGKILL of what is left after 28s, drain delay 1s)`, audit.Name)
	if !slices.Contains(ws, want) {
		t.Errorf("warnings %q\nwant %q", ws, want)
	}
	if after := counterValue(t, metrics.Admissions.WithLabelValues(metrics.ResultAudit, string(decision.ReasonPolicyAudit))); after != before+1 {
		t.Errorf("admissions{result=audit} went from %v to %v, want +1", before, after)
	}

	// Under LookupReject too: an Audit policy never denies.
	useMode(t, admit.LookupReject)
	dead := simplePod(ns, "audited-dead-registry")
	dead.Spec.Containers[0].Image = deadHost + "/public/app:1"
	dead.Spec.Containers[0].Command = nil
	got, ws = mustCreate(t, dead)
	assertUntouched(t, got)
	if !hasWarning(ws, "injecting would wrap no container") {
		t.Errorf("warnings %q: want the audit line saying nothing would be wrapped", ws)
	}

	optIn := simplePod(ns, "opted-in")
	optIn.Annotations = map[string]string{contract.AnnotationInject: contract.InjectTrue}
	got, _ = mustCreate(t, optIn)
	assertInjected(t, got, "app")
	if slices.Contains(got.Spec.Containers[0].Command, contract.FlagDrainDelay+"=1s") {
		t.Errorf("the Audit policy's drain delay reached an opted-in pod: %q", got.Spec.Containers[0].Command)
	}
}

// counterValue reads a counter.
func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}
