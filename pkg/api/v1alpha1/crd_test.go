package v1alpha1_test

import (
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/graceful-dev/graceful/pkg/api/v1alpha1"
	"github.com/graceful-dev/graceful/test/envtestenv"
)

// TestCRD installs config/crd/bases into a real kube-apiserver (envtest) and
// checks what the markers promise: the mode's default and enum, containers
// as a set, the status subresource, a Go round trip, and the printer columns.
func TestCRD(t *testing.T) {
	root, _ := filepath.Abs(filepath.Join("..", "..", ".."))
	assets, err := envtestenv.AssetsDir()
	if err != nil {
		t.Fatal(err)
	}
	env := &envtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDDirectoryPaths:     []string{filepath.Join(root, "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
	}
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("starting envtest: %v", err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Errorf("stopping envtest: %v", err)
		}
	})
	scheme := runtime.NewScheme()
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	// No mode: Default. The Go zero value is omitted, so the default applies.
	p := &v1alpha1.ShutdownPolicy{ObjectMeta: metav1.ObjectMeta{Name: "plain"}}
	if err := c.Create(ctx, p); err != nil {
		t.Fatalf("create without mode: %v", err)
	}
	if p.Spec.Mode != v1alpha1.ModeDefault {
		t.Errorf("mode defaulted to %q, want Default", p.Spec.Mode)
	}

	// A full spec round-trips.
	full := &v1alpha1.ShutdownPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "full"},
		Spec: v1alpha1.ShutdownPolicySpec{
			Mode:              v1alpha1.ModeEnforce,
			NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"team": "shop"}},
			PodSelector:       &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "app", Operator: metav1.LabelSelectorOpIn, Values: []string{"web"}}}},
			Containers:        []string{"app", "sidecar"},
			DrainDelay:        &metav1.Duration{Duration: 5 * time.Second},
			SignalMap:         "TERM=QUIT",
		},
	}
	want := full.Spec.DeepCopy()
	if err := c.Create(ctx, full); err != nil {
		t.Fatalf("create full: %v", err)
	}
	var got v1alpha1.ShutdownPolicy
	if err := c.Get(ctx, client.ObjectKey{Name: "full"}, &got); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(&got.Spec, want) {
		t.Errorf("round trip:\n got %+v\nwant %+v", got.Spec, *want)
	}

	// The schema rejects a mode outside the enum and repeated containers.
	for name, spec := range map[string]v1alpha1.ShutdownPolicySpec{
		"bad-mode":   {Mode: "Sometimes"},
		"containers": {Containers: []string{"app", "app"}},
	} {
		err := c.Create(ctx, &v1alpha1.ShutdownPolicy{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: spec})
		if !apierrors.IsInvalid(err) {
			t.Errorf("%s: %v, want Invalid", name, err)
		}
	}

	// Status is a subresource: the Ready condition is written there, and
	// the printer columns show it.
	meta.SetStatusCondition(&got.Status.Conditions, metav1.Condition{Type: "Ready", Status: metav1.ConditionFalse, Reason: "InvalidSelector", Message: "podSelector: bad"})
	if err := c.Status().Update(ctx, &got); err != nil {
		t.Fatalf("status update: %v", err)
	}
	columns, row := table(ctx, t, cfg, "full")
	for col, want := range map[string]string{"Name": "full", "Mode": "Enforce", "Ready": "False", "Reason": "InvalidSelector"} {
		if v, ok := row[col]; !ok || v != want {
			t.Errorf("column %s = %v, want %q (columns %v)", col, v, want, columns)
		}
	}
}

// table reads the ShutdownPolicy name as kubectl get -o wide would.
func table(ctx context.Context, t *testing.T, cfg *rest.Config, name string) ([]string, map[string]any) {
	t.Helper()
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(cfg.Host, "/")+"/apis/graceful.dev/v1alpha1/shutdownpolicies/"+name, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io")
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tbl metav1.Table
	if err := json.NewDecoder(resp.Body).Decode(&tbl); err != nil {
		t.Fatalf("decoding table (status %s): %v", resp.Status, err)
	}
	if len(tbl.Rows) != 1 || len(tbl.Rows[0].Cells) != len(tbl.ColumnDefinitions) {
		t.Fatalf("table %+v", tbl)
	}
	var columns []string
	row := map[string]any{}
	for i, d := range tbl.ColumnDefinitions {
		columns = append(columns, d.Name)
		row[d.Name] = tbl.Rows[0].Cells[i]
	}
	return columns, row
}
