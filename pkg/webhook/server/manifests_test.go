package server_test

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
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
	for _, f := range []string{"manager/namespace.yaml", "rbac/rbac.yaml", "manager/manager.yaml", "webhook/service.yaml", "webhook/manifests.yaml"} {
		b, err := os.ReadFile(filepath.Join(root, "config", f))
		if err != nil {
			t.Fatal(err)
		}
		dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(b), 4096)
		for {
			var u unstructured.Unstructured
			if err := dec.Decode(&u.Object); err == io.EOF {
				break
			} else if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if len(u.Object) == 0 {
				continue
			}
			if err := c.Create(context.Background(), &u); err != nil {
				t.Errorf("%s: %s %s: %v", f, u.GetKind(), u.GetName(), err)
			}
			n++
			if u.GetKind() == "ConfigMap" {
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
	}
	if n < 9 {
		t.Errorf("created %d objects, want at least 9", n)
	}
}
