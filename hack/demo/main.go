// Command demo is `make demo`: on a cluster (hack/cluster's, or any
// $KUBECONFIG with a registry both sides reach) it installs charts/graceful
// and stops the same multi-process pod (test/seed) twice, side by side:
// as written, and opted in to graceful. It prints who got SIGTERM, who was
// SIGKILLed and how long each pod took to go, and exits 1 if graceful did
// not let every process finish its cleanup.
//
//	demo -registry 10.200.0.2:5000 [-grace 20]   run it
//	demo -down                                    remove the demo and the release
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/graceful-dev/graceful/pkg/contract"
	"github.com/graceful-dev/graceful/test/deploy"
	"github.com/graceful-dev/graceful/test/podrun"
	"github.com/graceful-dev/graceful/test/seed"
)

const namespace = "graceful-demo"

type options struct {
	kubeconfig, registry         string
	initBin, webhookBin, busybox string
	binDir                       string
	helm, chart                  string
	grace                        int64
	down                         bool
}

func main() {
	var o options
	flag.StringVar(&o.kubeconfig, "kubeconfig", os.Getenv("KUBECONFIG"), "the cluster")
	flag.StringVar(&o.registry, "registry", "", "host:port of a plain-HTTP registry that this machine and the cluster's nodes reach (hack/cluster: 10.200.0.2:5000)")
	flag.StringVar(&o.initBin, "init", "bin/graceful-init", "static graceful-init")
	flag.StringVar(&o.webhookBin, "webhook", "bin/graceful-webhook", "static graceful-webhook")
	flag.StringVar(&o.binDir, "bin", "bin", "other platforms' binaries for graceful's image index, where make build-platforms puts them (bin/<os>_<arch>[_<variant>]/), if there")
	flag.StringVar(&o.busybox, "busybox", "/bin/busybox", "static busybox (Debian: busybox-static)")
	flag.StringVar(&o.helm, "helm", "bin/tools/helm", "helm (make tools)")
	flag.StringVar(&o.chart, "chart", "charts/graceful", "the chart")
	flag.Int64Var(&o.grace, "grace", 20, "the pods' terminationGracePeriodSeconds")
	flag.BoolVar(&o.down, "down", false, "remove the demo's namespace and the release instead")
	flag.Parse()
	if err := run(context.Background(), o); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

var t0 = time.Now()

func say(format string, args ...any) {
	fmt.Printf("demo [%5.1fs]: %s\n", time.Since(t0).Seconds(), fmt.Sprintf(format, args...))
}

func run(ctx context.Context, o options) error {
	if o.kubeconfig == "" {
		return errors.New("no cluster: set KUBECONFIG or -kubeconfig (`make demo` brings up the local cluster)")
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", o.kubeconfig)
	if err != nil {
		return fmt.Errorf("kubeconfig %s: %w", o.kubeconfig, err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}
	h := deploy.Helm{Bin: o.helm, Kubeconfig: o.kubeconfig}
	if _, err := os.Stat(o.helm); err != nil {
		return fmt.Errorf("helm: %w (run `make tools`)", err)
	}
	if o.down {
		return down(ctx, cs, h)
	}
	if o.registry == "" {
		return errors.New("-registry is required: a plain-HTTP registry (host:port) that this machine pushes to and the cluster pulls from")
	}
	if o.grace < 5 || o.grace > 90 {
		return fmt.Errorf("-grace %d: want 5 to 90 seconds (under 5 the contrast is lost in the noise; the demo waits 2 minutes at most for a pod to go)", o.grace)
	}

	say("pushing graceful's image and a busybox image to %s", o.registry)
	more := deploy.OtherPlatforms(o.binDir)
	for _, b := range more {
		say("graceful's image index: %s too (%s)", b.Platform.String(), filepath.Dir(b.InitBinary))
	}
	ims, err := deploy.PushImages(ctx, o.registry, "demo", deploy.Sources{Init: o.initBin, Webhook: o.webhookBin, More: more, Busybox: o.busybox})
	if err != nil {
		return err
	}
	values, err := deploy.Values(ims, o.registry)
	if err != nil {
		return err
	}
	say("helm upgrade --install %s %s --namespace %s", deploy.ReleaseName, o.chart, deploy.Namespace)
	if err := deploy.WaitNamespaceGone(ctx, cs, deploy.Namespace, 2*time.Minute); err != nil {
		return err
	}
	if _, err := h.Install(ctx, "upgrade --install", o.chart, deploy.Namespace, values); err != nil {
		return err
	}
	if err := deploy.WaitReplicas(ctx, cs, deploy.Namespace, 2, 3*time.Minute); err != nil {
		return fmt.Errorf("%w (webhook logs: kubectl -n %s logs deploy/%s)", err, deploy.Namespace, deploy.Deployment)
	}
	if _, err := deploy.WaitCABundle(ctx, cs, time.Minute); err != nil {
		return err
	}
	say("webhook: 2 replicas Ready, certificate in place")

	if err := freshNamespace(ctx, cs); err != nil {
		return err
	}
	if err := deploy.WaitInjecting(ctx, cs, namespace, time.Minute); err != nil {
		return err
	}
	without := seed.Pod("without-graceful", namespace, ims.Busybox, o.grace)
	with := seed.Pod("with-graceful", namespace, ims.Busybox, o.grace)
	with.Annotations = map[string]string{contract.AnnotationInject: contract.InjectTrue}
	say("two pods of the same spec in namespace %s: a shell (PID 1) starts a worker and a setsid daemon,", namespace)
	say("  each of the three needs 1 s of cleanup after SIGTERM; grace period %d s", o.grace)
	say("  %s: as written; %s: annotated %s: \"true\", rewritten by the webhook", without.Name, with.Name, contract.AnnotationInject)
	say("starting both, then deleting both at once (the one without graceful waits for the kubelet's SIGKILL, ~%d s)", o.grace)
	outs, err := seed.Run(ctx, podrun.Client{CS: cs, NS: namespace}, without, with)
	if err != nil {
		return err
	}
	say("both pods gone")
	for _, out := range outs {
		printLog(out)
	}
	if m := outs[1].Stop.Message; m != "" {
		fmt.Printf("\n--- %s: the container's termination message, graceful-init's shutdown report\n    (kubectl describe pod shows it as the terminated state's Message)\n", outs[1].Pod)
		for _, l := range strings.Split(strings.TrimRight(m, "\n"), "\n") {
			fmt.Printf("  %s\n", l)
		}
	}
	fmt.Println()
	if err := seed.WriteTable(os.Stdout, []string{"without graceful", "with graceful"}, outs); err != nil {
		return err
	}
	fmt.Println()
	switch w := outs[1]; {
	case !w.Injected || w.PID1 != contract.InitPath:
		return fmt.Errorf("pod %s was not injected (PID 1 %q): is the webhook reachable? (kubectl -n %s logs deploy/%s)", w.Pod, w.PID1, deploy.Namespace, deploy.Deployment)
	case !w.Clean():
		return errors.New("with graceful, not every process got SIGTERM and finished its cleanup: please report this with the output above")
	}
	say("done; `make demo-down` removes the demo and stops the local cluster")
	return nil
}

// freshNamespace (re)creates the demo's namespace: a previous run's pods are gone with it.
func freshNamespace(ctx context.Context, cs kubernetes.Interface) error {
	err := cs.CoreV1().Namespaces().Delete(ctx, namespace, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete namespace %s: %w", namespace, err)
	}
	if err := deploy.WaitNamespaceGone(ctx, cs, namespace, 2*time.Minute); err != nil {
		return err
	}
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create namespace %s: %w", namespace, err)
	}
	return podrun.Client{CS: cs, NS: namespace}.WaitServiceAccount(ctx)
}

// printLog prints a pod's log with each line's time relative to the delete
// (the node's clock against this machine's: exact on the local cluster).
func printLog(o seed.Outcome) {
	fmt.Printf("\n--- log of %s (seconds after the delete)\n", o.Pod)
	lines, err := podrun.ParseLog(o.Log)
	if err != nil {
		fmt.Println(o.Log)
		return
	}
	for _, l := range lines {
		rel := ""
		if d := l.T.Sub(o.Stop.Start); d >= 0 {
			rel = fmt.Sprintf("+%.2f", d.Seconds())
		}
		fmt.Printf("  %6s  %s\n", rel, strings.TrimSpace(l.Text))
	}
}

// down removes the demo's namespace and the release, saying which it found.
func down(ctx context.Context, cs kubernetes.Interface, h deploy.Helm) error {
	err := cs.CoreV1().Namespaces().Delete(ctx, namespace, metav1.DeleteOptions{})
	switch {
	case apierrors.IsNotFound(err):
	case err != nil:
		return fmt.Errorf("delete namespace %s: %w", namespace, err)
	default:
		say("deleting namespace %s", namespace)
	}
	removed, err := deploy.Uninstall(ctx, h, cs)
	if removed {
		say("uninstalled the %s release", deploy.ReleaseName)
	}
	return err
}
