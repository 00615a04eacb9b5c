// Command driftrss measures what the fleet controllers cost in memory: it
// starts a real etcd and kube-apiserver (envtest), creates -pods pods (half
// of them wrapped, as the webhook leaves them) of 50 Deployments, and runs the real
// graceful-webhook binary against it twice, with the drift controller off
// (the baseline) and on, each until it is ready and, with the controller,
// until graceful_unprotected_pods counts every unwrapped pod. It reports
// each run's resident set size (VmRSS, and the peak VmHWM) after a settle
// time, and the difference per pod.
//
//	go run ./hack/driftrss -webhook bin/graceful-webhook -pods 5000
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/graceful-dev/graceful/pkg/contract"
	"github.com/graceful-dev/graceful/test/envtestenv"
)

func main() {
	webhook := flag.String("webhook", "bin/graceful-webhook", "the graceful-webhook binary (make build)")
	pods := flag.Int("pods", 5000, "pods to create, half of them wrapped")
	namespaces := flag.Int("namespaces", 10, "namespaces to spread them over")
	settle := flag.Duration("settle", 10*time.Second, "how long a run idles before its RSS is read")
	flag.Parse()
	if err := run(*webhook, *pods, *namespaces, *settle); err != nil {
		fmt.Fprintln(os.Stderr, "driftrss:", err)
		os.Exit(1)
	}
}

func run(webhook string, pods, namespaces int, settle time.Duration) error {
	bin, err := filepath.Abs(webhook)
	if err != nil {
		return err
	}
	if _, err := os.Stat(bin); err != nil {
		return fmt.Errorf("%w (make build)", err)
	}
	out, err := exec.Command(bin, "version").Output()
	if err != nil {
		return fmt.Errorf("%s version: %w", bin, err)
	}
	version := strings.TrimSpace(string(out))
	root, err := envtestenv.ModuleRoot()
	if err != nil {
		return err
	}
	env := &envtest.Environment{CRDDirectoryPaths: []string{filepath.Join(root, "config", "crd", "bases")}, ErrorIfCRDPathMissing: true}
	cfg, err := envtestenv.Start(env)
	if err != nil {
		return err
	}
	defer func() { _ = env.Stop() }()
	dir, err := os.MkdirTemp("", "driftrss")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kubeconfig, env.KubeConfig, 0o600); err != nil {
		return err
	}
	if _, err := envtestenv.WriteServingCert(filepath.Join(dir, "certs")); err != nil {
		return err
	}
	cfg.QPS, cfg.Burst = 1000, 2000
	c, err := client.New(cfg, client.Options{})
	if err != nil {
		return err
	}
	t0 := time.Now()
	if err := populate(context.Background(), c, pods, namespaces, version); err != nil {
		return err
	}
	fmt.Printf("created %d pods (%d wrapped) in %d namespaces in %v\n", pods, pods/2, namespaces, time.Since(t0).Round(time.Millisecond))

	base, err := measure(bin, dir, kubeconfig, false, 0, settle)
	if err != nil {
		return fmt.Errorf("baseline: %w", err)
	}
	withDrift, err := measure(bin, dir, kubeconfig, true, pods-pods/2, settle)
	if err != nil {
		return fmt.Errorf("drift controller: %w", err)
	}
	fmt.Printf("%-24s %10s %10s %10s %12s\n", "graceful-webhook", "VmRSS", "VmHWM", "Go heap", "ready after")
	for _, r := range []result{base, withDrift} {
		fmt.Printf("%-24s %6.1f MiB %6.1f MiB %6.1f MiB %12v\n", r.name, mib(r.rss), mib(r.hwm), mib(r.heap), r.ready.Round(time.Millisecond))
	}
	d, dh := withDrift.rss-base.rss, withDrift.heap-base.heap
	fmt.Printf("drift controller: %+.1f MiB RSS (%.0f bytes a pod, ratio %.2f), %+.1f MiB Go heap in use (%.0f bytes a pod), peak RSS %+.1f MiB\n",
		mib(d), float64(d)/float64(pods), float64(withDrift.rss)/float64(base.rss), mib(dh), float64(dh)/float64(pods), mib(withDrift.hwm-base.hwm))
	return nil
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// populate creates pods in namespaces labelled for injection: every other
// pod as the webhook leaves it (status annotation, label, wrapped command),
// the others as they were sent.
func populate(ctx context.Context, c client.Client, pods, namespaces int, version string) error {
	for i := range namespaces {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("rss-%d", i), Labels: map[string]string{contract.LabelInject: contract.NamespaceEnabled}}}
		if err := c.Create(ctx, ns); err != nil {
			return err
		}
	}
	// 50 Deployments, each with a ReplicaSet, own the pods (app-K owns
	// every pod i with i%50 == K), as the deployment controller would
	// leave them: the drift controller walks to the Deployment, and sends
	// one Event for each.
	rsRefs := make([]metav1.OwnerReference, apps)
	for k := range apps {
		ns := fmt.Sprintf("rss-%d", k%namespaces)
		sel := &metav1.LabelSelector{MatchLabels: map[string]string{"app": fmt.Sprintf("app-%d", k)}}
		tmpl := corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: sel.MatchLabels},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.example/shop/app:v1.2.3"}}}}
		d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("app-%d", k)}, Spec: appsv1.DeploymentSpec{Selector: sel, Template: tmpl}}
		if err := c.Create(ctx, d); err != nil {
			return err
		}
		rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: d.Name + "-5d9f7c6b4",
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(d, appsv1.SchemeGroupVersion.WithKind("Deployment"))}},
			Spec: appsv1.ReplicaSetSpec{Selector: sel, Template: tmpl}}
		if err := c.Create(ctx, rs); err != nil {
			return err
		}
		rsRefs[k] = *metav1.NewControllerRef(rs, appsv1.SchemeGroupVersion.WithKind("ReplicaSet"))
	}
	work := make(chan int)
	errs := make(chan error, 1)
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			for i := range work {
				p := podFor(i, namespaces, version)
				p.OwnerReferences = []metav1.OwnerReference{rsRefs[i%apps]}
				if err := c.Create(ctx, p); err != nil {
					select {
					case errs <- fmt.Errorf("pod %d: %w", i, err):
					default:
					}
				}
			}
		})
	}
	for i := range pods {
		work <- i
	}
	close(work)
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
		return nil
	}
}

// podFor is pod i (wrapped by version when even): an app container with some environment, a sidecar, the
// labels and annotations a Deployment's pod carries.
func podFor(i, namespaces int, version string) *corev1.Pod {
	env := make([]corev1.EnvVar, 0, 12)
	for j := range 12 {
		env = append(env, corev1.EnvVar{Name: fmt.Sprintf("SETTING_%d", j), Value: strings.Repeat("v", 24)})
	}
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: fmt.Sprintf("rss-%d", i%namespaces), Name: fmt.Sprintf("app-%05d", i),
			Labels:      map[string]string{"app": fmt.Sprintf("app-%d", i%apps), "pod-template-hash": "5d9f7c6b4"},
			Annotations: map[string]string{"prometheus.io/scrape": "true", "prometheus.io/port": "9090"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{
			{Name: "app", Image: "registry.example/shop/app:v1.2.3", Command: []string{"/app/server", "--listen=:8080"}, Env: env,
				Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}, {Name: "metrics", ContainerPort: 9090}}},
			{Name: "proxy", Image: "registry.example/envoy:v1.30", Args: []string{"--config-path", "/etc/envoy/envoy.yaml"}},
		}},
	}
	if i%2 == 0 {
		p.Annotations[contract.AnnotationStatus] = fmt.Sprintf(`{"version":%q,"containers":["app","proxy"]}`, version)
		p.Labels[contract.LabelWrapped] = contract.WrappedLabelValue(version)
		for k := range p.Spec.Containers {
			c := &p.Spec.Containers[k]
			c.Command = append([]string{contract.InitPath, "--grace-period=30s", "--termination-log=/dev/termination-log", "--"}, c.Command...)
		}
	}
	return p
}

// apps is how many Deployments own the pods.
const apps = 50

type result struct {
	name     string
	rss, hwm int64
	// heap is the Go heap in use (go_memstats_heap_inuse_bytes): RSS less
	// what the runtime has freed but not returned, and less the binary.
	heap  int64
	ready time.Duration
}

// measure runs the webhook (drift controller on or off) until it is ready,
// with the controller until the gauge counts want pods, idles settle, and
// reads its memory.
func measure(bin, dir, kubeconfig string, drift bool, want int, settle time.Duration) (result, error) {
	name := "drift controller off"
	if drift {
		name = "drift controller on"
	}
	port, err := envtestenv.FreePort()
	if err != nil {
		return result{}, err
	}
	health, err := envtestenv.FreePort()
	if err != nil {
		return result{}, err
	}
	metricsPort, err := envtestenv.FreePort()
	if err != nil {
		return result{}, err
	}
	cmd := exec.Command(bin, "serve", "--image", "graceful:rss", "--cert-mode", "dir", "--cert-dir", filepath.Join(dir, "certs"),
		"--port", strconv.Itoa(port), "--health-probe-bind-address", fmt.Sprintf("127.0.0.1:%d", health),
		"--metrics-bind-address", fmt.Sprintf("127.0.0.1:%d", metricsPort), "--metrics-secure=false",
		"--drift-controller="+strconv.FormatBool(drift))
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig, "POD_NAMESPACE=graceful-system")
	logs, err := os.Create(filepath.Join(dir, strings.ReplaceAll(name, " ", "-")+".log"))
	if err != nil {
		return result{}, err
	}
	defer logs.Close()
	cmd.Stdout, cmd.Stderr = logs, logs
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		return result{}, err
	}
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	}()
	deadline := time.Now().Add(5 * time.Minute)
	for {
		ok, err := ready(health, metricsPort, drift, want)
		if err != nil {
			return result{}, err
		}
		if ok {
			break
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(logs.Name())
			return result{}, fmt.Errorf("%s: not ready after 5 minutes; log:\n%s", name, tail(string(b), 3000))
		}
		time.Sleep(200 * time.Millisecond)
	}
	r := result{name: name, ready: time.Since(t0)}
	time.Sleep(settle)
	if r.rss, r.hwm, err = memory(cmd.Process.Pid); err != nil {
		return r, err
	}
	heap, err := scrape(metricsPort, "go_memstats_heap_inuse_bytes")
	r.heap = int64(heap)
	return r, err
}

// scrape reads the sum of a metric's series from the webhook's /metrics.
func scrape(metricsPort int, name string) (float64, error) {
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", metricsPort))
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	var sum float64
	for line := range strings.Lines(string(b)) {
		if !strings.HasPrefix(line, name+" ") && !strings.HasPrefix(line, name+"{") {
			continue
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			return 0, fmt.Errorf("metrics line %q: %w", line, err)
		}
		sum += v
	}
	return sum, nil
}

// ready: /readyz answers 200, and with the controller the gauge's series
// add up to want.
func ready(health, metricsPort int, drift bool, want int) (bool, error) {
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/readyz", health))
	if err != nil {
		return false, nil
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return false, nil
	}
	if !drift {
		return true, nil
	}
	sum, err := scrape(metricsPort, "graceful_unprotected_pods")
	if err != nil {
		return false, nil
	}
	return int(sum) == want, nil
}

// memory reads VmRSS and VmHWM of pid, in bytes.
func memory(pid int) (rss, hwm int64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	for line := range strings.Lines(string(b)) {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		kb, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			continue
		}
		switch f[0] {
		case "VmRSS:":
			rss = kb << 10
		case "VmHWM:":
			hwm = kb << 10
		}
	}
	if rss == 0 {
		return 0, 0, errors.New("no VmRSS in /proc/PID/status")
	}
	return rss, hwm, nil
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}
