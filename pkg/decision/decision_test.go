package decision

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/graceful-dev/graceful/pkg/api/v1alpha1"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func pol(name string, mode v1alpha1.PolicyMode, age int, podLabels map[string]string) v1alpha1.ShutdownPolicy {
	p := v1alpha1.ShutdownPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: metav1.NewTime(t0.Add(-time.Duration(age) * time.Hour))},
		Spec:       v1alpha1.ShutdownPolicySpec{Mode: mode},
	}
	if podLabels != nil {
		p.Spec.PodSelector = &metav1.LabelSelector{MatchLabels: podLabels}
	}
	return p
}

func pod(ann map[string]string, lbl map[string]string) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "shop", Annotations: ann, Labels: lbl}}
}

func ns(label string) *corev1.Namespace {
	n := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop", Labels: map[string]string{"team": "shop"}}}
	if label != "" {
		n.Labels["graceful.dev/inject"] = label
	}
	return n
}

var (
	optIn  = map[string]string{"graceful.dev/inject": "true"}
	optOut = map[string]string{"graceful.dev/inject": "false"}
)

func TestDecide(t *testing.T) {
	windows := pod(optIn, nil)
	windows.Spec.OS = &corev1.PodOS{Name: corev1.Windows}
	windowsSel := pod(optIn, nil)
	windowsSel.Spec.NodeSelector = map[string]string{"kubernetes.io/os": "windows"}
	mirror := pod(map[string]string{"graceful.dev/inject": "true", "kubernetes.io/config.mirror": "abc"}, nil)
	badSel := pol("bad", v1alpha1.ModeEnforce, 1, nil)
	badSel.Spec.PodSelector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "app", Operator: "Sideways"}}}
	nsSel := pol("ns-only", v1alpha1.ModeDefault, 1, nil)
	nsSel.Spec.NamespaceSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"team": "other"}}

	for _, tc := range []struct {
		name     string
		in       Input
		inject   bool
		reason   Reason
		policy   string
		warnings []string
	}{
		// One row for each line of the table.
		{"1 excluded namespace", Input{Pod: pod(optIn, nil), Namespace: ns("enabled"), ExcludedNamespaces: []string{"kube-system", "shop"}}, false, ReasonExcludedNamespace, "", nil},
		{"1 mirror pod", Input{Pod: mirror}, false, ReasonMirrorPod, "", nil},
		{"1 windows pod (spec.os)", Input{Pod: windows}, false, ReasonWindows, "", nil},
		{"1 windows pod (nodeSelector)", Input{Pod: windowsSel}, false, ReasonWindows, "", nil},
		{"2 enforce policy", Input{Pod: pod(nil, nil), Policies: []v1alpha1.ShutdownPolicy{pol("e", v1alpha1.ModeEnforce, 1, nil)}}, true, ReasonPolicyEnforce, "e", nil},
		{"3 annotation true", Input{Pod: pod(optIn, nil)}, true, ReasonAnnotationTrue, "", nil},
		{"3 annotation false", Input{Pod: pod(optOut, nil)}, false, ReasonAnnotationFalse, "", nil},
		{"4 namespace enabled", Input{Pod: pod(nil, nil), Namespace: ns("enabled")}, true, ReasonNamespaceEnabled, "", nil},
		{"4 namespace disabled", Input{Pod: pod(nil, nil), Namespace: ns("disabled")}, false, ReasonNamespaceDisabled, "", nil},
		{"5 default policy", Input{Pod: pod(nil, nil), Policies: []v1alpha1.ShutdownPolicy{pol("d", v1alpha1.ModeDefault, 1, nil)}}, true, ReasonPolicyDefault, "d", nil},
		{"6 nothing", Input{Pod: pod(nil, nil), Namespace: ns("")}, false, ReasonNoMatch, "", nil},

		// Conflicts between lines.
		{"enforce overrules opt-out annotation", Input{Pod: pod(optOut, nil), Policies: []v1alpha1.ShutdownPolicy{pol("e", v1alpha1.ModeEnforce, 1, nil)}}, true, ReasonPolicyEnforce, "e", []string{"overruled by ShutdownPolicy e (Enforce)"}},
		{"excluded namespace beats enforce", Input{Pod: pod(nil, nil), Policies: []v1alpha1.ShutdownPolicy{pol("e", v1alpha1.ModeEnforce, 1, nil)}, ExcludedNamespaces: []string{"shop"}}, false, ReasonExcludedNamespace, "", nil},
		{"mirror pod beats annotation true", Input{Pod: mirror, Namespace: ns("enabled")}, false, ReasonMirrorPod, "", nil},
		{"annotation true beats namespace disabled", Input{Pod: pod(optIn, nil), Namespace: ns("disabled")}, true, ReasonAnnotationTrue, "", nil},
		{"annotation false beats namespace enabled", Input{Pod: pod(optOut, nil), Namespace: ns("enabled")}, false, ReasonAnnotationFalse, "", nil},
		{"annotation false beats default policy", Input{Pod: pod(optOut, nil), Policies: []v1alpha1.ShutdownPolicy{pol("d", v1alpha1.ModeDefault, 1, nil)}}, false, ReasonAnnotationFalse, "d", nil},
		{"namespace disabled beats default policy", Input{Pod: pod(nil, nil), Namespace: ns("disabled"), Policies: []v1alpha1.ShutdownPolicy{pol("d", v1alpha1.ModeDefault, 1, nil)}}, false, ReasonNamespaceDisabled, "d", nil},
		{"annotation true keeps the policy's defaults", Input{Pod: pod(optIn, nil), Policies: []v1alpha1.ShutdownPolicy{pol("d", v1alpha1.ModeDefault, 1, nil)}}, true, ReasonAnnotationTrue, "d", nil},
		{"two policies: enforce wins over an older default", Input{Pod: pod(nil, nil), Policies: []v1alpha1.ShutdownPolicy{pol("old-default", v1alpha1.ModeDefault, 9, nil), pol("new-enforce", v1alpha1.ModeEnforce, 1, nil)}}, true, ReasonPolicyEnforce, "new-enforce", nil},
		{"two policies: then the oldest", Input{Pod: pod(nil, nil), Policies: []v1alpha1.ShutdownPolicy{pol("young", v1alpha1.ModeDefault, 1, nil), pol("old", v1alpha1.ModeDefault, 5, nil)}}, true, ReasonPolicyDefault, "old", nil},
		{"two policies: then by name", Input{Pod: pod(nil, nil), Policies: []v1alpha1.ShutdownPolicy{pol("b", v1alpha1.ModeDefault, 1, nil), pol("a", v1alpha1.ModeDefault, 1, nil)}}, true, ReasonPolicyDefault, "a", nil},
		{"pod selector must match", Input{Pod: pod(nil, map[string]string{"app": "web"}), Policies: []v1alpha1.ShutdownPolicy{pol("db", v1alpha1.ModeEnforce, 1, map[string]string{"app": "db"})}}, false, ReasonNoMatch, "", nil},
		{"namespace selector must match", Input{Pod: pod(nil, nil), Namespace: ns(""), Policies: []v1alpha1.ShutdownPolicy{nsSel}}, false, ReasonNoMatch, "", nil},
		{"invalid selector selects nothing", Input{Pod: pod(nil, nil), Policies: []v1alpha1.ShutdownPolicy{badSel}}, false, ReasonNoMatch, "", nil},
		{"bad annotation value is ignored with a warning", Input{Pod: pod(map[string]string{"graceful.dev/inject": "yes"}, nil), Namespace: ns("enabled")}, true, ReasonNamespaceEnabled, "", []string{`graceful.dev/inject="yes"`}},
		{"bad namespace label is ignored with a warning", Input{Pod: pod(nil, nil), Namespace: ns("on")}, false, ReasonNoMatch, "", []string{`graceful.dev/inject="on"`}},
		{"unknown namespace: name from the pod", Input{Pod: pod(optIn, nil), ExcludedNamespaces: []string{"shop"}}, false, ReasonExcludedNamespace, "", nil},
		{"nil pod", Input{}, false, ReasonNoMatch, "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := Decide(tc.in)
			if r.Inject != tc.inject || r.Reason != tc.reason {
				t.Errorf("got inject=%v reason=%s (%s), want inject=%v reason=%s", r.Inject, r.Reason, r.Message, tc.inject, tc.reason)
			}
			name := ""
			if r.Policy != nil {
				name = r.Policy.Name
			}
			if name != tc.policy {
				t.Errorf("policy %q, want %q", name, tc.policy)
			}
			if r.Message == "" {
				t.Errorf("no message")
			}
			if len(r.Warnings) != len(tc.warnings) {
				t.Fatalf("warnings %q, want %d like %q", r.Warnings, len(tc.warnings), tc.warnings)
			}
			for i, w := range tc.warnings {
				if !strings.Contains(r.Warnings[i], w) {
					t.Errorf("warning %q does not say %q", r.Warnings[i], w)
				}
			}
		})
	}
}

func TestSelectsReportsInvalidSelector(t *testing.T) {
	p := pol("bad", v1alpha1.ModeDefault, 1, nil)
	p.Spec.NamespaceSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"bad key!": "x"}}
	if _, err := Selects(&p, pod(nil, nil), nil); err == nil || !strings.Contains(err.Error(), "namespaceSelector") {
		t.Errorf("invalid namespaceSelector: %v", err)
	}
	p = pol("mode", "Sometimes", 1, nil)
	if _, err := Selects(&p, pod(nil, nil), nil); err == nil || !strings.Contains(err.Error(), "Sometimes") {
		t.Errorf("invalid mode: %v", err)
	}
}

// FuzzDecide: odd annotations, labels and selectors never panic, and a
// decision always has a reason and a message.
func FuzzDecide(f *testing.F) {
	f.Add("true", "enabled", "app", "In", "web", "Enforce", true)
	f.Add("false", "disabled", "", "Exists", "", "Default", false)
	f.Add("", "x", "a/b/c", "Gt", "1", "", true)
	f.Fuzz(func(t *testing.T, ann, nsLabel, key, op, val, mode string, mirror bool) {
		p := pod(map[string]string{"graceful.dev/inject": ann}, map[string]string{key: val})
		if mirror {
			p.Annotations["kubernetes.io/config.mirror"] = "x"
		}
		pl := pol("p", v1alpha1.PolicyMode(mode), 1, nil)
		pl.Spec.PodSelector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: key, Operator: metav1.LabelSelectorOperator(op), Values: []string{val}}}}
		r := Decide(Input{Pod: p, Namespace: ns(nsLabel), Policies: []v1alpha1.ShutdownPolicy{pl}})
		if r.Reason == "" || r.Message == "" {
			t.Fatalf("empty reason or message: %+v", r)
		}
	})
}
