package decision

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
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
	in := func(values ...string) corev1.NodeSelectorTerm {
		return corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "kubernetes.io/os", Operator: corev1.NodeSelectorOpIn, Values: values}}}
	}
	affinity := func(terms ...corev1.NodeSelectorTerm) *corev1.Affinity {
		return &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: terms}}}
	}
	windowsAff := pod(optIn, nil)
	windowsAff.Spec.Affinity = affinity(in("windows"), in("windows"))
	eitherAff := pod(optIn, nil)
	eitherAff.Spec.Affinity = affinity(in("windows"), in("linux"))
	eitherIn := pod(optIn, nil)
	eitherIn.Spec.Affinity = affinity(in("windows", "linux"))
	badMode := pol("sometimes", "Sometimes", 9, nil)
	emptySel := pol("empty", v1alpha1.ModeDefault, 1, nil)
	emptySel.Spec.PodSelector = &metav1.LabelSelector{}
	emptySel.Spec.NamespaceSelector = &metav1.LabelSelector{}
	nsLabelled := pol("team-shop", v1alpha1.ModeDefault, 1, nil)
	nsLabelled.Spec.NamespaceSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"team": "shop"}}
	noNS := pod(optIn, nil)
	noNS.Namespace = ""
	nsSel := pol("ns-only", v1alpha1.ModeDefault, 1, nil)
	nsSel.Spec.NamespaceSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"team": "other"}}

	for _, tc := range []struct {
		name     string
		in       Input
		inject   bool
		reason   Reason
		policy   string
		warnings []string
		message  string // a part of Result.Message
	}{
		// One row for each line of the table.
		{"1 excluded namespace", Input{Pod: pod(optIn, nil), Namespace: ns("enabled"), ExcludedNamespaces: []string{"kube-system", "shop"}}, false, ReasonExcludedNamespace, "", nil, "namespace shop is excluded"},
		{"1 mirror pod", Input{Pod: mirror}, false, ReasonMirrorPod, "", nil, "mirror pods"},
		{"1 windows pod (spec.os)", Input{Pod: windows}, false, ReasonWindows, "", nil, "Windows"},
		{"1 windows pod (nodeSelector)", Input{Pod: windowsSel}, false, ReasonWindows, "", nil, "Windows"},
		{"2 enforce policy", Input{Pod: pod(nil, nil), Policies: []v1alpha1.ShutdownPolicy{pol("e", v1alpha1.ModeEnforce, 1, nil)}}, true, ReasonPolicyEnforce, "e", nil, "ShutdownPolicy e (Enforce)"},
		{"3 annotation true", Input{Pod: pod(optIn, nil)}, true, ReasonAnnotationTrue, "", nil, "annotation graceful.dev/inject=true"},
		{"3 annotation false", Input{Pod: pod(optOut, nil)}, false, ReasonAnnotationFalse, "", nil, "annotation graceful.dev/inject=false"},
		{"4 namespace enabled", Input{Pod: pod(nil, nil), Namespace: ns("enabled")}, true, ReasonNamespaceEnabled, "", nil, "namespace shop is labelled graceful.dev/inject=enabled"},
		{"4 namespace disabled", Input{Pod: pod(nil, nil), Namespace: ns("disabled")}, false, ReasonNamespaceDisabled, "", nil, "namespace shop is labelled graceful.dev/inject=disabled"},
		{"5 default policy", Input{Pod: pod(nil, nil), Policies: []v1alpha1.ShutdownPolicy{pol("d", v1alpha1.ModeDefault, 1, nil)}}, true, ReasonPolicyDefault, "d", nil, "ShutdownPolicy d (Default)"},
		{"6 audit policy", Input{Pod: pod(nil, nil), Policies: []v1alpha1.ShutdownPolicy{pol("a", v1alpha1.ModeAudit, 1, nil)}}, false, ReasonPolicyAudit, "a", nil, "ShutdownPolicy a (Audit): left alone"},
		{"7 nothing", Input{Pod: pod(nil, nil), Namespace: ns("")}, false, ReasonNoMatch, "", nil, "selected by no ShutdownPolicy"},

		// Audit next to the other lines: it decides only what would
		// otherwise be left alone, and never lends its defaults.
		{"enforce beats an older audit", Input{Pod: pod(nil, nil), Policies: []v1alpha1.ShutdownPolicy{pol("a", v1alpha1.ModeAudit, 9, nil), pol("e", v1alpha1.ModeEnforce, 1, nil)}}, true, ReasonPolicyEnforce, "e", nil, "Enforce"},
		{"default beats an older audit", Input{Pod: pod(nil, nil), Policies: []v1alpha1.ShutdownPolicy{pol("a", v1alpha1.ModeAudit, 9, nil), pol("d", v1alpha1.ModeDefault, 1, nil)}}, true, ReasonPolicyDefault, "d", nil, "Default"},
		{"annotation true under audit: injected without the audit's defaults", Input{Pod: pod(optIn, nil), Policies: []v1alpha1.ShutdownPolicy{pol("a", v1alpha1.ModeAudit, 1, nil)}}, true, ReasonAnnotationTrue, "", nil, "inject=true"},
		{"annotation false beats audit", Input{Pod: pod(optOut, nil), Policies: []v1alpha1.ShutdownPolicy{pol("a", v1alpha1.ModeAudit, 1, nil)}}, false, ReasonAnnotationFalse, "", nil, "inject=false"},
		{"namespace enabled beats audit", Input{Pod: pod(nil, nil), Namespace: ns("enabled"), Policies: []v1alpha1.ShutdownPolicy{pol("a", v1alpha1.ModeAudit, 1, nil)}}, true, ReasonNamespaceEnabled, "", nil, "enabled"},
		{"namespace disabled beats audit", Input{Pod: pod(nil, nil), Namespace: ns("disabled"), Policies: []v1alpha1.ShutdownPolicy{pol("a", v1alpha1.ModeAudit, 1, nil)}}, false, ReasonNamespaceDisabled, "", nil, "disabled"},
		{"excluded namespace beats audit", Input{Pod: pod(nil, nil), Policies: []v1alpha1.ShutdownPolicy{pol("a", v1alpha1.ModeAudit, 1, nil)}, ExcludedNamespaces: []string{"shop"}}, false, ReasonExcludedNamespace, "", nil, "excluded"},
		{"two audits: the oldest", Input{Pod: pod(nil, nil), Policies: []v1alpha1.ShutdownPolicy{pol("young", v1alpha1.ModeAudit, 1, nil), pol("old", v1alpha1.ModeAudit, 5, nil)}}, false, ReasonPolicyAudit, "old", nil, "ShutdownPolicy old (Audit)"},
		{"audit pod selector must match", Input{Pod: pod(nil, map[string]string{"app": "web"}), Policies: []v1alpha1.ShutdownPolicy{pol("a", v1alpha1.ModeAudit, 1, map[string]string{"app": "db"})}}, false, ReasonNoMatch, "", nil, "selected by no"},

		// Conflicts between lines.
		{"enforce overrules opt-out annotation", Input{Pod: pod(optOut, nil), Policies: []v1alpha1.ShutdownPolicy{pol("e", v1alpha1.ModeEnforce, 1, nil)}}, true, ReasonPolicyEnforce, "e", []string{"overruled by ShutdownPolicy e (Enforce)"}, "ShutdownPolicy e (Enforce)"},
		{"excluded namespace beats enforce", Input{Pod: pod(nil, nil), Policies: []v1alpha1.ShutdownPolicy{pol("e", v1alpha1.ModeEnforce, 1, nil)}, ExcludedNamespaces: []string{"shop"}}, false, ReasonExcludedNamespace, "", nil, "excluded"},
		{"mirror pod beats annotation true", Input{Pod: mirror, Namespace: ns("enabled")}, false, ReasonMirrorPod, "", nil, "mirror"},
		{"annotation true beats namespace disabled", Input{Pod: pod(optIn, nil), Namespace: ns("disabled")}, true, ReasonAnnotationTrue, "", nil, "inject=true"},
		{"annotation false beats namespace enabled", Input{Pod: pod(optOut, nil), Namespace: ns("enabled")}, false, ReasonAnnotationFalse, "", nil, "inject=false"},
		{"annotation false beats default policy", Input{Pod: pod(optOut, nil), Policies: []v1alpha1.ShutdownPolicy{pol("d", v1alpha1.ModeDefault, 1, nil)}}, false, ReasonAnnotationFalse, "d", nil, "inject=false"},
		{"namespace disabled beats default policy", Input{Pod: pod(nil, nil), Namespace: ns("disabled"), Policies: []v1alpha1.ShutdownPolicy{pol("d", v1alpha1.ModeDefault, 1, nil)}}, false, ReasonNamespaceDisabled, "d", nil, "disabled"},
		{"annotation true keeps the policy's defaults", Input{Pod: pod(optIn, nil), Policies: []v1alpha1.ShutdownPolicy{pol("d", v1alpha1.ModeDefault, 1, nil)}}, true, ReasonAnnotationTrue, "d", nil, "inject=true"},
		{"two policies: enforce wins over an older default", Input{Pod: pod(nil, nil), Policies: []v1alpha1.ShutdownPolicy{pol("old-default", v1alpha1.ModeDefault, 9, nil), pol("new-enforce", v1alpha1.ModeEnforce, 1, nil)}}, true, ReasonPolicyEnforce, "new-enforce", nil, "ShutdownPolicy new-enforce (Enforce)"},
		{"two policies: then the oldest", Input{Pod: pod(nil, nil), Policies: []v1alpha1.ShutdownPolicy{pol("young", v1alpha1.ModeDefault, 1, nil), pol("old", v1alpha1.ModeDefault, 5, nil)}}, true, ReasonPolicyDefault, "old", nil, "ShutdownPolicy old (Default)"},
		{"two policies: then by name", Input{Pod: pod(nil, nil), Policies: []v1alpha1.ShutdownPolicy{pol("b", v1alpha1.ModeDefault, 1, nil), pol("a", v1alpha1.ModeDefault, 1, nil)}}, true, ReasonPolicyDefault, "a", nil, "ShutdownPolicy a (Default)"},
		{"pod selector must match", Input{Pod: pod(nil, map[string]string{"app": "web"}), Policies: []v1alpha1.ShutdownPolicy{pol("db", v1alpha1.ModeEnforce, 1, map[string]string{"app": "db"})}}, false, ReasonNoMatch, "", nil, "selected by no"},
		{"namespace selector must match", Input{Pod: pod(nil, nil), Namespace: ns(""), Policies: []v1alpha1.ShutdownPolicy{nsSel}}, false, ReasonNoMatch, "", nil, "selected by no"},
		{"invalid selector selects nothing", Input{Pod: pod(nil, nil), Policies: []v1alpha1.ShutdownPolicy{badSel}}, false, ReasonNoMatch, "", nil, "selected by no"},
		{"bad annotation value is ignored with a warning", Input{Pod: pod(map[string]string{"graceful.dev/inject": "yes"}, nil), Namespace: ns("enabled")}, true, ReasonNamespaceEnabled, "", []string{`graceful.dev/inject="yes"`}, "enabled"},
		{"bad namespace label is ignored with a warning", Input{Pod: pod(nil, nil), Namespace: ns("on")}, false, ReasonNoMatch, "", []string{`graceful.dev/inject="on"`}, "selected by no"},
		{"unknown namespace: name from the pod", Input{Pod: pod(optIn, nil), ExcludedNamespaces: []string{"shop"}}, false, ReasonExcludedNamespace, "", nil, "namespace shop"},
		{"1 windows pod (node affinity)", Input{Pod: windowsAff}, false, ReasonWindows, "", nil, "Windows"},
		{"affinity allowing linux too is not windows", Input{Pod: eitherAff}, true, ReasonAnnotationTrue, "", nil, "inject=true"},
		{"affinity In windows,linux is not windows", Input{Pod: eitherIn}, true, ReasonAnnotationTrue, "", nil, "inject=true"},
		{"windows beats enforce", Input{Pod: windows, Policies: []v1alpha1.ShutdownPolicy{pol("e", v1alpha1.ModeEnforce, 1, nil)}}, false, ReasonWindows, "", nil, "Windows"},
		{"enforce keeps the warning for a bad annotation value", Input{Pod: pod(map[string]string{"graceful.dev/inject": "no"}, nil), Policies: []v1alpha1.ShutdownPolicy{pol("e", v1alpha1.ModeEnforce, 1, nil)}}, true, ReasonPolicyEnforce, "e", []string{`graceful.dev/inject="no" is not "true" or "false"`}, "Enforce"},
		{"invalid selector does not hide a valid policy", Input{Pod: pod(nil, nil), Policies: []v1alpha1.ShutdownPolicy{badSel, pol("d", v1alpha1.ModeDefault, 1, nil)}}, true, ReasonPolicyDefault, "d", nil, "ShutdownPolicy d"},
		{"invalid mode selects nothing", Input{Pod: pod(nil, nil), Policies: []v1alpha1.ShutdownPolicy{badMode}}, false, ReasonNoMatch, "", nil, "selected by no"},
		{"empty selectors select everything", Input{Pod: pod(nil, map[string]string{"app": "x"}), Namespace: ns(""), Policies: []v1alpha1.ShutdownPolicy{emptySel}}, true, ReasonPolicyDefault, "empty", nil, "ShutdownPolicy empty"},
		{"namespace selector matches the namespace's labels", Input{Pod: pod(nil, nil), Namespace: ns(""), Policies: []v1alpha1.ShutdownPolicy{nsLabelled}}, true, ReasonPolicyDefault, "team-shop", nil, "ShutdownPolicy team-shop"},
		{"unknown namespace has no labels", Input{Pod: pod(nil, nil), Policies: []v1alpha1.ShutdownPolicy{nsLabelled}}, false, ReasonNoMatch, "", nil, "selected by no"},
		{"namespace name from the namespace object", Input{Pod: noNS, Namespace: ns(""), ExcludedNamespaces: []string{"shop"}}, false, ReasonExcludedNamespace, "", nil, "namespace shop"},
		{"nil pod", Input{}, false, ReasonNoMatch, "", nil, "no pod"},
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
			if !strings.Contains(r.Message, tc.message) {
				t.Errorf("message %q does not say %q", r.Message, tc.message)
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
	if _, err := Selects(&p, pod(nil, nil), nil); !errors.Is(err, ErrInvalidSelector) || errors.Is(err, ErrInvalidMode) || !strings.HasPrefix(err.Error(), "namespaceSelector: ") {
		t.Errorf("invalid namespaceSelector: %v", err)
	}
	p = pol("bad", v1alpha1.ModeDefault, 1, nil)
	p.Spec.PodSelector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "app", Operator: metav1.LabelSelectorOpIn}}}
	if _, err := Selects(&p, pod(nil, nil), nil); !errors.Is(err, ErrInvalidSelector) || !strings.HasPrefix(err.Error(), "podSelector: ") {
		t.Errorf("invalid podSelector (In without values): %v", err)
	}
	p = pol("mode", "Sometimes", 1, nil)
	if _, err := Selects(&p, pod(nil, nil), nil); !errors.Is(err, ErrInvalidMode) || errors.Is(err, ErrInvalidSelector) || err.Error() != `mode "Sometimes": want Enforce, Default or Audit` {
		t.Errorf("invalid mode: %v", err)
	}
	p = pol("ok", "", 1, nil)
	if ok, err := Selects(&p, pod(nil, nil), nil); !ok || err != nil {
		t.Errorf("empty mode and selectors: %v %v, want selected", ok, err)
	}
}

// The order of the policies does not matter.
func TestPolicyOrderDoesNotMatter(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	modes := []v1alpha1.PolicyMode{v1alpha1.ModeEnforce, v1alpha1.ModeDefault, ""}
	for i := range 500 {
		var ps []v1alpha1.ShutdownPolicy
		for j := range 1 + rnd.IntN(5) {
			var sel map[string]string
			if rnd.IntN(2) == 0 {
				sel = map[string]string{"app": []string{"web", "db"}[rnd.IntN(2)]}
			}
			ps = append(ps, pol(fmt.Sprintf("p%d", rnd.IntN(3)*10+j), modes[rnd.IntN(3)], rnd.IntN(3), sel))
		}
		ann := map[string]string{"graceful.dev/inject": []string{"true", "false", "maybe", ""}[rnd.IntN(4)]}
		in := Input{Pod: pod(ann, map[string]string{"app": "web"}), Namespace: ns([]string{"", "enabled", "disabled"}[rnd.IntN(3)]), Policies: ps}
		want := Decide(in)
		for range 5 {
			shuffled := slices.Clone(ps)
			rnd.Shuffle(len(shuffled), func(a, b int) { shuffled[a], shuffled[b] = shuffled[b], shuffled[a] })
			in.Policies = shuffled
			got := Decide(in)
			if got.Inject != want.Inject || got.Reason != want.Reason || policyName(got) != policyName(want) || got.Message != want.Message {
				t.Fatalf("case %d: order changed the decision: %+v vs %+v", i, got, want)
			}
		}
	}
}

func policyName(r Result) string {
	if r.Policy == nil {
		return ""
	}
	return r.Policy.Name
}

// FuzzDecide: odd annotations, labels, modes and selectors never panic, a
// decision always has a reason and a message, an inject decision never comes
// from a "never" rule, and the policy in the result is one of the input's.
func FuzzDecide(f *testing.F) {
	f.Add("true", "enabled", "app", "In", "web", "Enforce", "team", "Exists", uint8(0))
	f.Add("false", "disabled", "", "Exists", "", "Default", "", "", uint8(1))
	f.Add("", "x", "a/b/c", "Gt", "1", "", "bad key!", "In", uint8(2))
	f.Add("yes", "", "app", "NotIn", "", "Sometimes", "team", "DoesNotExist", uint8(7))
	f.Add("", "", "app", "Exists", "", "Audit", "", "", uint8(0))
	f.Fuzz(func(t *testing.T, ann, nsLabel, key, op, val, mode, nsKey, nsOp string, flags uint8) {
		p := pod(map[string]string{"graceful.dev/inject": ann}, map[string]string{key: val})
		if flags&1 != 0 {
			p.Annotations["kubernetes.io/config.mirror"] = val
		}
		if flags&2 != 0 {
			p.Spec.NodeSelector = map[string]string{"kubernetes.io/os": val}
		}
		pl := pol("p", v1alpha1.PolicyMode(mode), 1, nil)
		pl.Spec.PodSelector = &metav1.LabelSelector{MatchLabels: map[string]string{key: val}, MatchExpressions: []metav1.LabelSelectorRequirement{{Key: key, Operator: metav1.LabelSelectorOperator(op), Values: []string{val}}}}
		pl.Spec.NamespaceSelector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: nsKey, Operator: metav1.LabelSelectorOperator(nsOp)}}}
		other := pol("q", v1alpha1.ModeDefault, int(flags), map[string]string{nsKey: ann})
		in := Input{Pod: p, Policies: []v1alpha1.ShutdownPolicy{pl, other}, ExcludedNamespaces: []string{nsLabel}}
		if flags&4 != 0 {
			in.Namespace = ns(nsLabel)
		}
		r := Decide(in)
		if r.Reason == "" || r.Message == "" {
			t.Fatalf("empty reason or message: %+v", r)
		}
		switch r.Reason {
		case ReasonExcludedNamespace, ReasonMirrorPod, ReasonWindows:
			if r.Inject || r.Policy != nil {
				t.Fatalf("a never rule injected or named a policy: %+v", r)
			}
		}
		// Audit never injects, and decides only with an Audit policy.
		if r.Reason == ReasonPolicyAudit && (r.Inject || r.Policy == nil || r.Policy.Spec.Mode != v1alpha1.ModeAudit) {
			t.Fatalf("audit decision injects or names no Audit policy: %+v", r)
		}
		if r.Reason != ReasonPolicyAudit && r.Policy != nil && r.Policy.Spec.Mode == v1alpha1.ModeAudit {
			t.Fatalf("an Audit policy lent its defaults to a %s decision", r.Reason)
		}
		if r.Policy != nil && r.Policy != &in.Policies[0] && r.Policy != &in.Policies[1] {
			t.Fatalf("policy %p is not one of the input's", r.Policy)
		}
		for _, pol := range in.Policies {
			_, _ = Selects(&pol, p, in.Namespace)
		}
	})
}

// BenchmarkDecide: a labelled pod against 50 policies with selectors, the
// decision falling through to the Default policies.
func BenchmarkDecide(b *testing.B) {
	var ps []v1alpha1.ShutdownPolicy
	for i := range 50 {
		p := pol(fmt.Sprintf("p%02d", i), v1alpha1.ModeDefault, i, map[string]string{"app": fmt.Sprintf("app%d", i%10)})
		p.Spec.NamespaceSelector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "team", Operator: metav1.LabelSelectorOpIn, Values: []string{"shop", "cart"}}}}
		ps = append(ps, p)
	}
	in := Input{Pod: pod(nil, map[string]string{"app": "app3"}), Namespace: ns(""), Policies: ps, ExcludedNamespaces: []string{"kube-system", "kube-public", "kube-node-lease", "graceful-system"}}
	b.ReportAllocs()
	for b.Loop() {
		if r := Decide(in); !r.Inject {
			b.Fatalf("%+v", r)
		}
	}
}
