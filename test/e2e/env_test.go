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
//	HELM              helm (default bin/tools/helm)
//	E2E_REPORT        a file to append the measured figures to (optional)
//	E2E_START_RUNS    pods of each kind in the start-cost case (default 10)
//	E2E_KEEP_NAMESPACE  keep this run's namespace for a look afterwards
//	E2E_PREVIOUS_COMMIT the commit TestReleaseUpgrade builds and upgrades
//	                  from (default 98b6871; it must be in this clone)
//
// TestWebhook installs charts/graceful with helm and lets the webhook inject
// the pods of every case; TestReleaseUpgrade installs a release from the
// registry and upgrades it; TestOfflineInject runs `graceful-webhook inject`.
package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/graceful-dev/graceful/hack/ociimage"
	"github.com/graceful-dev/graceful/pkg/contract"
	"github.com/graceful-dev/graceful/test/deploy"
	"github.com/graceful-dev/graceful/test/podrun"
)

// env is what every test uses, set up once by TestMain.
var env struct {
	cfg      *rest.Config // for clients of their own (the webhook tests)
	cs       kubernetes.Interface
	registry string
	ns       string // this run's namespace
	root     string // the repository
	// Images, by digest.
	images     deploy.Images // graceful's, and busybox without ENTRYPOINT/CMD
	entrypoint string        // busybox with an ENTRYPOINT and CMD of its own
	quit       string        // busybox whose STOPSIGNAL is SIGQUIT, running quitScript
	// runtime is the node's containerRuntimeVersion ("containerd://2.4.2").
	runtime string
	// imageVolumes: the node carries graceful.dev/image-volume=true, which
	// says its runtime mounts image volumes (hack/cluster sets it for
	// containerd 2); the cases of the image volume delivery and of
	// lifecycle.stopSignal run only there, the one for older runtimes only
	// elsewhere.
	imageVolumes bool
}

// entrypointScript is the ENTRYPOINT of the entrypoint image: it names its
// arguments (the image CMD), shows that a $(...) survived the rewrite
// (which escapes it from Kubernetes' expansion) and names PID 1, then runs
// until SIGTERM.
const entrypointScript = `echo "image-entrypoint: args=$*"; echo "subst: $(echo works)"; ` + podrun.PrintPID1 + `; trap 'echo "image-entrypoint: got SIGTERM"; exit 0' TERM; while :; do sleep 1 & wait $!; done`

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
	if env.root, err = filepath.Abs("../.."); err != nil {
		return err
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	src := deploy.Sources{
		Init:    envOr("GRACEFUL_INIT", filepath.Join(env.root, "bin/graceful-init")),
		Webhook: envOr("GRACEFUL_WEBHOOK", filepath.Join(env.root, "bin/graceful-webhook")),
		Busybox: envOr("BUSYBOX", "/bin/busybox"),
	}
	if env.images, err = deploy.PushImages(ctx, env.registry, "e2e", src); err != nil {
		return err
	}
	ep, err := ociimage.BuildFiles(ociimage.FileSpec{
		Entries:    ociimage.Busybox(src.Busybox, deploy.Applets...),
		Entrypoint: []string{"/bin/sh", "-c", entrypointScript, "image-entrypoint"},
		Cmd:        []string{"from-image-cmd"},
	})
	if err != nil {
		return err
	}
	if env.entrypoint, err = deploy.Push(ctx, env.registry, ep, "entrypoint:e2e"); err != nil {
		return err
	}

	qi, err := ociimage.BuildFiles(ociimage.FileSpec{
		Entries:    ociimage.Busybox(src.Busybox, deploy.Applets...),
		Entrypoint: []string{"/bin/sh", "-c", quitScript},
		StopSignal: "SIGQUIT",
	})
	if err != nil {
		return err
	}
	if env.quit, err = deploy.Push(ctx, env.registry, qi, "stopsignal-quit:e2e"); err != nil {
		return err
	}

	nodes, err := env.cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("list nodes: %w", err)
	}
	if len(nodes.Items) != 1 {
		return fmt.Errorf("%d nodes: the e2e wants a single-node cluster (the runtime-specific cases read the node's runtime)", len(nodes.Items))
	}
	node := nodes.Items[0]
	env.runtime = node.Status.NodeInfo.ContainerRuntimeVersion
	env.imageVolumes = node.Labels[contract.LabelImageVolume] == "true"

	ns, err := env.cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "graceful-e2e-"}}, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("create namespace: %w", err)
	}
	env.ns = ns.Name
	if err := pods().WaitServiceAccount(ctx); err != nil {
		return err
	}
	fmt.Printf("e2e: namespace %s, runtime %s (image volumes: %v), images %s %s %s\n", env.ns, env.runtime, env.imageVolumes, env.images.Graceful, env.images.Busybox, env.entrypoint)
	return nil
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// pods runs pods in this run's namespace.
func pods() podrun.Client { return podrun.Client{CS: env.cs, NS: env.ns} }
