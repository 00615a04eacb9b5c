package envtestenv

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

var api Shared

func TestMain(m *testing.M) {
	code := m.Run()
	if err := api.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		code = 1
	}
	os.Exit(code)
}

// TestDryRunPod: the real kube-apiserver validates a plain pod in a dry-run
// create and rejects an invalid one, and the dry run stores nothing.
func TestDryRunPod(t *testing.T) {
	c := api.Client(t)
	t.Logf("etcd and kube-apiserver started in %v", api.StartupTime())
	ctx := context.Background()
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "dry"}}); err != nil {
		t.Fatal(err)
	}
	// No controller-manager runs to create the default service account.
	if err := c.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: "dry"}}); err != nil {
		t.Fatal(err)
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "plain", Namespace: "dry"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "app", Image: "registry.example/app:1", Command: []string{"/app"},
		}}},
	}
	if err := c.Create(ctx, pod.DeepCopy(), client.DryRunAll); err != nil {
		t.Fatalf("dry-run create of a plain pod: %v", err)
	}
	err := c.Get(ctx, client.ObjectKeyFromObject(pod), &corev1.Pod{})
	if !apierrors.IsNotFound(err) {
		t.Fatalf("after a dry run the pod should not exist; get: %v", err)
	}

	bad := pod.DeepCopy()
	bad.Spec.Containers = append(bad.Spec.Containers, bad.Spec.Containers[0]) // duplicate name
	err = c.Create(ctx, bad, client.DryRunAll)
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "Duplicate value") {
		t.Fatalf("dry-run create of a pod with two containers named app: got %v, want Invalid with Duplicate value", err)
	}
}

func TestAssetsDirMissingBinaries(t *testing.T) {
	empty := t.TempDir()
	t.Setenv("KUBEBUILDER_ASSETS", empty)
	_, err := AssetsDir()
	if err == nil || !strings.Contains(err.Error(), "make envtest-bin") || !strings.Contains(err.Error(), empty) {
		t.Fatalf("AssetsDir with an empty folder: got %v, want an error naming the folder and make envtest-bin", err)
	}

	if err := os.WriteFile(filepath.Join(empty, "etcd"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	_, err = AssetsDir()
	if err == nil || !strings.Contains(err.Error(), "kube-apiserver is missing") {
		t.Fatalf("AssetsDir with only etcd: got %v, want kube-apiserver is missing", err)
	}
}

func TestAssetsDirNotExecutable(t *testing.T) {
	dir := t.TempDir()
	for _, b := range Binaries {
		if err := os.WriteFile(filepath.Join(dir, b), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("KUBEBUILDER_ASSETS", dir)
	if _, err := AssetsDir(); err == nil || !strings.Contains(err.Error(), "not an executable file") {
		t.Fatalf("got %v, want not an executable file", err)
	}
}

// TestAssetsDirDefault: unset or relative KUBEBUILDER_ASSETS resolve in the
// module root, from this package's folder (where go test runs).
func TestAssetsDirDefault(t *testing.T) {
	root, err := ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "test", "envtestenv", "envtestenv.go")); err != nil {
		t.Fatalf("ModuleRoot %s is not this repository: %v", root, err)
	}
	for _, v := range []string{"", "bin/k8s"} {
		t.Setenv("KUBEBUILDER_ASSETS", v)
		if v == "" {
			os.Unsetenv("KUBEBUILDER_ASSETS")
		}
		dir, err := AssetsDir()
		if err != nil {
			t.Fatalf("KUBEBUILDER_ASSETS=%q: %v", v, err)
		}
		if want := filepath.Join(root, "bin", "k8s"); dir != want {
			t.Fatalf("KUBEBUILDER_ASSETS=%q: got %s, want %s", v, dir, want)
		}
	}
}

func TestModuleRootOutsideModule(t *testing.T) {
	t.Chdir(t.TempDir())
	if _, err := ModuleRoot(); err == nil || !strings.Contains(err.Error(), ModulePath) {
		t.Fatalf("outside the module: got %v, want an error naming %s", err, ModulePath)
	}
	if err := os.WriteFile("go.mod", []byte("module example.com/other\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ModuleRoot(); err == nil {
		t.Fatal("a go.mod of another module was taken for the root")
	}
}

func TestServingCert(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "certs")
	certPEM, err := WriteServingCert(dir)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.LoadX509KeyPair(filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key"))
	if err != nil {
		t.Fatalf("written pair does not load: %v", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(certPEM) {
		t.Fatal("returned PEM holds no certificate")
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, host := range []string{"127.0.0.1", "localhost"} {
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: host}); err != nil {
			t.Errorf("certificate does not verify for %s against itself: %v", host, err)
		}
	}
	port, err := FreePort()
	if err != nil || port <= 0 {
		t.Fatalf("FreePort = %d, %v", port, err)
	}
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatalf("port %d is not free: %v", port, err)
	}
	l.Close()
}
