package server_test

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/graceful-dev/graceful/pkg/webhook/options"
	"github.com/graceful-dev/graceful/test/envtestenv"
)

// TestManifests creates every object of config/manager, config/rbac and config/webhook
// in a real API server, and parses the shipped config file with the
// server's own strict parser.
func TestManifests(t *testing.T) {
	root, err := envtestenv.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	assets, err := envtestenv.AssetsDir()
	if err != nil {
		t.Fatal(err)
	}
	env := &envtest.Environment{BinaryAssetsDirectory: assets}
	cfg, err := env.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	c, err := client.New(cfg, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, f := range []string{"manager/namespace.yaml", "rbac/role.yaml", "rbac/rbac.yaml", "rbac/metrics_reader_role.yaml",
		"manager/manager.yaml", "webhook/service.yaml", "webhook/manifests.yaml"} {
		for _, u := range createAll(context.Background(), t, c, root, filepath.Join("config", f)) {
			n++
			if u.GetKind() != "ConfigMap" {
				continue
			}
			data, _, _ := unstructured.NestedStringMap(u.Object, "data")
			p := filepath.Join(t.TempDir(), "config.yaml")
			if err := os.WriteFile(p, []byte(data["config.yaml"]), 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := options.Parse([]string{"--config", p}, func(string) string { return "graceful-system" }, io.Discard); err != nil {
				t.Errorf("shipped config.yaml: %v", err)
			}
		}
	}
	if n < 11 {
		t.Errorf("created %d objects, want at least 11", n)
	}
}
