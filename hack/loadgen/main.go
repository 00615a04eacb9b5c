// Command loadgen measures graceful-webhook's admission throughput and
// latency against a no-op webhook on the same controller-runtime stack.
//
// It starts, in this process: envtest (etcd + kube-apiserver from bin/k8s)
// for the caches, a loopback registry holding the image the pods use, the
// real server (pkg/webhook/server, cert mode dir, self-signed certificate)
// and a no-op webhook server (same manager and webhook server, a handler
// that allows everything). Then it sends AdmissionReview requests over TLS
// to each in turn: at a fixed rate (-rate, open loop) and at saturation
// (-concurrency workers, closed loop). The pods are injected and need an
// image config lookup, answered from the cache after the first request.
// Client and servers share the machine's CPUs: figures are for comparison.
package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/webhook"
	cradmission "sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/graceful-dev/graceful/pkg/contract"
	"github.com/graceful-dev/graceful/pkg/webhook/options"
	"github.com/graceful-dev/graceful/pkg/webhook/server"
	"github.com/graceful-dev/graceful/test/envtestenv"
)

func main() {
	var (
		assets      = flag.String("assets", envOr("KUBEBUILDER_ASSETS", "bin/k8s"), "folder holding etcd and kube-apiserver (make envtest-bin)")
		rate        = flag.Int("rate", 1000, "requests per second of the fixed-rate run")
		concurrency = flag.Int("concurrency", 32, "workers of the saturation run")
		duration    = flag.Duration("duration", 10*time.Second, "length of each run")
		rounds      = flag.Int("rounds", 2, "runs per server and mode (alternating); the best is reported")
		cpuprofile  = flag.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	)
	flag.Parse()
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "loadgen:", err)
			os.Exit(1)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, "loadgen:", err)
			os.Exit(1)
		}
		defer pprof.StopCPUProfile()
	}
	if err := run(*assets, *rate, *concurrency, *duration, *rounds); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		pprof.StopCPUProfile()
		os.Exit(1)
	}
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func run(assets string, rate, concurrency int, d time.Duration, rounds int) error {
	if _, err := os.Stat(filepath.Join(assets, "kube-apiserver")); err != nil {
		return fmt.Errorf("kube-apiserver missing in %s: run `make envtest-bin`: %w", assets, err)
	}
	env := &envtest.Environment{BinaryAssetsDirectory: assets, CRDDirectoryPaths: []string{"config/crd/bases"}, ErrorIfCRDPathMissing: true}
	restCfg, err := env.Start()
	if err != nil {
		return fmt.Errorf("envtest: %w", err)
	}
	defer func() { _ = env.Stop() }()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	c, err := client.New(restCfg, client.Options{})
	if err != nil {
		return err
	}
	for _, ns := range []string{"graceful-system", "load"} {
		o := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}
		if ns == "load" {
			o.Labels = map[string]string{contract.LabelInject: contract.NamespaceEnabled}
		}
		if err := c.Create(ctx, o); err != nil {
			return err
		}
	}

	regHost, image, err := startRegistry()
	if err != nil {
		return err
	}
	certDir, err := os.MkdirTemp("", "loadgen-certs-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(certDir)
	certPEM, err := envtestenv.WriteServingCert(certDir)
	if err != nil {
		return err
	}
	caPool := x509.NewCertPool()
	caPool.AppendCertsFromPEM(certPEM)

	// The real server.
	gPort, nPort := freePort(), freePort()
	cfg, err := options.Parse([]string{"--image", "graceful:load", "--cert-mode", "dir", "--cert-dir", certDir,
		"--port", fmt.Sprint(gPort), "--metrics-bind-address", "0", "--health-probe-bind-address", "0",
		"--insecure-registries", regHost}, func(string) string { return "graceful-system" }, io.Discard)
	if err != nil {
		return err
	}
	srv, err := server.New(ctx, restCfg, cfg, server.Options{Host: "127.0.0.1"}, logr.Discard())
	if err != nil {
		return err
	}
	go func() { _ = srv.Start(ctx) }()

	// The no-op server: same manager and webhook server, allow everything.
	scheme := k8sruntime.NewScheme()
	_ = clientgoscheme.AddToScheme(scheme)
	noop, err := ctrl.NewManager(restCfg, ctrl.Options{Scheme: scheme, Logger: logr.Discard(),
		Metrics: metricsserver.Options{BindAddress: "0"}, HealthProbeBindAddress: "0",
		WebhookServer: webhook.NewServer(webhook.Options{Host: "127.0.0.1", Port: nPort, CertDir: certDir})})
	if err != nil {
		return err
	}
	noop.GetWebhookServer().Register(server.Path, &webhook.Admission{Handler: cradmission.HandlerFunc(
		func(context.Context, cradmission.Request) cradmission.Response { return cradmission.Allowed("") })})
	go func() { _ = noop.Start(ctx) }()

	body, err := review(image)
	if err != nil {
		return err
	}
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: caPool, ServerName: "localhost", MinVersion: tls.VersionTLS12},
		// A bounded pool of kept-alive connections, as the API server keeps; an
		// unbounded one turns a slow moment into a storm of TLS handshakes.
		MaxIdleConnsPerHost: 64, MaxConnsPerHost: 64,
	}}
	urls := map[string]string{
		"graceful": fmt.Sprintf("https://127.0.0.1:%d%s", gPort, server.Path),
		"no-op":    fmt.Sprintf("https://127.0.0.1:%d%s", nPort, server.Path),
	}
	// Warm up: servers up, caches synced, the image config cached; and check
	// that graceful really injects.
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := send(hc, urls["graceful"], body)
		if err == nil && len(resp.Patch) > 0 {
			if _, err := send(hc, urls["no-op"], body); err == nil {
				break
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("servers never answered with an injection (last: %v, %+v)", err, resp)
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, u := range urls {
		for i := 0; i < 2000; i++ {
			if _, err := send(hc, u, body); err != nil {
				return err
			}
		}
	}

	type key struct{ server, mode string }
	best := map[key]result{}
	for r := 0; r < rounds; r++ {
		for _, s := range []string{"no-op", "graceful"} {
			for _, mode := range []string{"rate", "saturation"} {
				var res result
				if mode == "rate" {
					res = fixedRate(hc, urls[s], body, rate, d)
				} else {
					res = saturate(hc, urls[s], body, concurrency, d)
				}
				fmt.Fprintf(os.Stderr, "round %d %-8s %-10s %s\n", r+1, s, mode, res)
				k := key{s, mode}
				if b, ok := best[k]; !ok || res.better(b, mode) {
					best[k] = res
				}
			}
		}
	}
	fmt.Printf("| run | server | req/s | p50 | p99 | errors |\n|---|---|---|---|---|---|\n")
	for _, mode := range []string{"rate", "saturation"} {
		label := fmt.Sprintf("%d req/s", rate)
		if mode == "saturation" {
			label = fmt.Sprintf("saturation (%d workers)", concurrency)
		}
		for _, s := range []string{"no-op", "graceful"} {
			r := best[key{s, mode}]
			fmt.Printf("| %s | %s | %.0f | %s | %s | %d |\n", label, s, r.throughput, ms(r.p50), ms(r.p99), r.errors)
		}
	}
	sat := best[key{"graceful", "saturation"}].throughput / best[key{"no-op", "saturation"}].throughput
	fmt.Printf("\nthroughput ratio at saturation (graceful / no-op): %.1f%%\n", 100*sat)
	fmt.Printf("p99 at %d req/s: graceful %s, no-op %s\n", rate, ms(best[key{"graceful", "rate"}].p99), ms(best[key{"no-op", "rate"}].p99))
	return nil
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000) }

type result struct {
	throughput float64
	p50, p99   time.Duration
	errors     int64
}

func (r result) String() string {
	return fmt.Sprintf("%.0f req/s p50 %s p99 %s errors %d", r.throughput, ms(r.p50), ms(r.p99), r.errors)
}

func (r result) better(o result, mode string) bool {
	if mode == "rate" {
		return r.p99 < o.p99
	}
	return r.throughput > o.throughput
}

func summarize(lat []time.Duration, errs int64, elapsed time.Duration) result {
	slices.Sort(lat)
	q := func(p float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[min(len(lat)-1, int(p*float64(len(lat))))]
	}
	return result{throughput: float64(len(lat)) / elapsed.Seconds(), p50: q(0.50), p99: q(0.99), errors: errs}
}

// fixedRate sends rate requests a second, open loop: a request's latency
// counts from the moment it was due, so a stalled server cannot hide
// (coordinated omission).
func fixedRate(hc *http.Client, url string, body []byte, rate int, d time.Duration) result {
	var (
		mu   sync.Mutex
		lat  []time.Duration
		errs atomic.Int64
		wg   sync.WaitGroup
	)
	interval := time.Second / time.Duration(rate)
	start := time.Now()
	n := int(d / interval)
	for i := 0; i < n; i++ {
		due := start.Add(time.Duration(i) * interval)
		if w := time.Until(due); w > 0 {
			time.Sleep(w)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := send(hc, url, body); err != nil {
				errs.Add(1)
				return
			}
			l := time.Since(due)
			mu.Lock()
			lat = append(lat, l)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return summarize(lat, errs.Load(), time.Since(start))
}

// saturate runs workers back to back for d.
func saturate(hc *http.Client, url string, body []byte, workers int, d time.Duration) result {
	var (
		mu   sync.Mutex
		lat  []time.Duration
		errs atomic.Int64
		wg   sync.WaitGroup
	)
	start := time.Now()
	end := start.Add(d)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			for time.Now().Before(end) {
				t := time.Now()
				if _, err := send(hc, url, body); err != nil {
					errs.Add(1)
					continue
				}
				mine = append(mine, time.Since(t))
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return summarize(lat, errs.Load(), time.Since(start))
}

func send(hc *http.Client, url string, body []byte) (*admissionv1.AdmissionResponse, error) {
	resp, err := hc.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("HTTP %d: %s", resp.StatusCode, b)
	}
	var out admissionv1.AdmissionReview
	if err := json.Unmarshal(b, &out); err != nil || out.Response == nil || !out.Response.Allowed {
		return nil, fmt.Errorf("bad review (%v): %s", err, b)
	}
	return out.Response, nil
}

// review is an AdmissionReview for a pod in namespace "load" (opted in)
// with one container that sets no command: an injection with a cached
// image config lookup.
func review(image string) ([]byte, error) {
	pod := corev1.Pod{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Namespace: "load", GenerateName: "web-", Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{
			{Name: "app", Image: image, Ports: []corev1.ContainerPort{{ContainerPort: 8080}}},
			{Name: "sidecar", Image: "busybox:1.36", Command: []string{"sh", "-c", "sleep 1d"}},
		}}}
	raw, err := json.Marshal(pod)
	if err != nil {
		return nil, err
	}
	return json.Marshal(admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{UID: types.UID("3f1c6f5e-0000-4000-8000-000000000001"),
			Kind:      metav1.GroupVersionKind{Version: "v1", Kind: "Pod"},
			Resource:  metav1.GroupVersionResource{Version: "v1", Resource: "pods"},
			Namespace: "load", Operation: admissionv1.Create, Object: k8sruntime.RawExtension{Raw: raw}},
	})
}

func startRegistry() (host, image string, err error) {
	s := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	host = strings.TrimPrefix(s.URL, "http://")
	img, err := random.Image(128, 1)
	if err != nil {
		return "", "", err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return "", "", err
	}
	cf.OS, cf.Architecture = "linux", "amd64"
	cf.Config.Entrypoint, cf.Config.Cmd = []string{"/app/server"}, []string{"--listen=:8080"}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return "", "", err
	}
	image = host + "/app:v1"
	ref, err := name.ParseReference(image, name.Insecure)
	if err != nil {
		return "", "", err
	}
	return host, image, remote.Write(ref, img)
}

func freePort() int {
	p, err := envtestenv.FreePort()
	if err != nil {
		panic(err)
	}
	return p
}
