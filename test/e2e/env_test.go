//go:build e2e

// Package e2e tests graceful on a real cluster: a real kube-apiserver, kubelet
// and container runtime acting on injected pods.
//
// Environment:
//
//	KUBECONFIG        the cluster (required; `make test-e2e` brings up
//	                  hack/cluster and sets it)
//	E2E_REGISTRY      host:port of a plain-HTTP registry that both this test
//	                  and the cluster's container runtime reach (hack/cluster:
//	                  10.200.0.2:5000)
//	GRACEFUL_INIT     static graceful-init (default bin/graceful-init)
//	GRACEFUL_WEBHOOK  static graceful-webhook (default bin/graceful-webhook)
//	BUSYBOX           static busybox for the test images (default /bin/busybox)
//
// Pods are injected offline (pkg/manifest, as `graceful-webhook inject`
// does; see inject), except in TestWebhook, which installs the chart and
// lets the webhook inject.
package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/graceful-dev/graceful/pkg/ociimage"
)

// env is what every test uses, set up once by TestMain.
var env struct {
	cfg      *rest.Config // for clients of their own (the webhook tests)
	cs       kubernetes.Interface
	registry string
	ns       string // this run's namespace
	// Images, by digest.
	graceful   string // graceful-init and graceful-webhook
	busybox    string // busybox, no ENTRYPOINT/CMD: pods give a command
	entrypoint string // busybox with an ENTRYPOINT and CMD of its own
}

// entrypointScript is the ENTRYPOINT of the entrypoint image: it names its
// arguments (the image CMD), shows that a $(...) survived the rewrite
// (which escapes it from Kubernetes' expansion) and names PID 1, then runs
// until SIGTERM.
const entrypointScript = `echo "image-entrypoint: args=$*"; echo "subst: $(echo works)"; tr '\0' '\n' </proc/1/cmdline | { read -r a; echo "pid1: $a"; }; trap 'echo "image-entrypoint: got SIGTERM"; exit 0' TERM; while :; do sleep 1 & wait $!; done`

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if err := setup(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e setup:", err)
		return 1
	}
	code := m.Run()
	if os.Getenv("E2E_KEEP_NAMESPACE") == "" {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = env.cs.CoreV1().Namespaces().Delete(ctx, env.ns, metav1.DeleteOptions{})
	}
	return code
}

func setup() error {
	kc := os.Getenv("KUBECONFIG")
	if kc == "" {
		return fmt.Errorf("KUBECONFIG is not set: run `make test-e2e` (it brings up hack/cluster) or point KUBECONFIG at a cluster")
	}
	env.registry = os.Getenv("E2E_REGISTRY")
	if env.registry == "" {
		return fmt.Errorf("E2E_REGISTRY is not set: a plain-HTTP registry host:port reachable from here and from the cluster's nodes (hack/cluster: 10.200.0.2:5000)")
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", kc)
	if err != nil {
		return fmt.Errorf("kubeconfig %s: %w", kc, err)
	}
	cfg.QPS, cfg.Burst = 50, 100
	env.cfg = cfg
	env.cs, err = kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		return err
	}
	initBin := envOr("GRACEFUL_INIT", filepath.Join(root, "bin/graceful-init"))
	webhookBin := envOr("GRACEFUL_WEBHOOK", filepath.Join(root, "bin/graceful-webhook"))
	busybox := envOr("BUSYBOX", "/bin/busybox")
	for _, f := range []string{initBin, webhookBin, busybox} {
		if _, err := os.Stat(f); err != nil {
			return fmt.Errorf("%w (build with `make build`; busybox from the Debian package busybox-static)", err)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	g, err := ociimage.Build(ociimage.Spec{InitBinary: initBin, WebhookBinary: webhookBin, Version: "e2e"})
	if err != nil {
		return err
	}
	if env.graceful, err = push(ctx, g, "graceful:e2e"); err != nil {
		return err
	}
	applets := []string{"sh", "sleep", "echo", "cat", "tr", "setsid", "true", "ps", "nc", "head"}
	bb, err := ociimage.BuildFiles(ociimage.FileSpec{Entries: ociimage.Busybox(busybox, applets...)})
	if err != nil {
		return err
	}
	if env.busybox, err = push(ctx, bb, "busybox:e2e"); err != nil {
		return err
	}
	ep, err := ociimage.BuildFiles(ociimage.FileSpec{
		Entries:    ociimage.Busybox(busybox, applets...),
		Entrypoint: []string{"/bin/sh", "-c", entrypointScript, "image-entrypoint"},
		Cmd:        []string{"from-image-cmd"},
	})
	if err != nil {
		return err
	}
	if env.entrypoint, err = push(ctx, ep, "entrypoint:e2e"); err != nil {
		return err
	}

	ns, err := env.cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "graceful-e2e-"}}, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("create namespace: %w", err)
	}
	env.ns = ns.Name
	// Pods need the namespace's default service account.
	deadline := time.Now().Add(time.Minute)
	for {
		_, err := env.cs.CoreV1().ServiceAccounts(env.ns).Get(ctx, "default", metav1.GetOptions{})
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("namespace %s: no default service account after 1m: %w", env.ns, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	fmt.Printf("e2e: namespace %s, images %s %s %s\n", env.ns, env.graceful, env.busybox, env.entrypoint)
	return nil
}

// push pushes img to the test registry as repoTag and returns its digest reference.
func push(ctx context.Context, img v1.Image, repoTag string) (string, error) {
	ref, err := name.ParseReference(env.registry+"/"+repoTag, name.Insecure)
	if err != nil {
		return "", fmt.Errorf("image name: %w", err)
	}
	if err := remote.Write(ref, img, remote.WithContext(ctx)); err != nil {
		return "", fmt.Errorf("push %s: %w", ref, err)
	}
	d, err := img.Digest()
	if err != nil {
		return "", fmt.Errorf("digest of %s: %w", ref, err)
	}
	return ref.Context().Digest(d.String()).String(), nil
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
