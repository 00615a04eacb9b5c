package chart_test

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
)

// grant is one verb on one resource (or resource name) of one API group,
// cluster-wide or in the webhook's own namespace: rules, expanded.
type grant struct {
	namespaced            bool
	group, resource, name string
	verb                  string
}

func (g grant) String() string {
	where := "cluster"
	if g.namespaced {
		where = "own namespace"
	}
	res := g.resource
	if g.name != "" {
		res += "/" + g.name
	}
	if g.group != "" {
		res += "." + g.group
	}
	return fmt.Sprintf("%s: %s %s", where, g.verb, res)
}

type grants map[grant]bool

func (gs grants) add(namespaced bool, groups, resources, names, verbs []string) {
	if len(names) == 0 {
		names = []string{""}
	}
	for _, g := range groups {
		for _, r := range resources {
			for _, n := range names {
				for _, v := range verbs {
					gs[grant{namespaced, g, r, n, v}] = true
				}
			}
		}
	}
}

func (gs grants) addRules(namespaced bool, rules []rbacv1.PolicyRule) {
	for _, r := range rules {
		gs.add(namespaced, r.APIGroups, r.Resources, r.ResourceNames, r.Verbs)
	}
}

// missingFrom lists what gs has and other lacks, sorted.
func (gs grants) missingFrom(other grants) []string {
	var out []string
	for g := range gs {
		if !other[g] {
			out = append(out, g.String())
		}
	}
	sort.Strings(out)
	return out
}

// markerGrants reads the +kubebuilder:rbac markers of rbac.go, the one
// source of the webhook's RBAC, as controller-gen reads them.
func markerGrants(t *testing.T) grants {
	t.Helper()
	f, err := os.Open(filepath.Join(root, "pkg/webhook/server/rbac.go"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gs := grants{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		spec, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "// +kubebuilder:rbac:")
		if !ok {
			continue
		}
		fields := map[string][]string{}
		for kv := range strings.SplitSeq(spec, ",") {
			k, v, _ := strings.Cut(kv, "=")
			for item := range strings.SplitSeq(v, ";") {
				fields[k] = append(fields[k], strings.Trim(item, `"`))
			}
		}
		gs.add(len(fields["namespace"]) > 0, fields["groups"], fields["resources"], fields["resourceNames"], fields["verbs"])
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(gs) < 10 {
		t.Fatalf("%d grants in the markers: not parsed", len(gs))
	}
	return gs
}

// roleGrants collects the rules of the ClusterRole and the Role named
// name among objs (other roles, such as metrics-reader, are not the
// webhook's).
func roleGrants(t *testing.T, objs []*unstructured.Unstructured, name string) grants {
	t.Helper()
	gs := grants{}
	found := 0
	for _, o := range objs {
		if (o.GetKind() != "ClusterRole" && o.GetKind() != "Role") || o.GetName() != name {
			continue
		}
		var role rbacv1.ClusterRole // a Role's rules decode the same
		if err := k8sruntime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &role); err != nil {
			t.Fatalf("%s %s: %v", o.GetKind(), name, err)
		}
		gs.addRules(o.GetKind() == "Role", role.Rules)
		found++
	}
	if found == 0 {
		t.Fatalf("no ClusterRole or Role %s", name)
	}
	return gs
}

func readObjects(t *testing.T, path string) []*unstructured.Unstructured {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, path))
	if err != nil {
		t.Fatal(err)
	}
	return objects(t, string(b))
}

func renderChart(t *testing.T, args ...string) []*unstructured.Unstructured {
	t.Helper()
	out, err := run(t, append([]string{"template", "graceful", filepath.Join(root, "charts/graceful"), "-n", "graceful-system"}, args...)...)
	if err != nil {
		t.Fatal(err)
	}
	return objects(t, out)
}

// TestRBACOneSource: the markers in pkg/webhook/server/rbac.go are the
// webhook's RBAC. config/rbac/role.yaml (generated from them) and the
// chart's default rendering (rotate mode, secure metrics, leader
// election: everything on) grant exactly that; every other rendering grants
// a subset. The scraper's metrics-reader role is the same in both.
func TestRBACOneSource(t *testing.T) {
	markers := markerGrants(t)
	check := func(what string, got grants, exact bool) {
		t.Helper()
		if extra := got.missingFrom(markers); len(extra) > 0 {
			t.Errorf("%s grants what the markers do not:\n  %s", what, strings.Join(extra, "\n  "))
		}
		if missing := markers.missingFrom(got); exact && len(missing) > 0 {
			t.Errorf("%s lacks what the markers grant:\n  %s", what, strings.Join(missing, "\n  "))
		}
	}
	check("config/rbac/role.yaml", roleGrants(t, readObjects(t, "config/rbac/role.yaml"), "graceful-webhook"), true)
	def := renderChart(t)
	check("the chart's default rendering", roleGrants(t, def, "graceful"), true)

	files, _ := filepath.Glob(filepath.Join(root, "charts/graceful/ci/*-values.yaml"))
	renderings := [][]string{{"--set", "metricsSecure=false,leaderElection=false,certificates.mode=cert-manager"}}
	for _, f := range files {
		renderings = append(renderings, []string{"-f", f})
	}
	for _, args := range renderings {
		check(fmt.Sprintf("the chart with %v", args), roleGrants(t, renderChart(t, args...), "graceful"), false)
	}

	reader := func(objs []*unstructured.Unstructured, name string) grants {
		gs := grants{}
		for _, o := range objs {
			if o.GetKind() == "ClusterRole" && o.GetName() == name {
				var role rbacv1.ClusterRole
				if err := k8sruntime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &role); err != nil {
					t.Fatal(err)
				}
				for _, r := range role.Rules {
					gs.add(false, []string{"(non-resource)"}, r.NonResourceURLs, nil, r.Verbs)
				}
			}
		}
		return gs
	}
	want := grants{{false, "(non-resource)", "/metrics", "", "get"}: true}
	for what, got := range map[string]grants{
		"config/rbac/metrics_reader_role.yaml": reader(readObjects(t, "config/rbac/metrics_reader_role.yaml"), "graceful-metrics-reader"),
		"the chart's metrics-reader":           reader(def, "graceful-metrics-reader"),
	} {
		if len(got) != 1 || !got[grant{false, "(non-resource)", "/metrics", "", "get"}] {
			t.Errorf("%s: %v, want %v", what, got, want)
		}
	}
}
