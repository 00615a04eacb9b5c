// Package deploy puts graceful on a real cluster for the e2e tests and the
// demo: its image and a busybox test image into a plain-HTTP registry that
// the cluster pulls from, and charts/graceful through the helm binary.
package deploy

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"github.com/graceful-dev/graceful/hack/ociimage"
	"github.com/graceful-dev/graceful/pkg/contract"
)

// The chart's objects when the release is named "graceful" (its full name is
// then "graceful": charts/graceful/templates/_helpers.tpl).
const (
	ReleaseName   = "graceful"
	Deployment    = "graceful"
	WebhookConfig = "graceful-webhook"
	CertSecret    = "graceful-webhook-cert"
	PodSelector   = "app.kubernetes.io/instance=graceful,app.kubernetes.io/component=webhook"
	Namespace     = "graceful-system" // the release's namespace in the e2e and the demo
)

// Applets are the busybox applets in the test image.
var Applets = []string{"sh", "sleep", "echo", "cat", "tr", "setsid", "true", "ps", "nc", "head", "start-stop-daemon"}

// Sources are the files the images are built from.
type Sources struct {
	Init, Webhook string // static graceful-init and graceful-webhook of this machine's platform (HostPlatform)
	// More are other platforms' binaries for graceful's image index (make
	// build-platforms; see OtherPlatforms), for clusters with such nodes.
	More    []ociimage.Binaries
	Busybox string // static busybox
}

// Images are pushed images, by digest.
type Images struct {
	Graceful string // graceful's image index (hack/ociimage.BuildIndex): each node pulls its own platform's image
	Busybox  string // busybox with Applets, no ENTRYPOINT or CMD
}

// HostPlatform is the platform of this machine's binaries (Sources.Init and
// Webhook): linux/amd64 for the local cluster.
func HostPlatform() v1.Platform {
	p := v1.Platform{OS: "linux", Architecture: runtime.GOARCH}
	if p.Architecture == "arm" {
		p.Variant = "v7"
	}
	return p
}

// OtherPlatforms returns the binaries in binDir/<os>_<arch>[_<variant>]/
// (make build-platforms) of each of ociimage.Platforms but HostPlatform
// that has both.
func OtherPlatforms(binDir string) []ociimage.Binaries {
	var bs []ociimage.Binaries
	for _, p := range ociimage.Platforms {
		if p.Equals(HostPlatform()) {
			continue
		}
		dir := filepath.Join(binDir, ociimage.PlatformDir(p))
		b := ociimage.Binaries{Platform: p, InitBinary: filepath.Join(dir, "graceful-init"), WebhookBinary: filepath.Join(dir, "graceful-webhook")}
		_, err1 := os.Stat(b.InitBinary)
		_, err2 := os.Stat(b.WebhookBinary)
		if err1 == nil && err2 == nil {
			bs = append(bs, b)
		}
	}
	return bs
}

// PushImages builds graceful's image index (HostPlatform's binaries, then
// src.More) and the busybox image, tagged tag, and pushes them to registry
// (host:port, plain HTTP).
func PushImages(ctx context.Context, registry, tag string, src Sources) (Images, error) {
	for _, f := range []string{src.Init, src.Webhook, src.Busybox} {
		if _, err := os.Stat(f); err != nil {
			return Images{}, fmt.Errorf("image source: %w (graceful's binaries: `make build`; busybox: the Debian package busybox-static)", err)
		}
	}
	var ims Images
	bins := append([]ociimage.Binaries{{Platform: HostPlatform(), InitBinary: src.Init, WebhookBinary: src.Webhook}}, src.More...)
	g, err := ociimage.BuildIndex(tag, bins)
	if err != nil {
		return ims, err
	}
	if ims.Graceful, err = PushIndex(ctx, registry, g, "graceful:"+tag); err != nil {
		return ims, err
	}
	bb, err := ociimage.BuildFiles(ociimage.FileSpec{Entries: ociimage.Busybox(src.Busybox, Applets...)})
	if err != nil {
		return ims, err
	}
	if ims.Busybox, err = Push(ctx, registry, bb, "busybox:"+tag); err != nil {
		return ims, err
	}
	return ims, nil
}

// Push pushes img to registry (plain HTTP) as repoTag and returns its
// reference by digest.
func Push(ctx context.Context, registry string, img v1.Image, repoTag string) (string, error) {
	return ociimage.Push(ctx, registry+"/"+repoTag, img, true)
}

// PushIndex pushes idx and its images to registry (plain HTTP) as repoTag
// and returns its reference by the index's digest.
func PushIndex(ctx context.Context, registry string, idx v1.ImageIndex, repoTag string) (string, error) {
	return ociimage.PushIndex(ctx, registry+"/"+repoTag, idx, true)
}

// Helm runs a helm binary against one cluster.
type Helm struct {
	Bin        string // the helm binary (hack/tools.sh builds bin/tools/helm)
	Kubeconfig string
}

// Run runs helm with args, for at most 3 minutes, and returns its output.
func (h Helm) Run(ctx context.Context, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, h.Bin, append(args, "--kubeconfig", h.Kubeconfig)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("helm %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// Uninstall removes the release with helm (waiting for its objects to go)
// and, when there was one, the release namespace: the webhook's certificate
// Secret is not helm's and goes with it. It reports whether a release was
// removed.
func Uninstall(ctx context.Context, h Helm, cs kubernetes.Interface) (bool, error) {
	out, err := h.Run(ctx, "uninstall", ReleaseName, "--namespace", Namespace, "--ignore-not-found", "--wait")
	if err != nil {
		return false, err
	}
	if !strings.Contains(out, "uninstalled") {
		return false, nil
	}
	if err := cs.CoreV1().Namespaces().Delete(ctx, Namespace, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return true, fmt.Errorf("delete namespace %s: %w", Namespace, err)
	}
	return true, nil
}

// Values are the chart values that run graceful's image from a test
// registry: by digest, with the registry reachable over plain HTTP for
// entrypoint lookups, and failurePolicy Ignore.
func Values(ims Images, registry string) (map[string]any, error) {
	repo, digest, ok := strings.Cut(ims.Graceful, "@")
	if !ok {
		return nil, fmt.Errorf("graceful image %q is not by digest", ims.Graceful)
	}
	return map[string]any{
		"image":     map[string]any{"repository": repo, "digest": digest},
		"injection": map[string]any{"insecureRegistries": []string{registry}},
		"webhook":   map[string]any{"failurePolicy": "Ignore"},
	}, nil
}

// Install runs `helm <verb> ReleaseName chart` into namespace (created if
// missing) with values and flags; verb is "install", "upgrade" or "upgrade
// --install"; chart a directory or an oci:// reference (flags then name
// the --version, and --plain-http for a plain-HTTP registry).
func (h Helm) Install(ctx context.Context, verb, chart, namespace string, values map[string]any, flags ...string) (string, error) {
	b, err := yaml.Marshal(values)
	if err != nil {
		return "", fmt.Errorf("chart values: %w", err)
	}
	dir, err := os.MkdirTemp("", "graceful-values-")
	if err != nil {
		return "", fmt.Errorf("chart values: %w", err)
	}
	defer os.RemoveAll(dir)
	vf := filepath.Join(dir, "values.yaml")
	if err := os.WriteFile(vf, b, 0o600); err != nil {
		return "", fmt.Errorf("chart values: %w", err)
	}
	args := append(strings.Fields(verb), ReleaseName, chart, "--namespace", namespace, "--create-namespace", "--values", vf)
	args = append(args, flags...)
	return h.Run(ctx, args...)
}

// Scale sets Deployment namespace/name to n replicas through the scale
// subresource, as kubectl scale and autoscalers do.
func Scale(ctx context.Context, cs kubernetes.Interface, namespace, name string, n int32) error {
	_, err := cs.AppsV1().Deployments(namespace).UpdateScale(ctx, name,
		&autoscalingv1.Scale{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace}, Spec: autoscalingv1.ScaleSpec{Replicas: n}},
		metav1.UpdateOptions{})
	if err != nil {
		return fmt.Errorf("scale deployment %s/%s to %d: %w", namespace, name, n, err)
	}
	return nil
}

// WaitReplicas waits, at most d, until the webhook Deployment in namespace
// has n Ready replicas of its current generation.
func WaitReplicas(ctx context.Context, cs kubernetes.Interface, namespace string, n int32, d time.Duration) error {
	var last string
	err := wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, d, true, func(ctx context.Context) (bool, error) {
		dep, err := cs.AppsV1().Deployments(namespace).Get(ctx, Deployment, metav1.GetOptions{})
		if err != nil {
			last = err.Error()
			return false, nil
		}
		last = fmt.Sprintf("generation %d observed %d, replicas %d ready %d updated %d",
			dep.Generation, dep.Status.ObservedGeneration, dep.Status.Replicas, dep.Status.ReadyReplicas, dep.Status.UpdatedReplicas)
		return ready(dep, n), nil
	})
	if err != nil {
		return fmt.Errorf("deployment %s/%s: not %d replicas Ready within %v (last: %s): %w", namespace, Deployment, n, d, last, err)
	}
	return nil
}

func ready(d *appsv1.Deployment, n int32) bool {
	return d.Status.ObservedGeneration >= d.Generation && d.Status.ReadyReplicas == n && d.Status.UpdatedReplicas == n && d.Status.Replicas == n
}

// WaitCABundle waits, at most d, until the webhook configuration has its
// caBundle (patched in by the webhook's certificate rotation) and returns it.
func WaitCABundle(ctx context.Context, cs kubernetes.Interface, d time.Duration) ([]byte, error) {
	var ca []byte
	var last string
	err := wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, d, true, func(ctx context.Context) (bool, error) {
		mwc, err := cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, WebhookConfig, metav1.GetOptions{})
		if err != nil {
			last = err.Error()
			return false, nil
		}
		if len(mwc.Webhooks) != 1 || len(mwc.Webhooks[0].ClientConfig.CABundle) == 0 {
			last = fmt.Sprintf("%d webhooks, caBundle empty", len(mwc.Webhooks))
			return false, nil
		}
		ca = mwc.Webhooks[0].ClientConfig.CABundle
		return true, nil
	})
	if err != nil {
		return nil, fmt.Errorf("MutatingWebhookConfiguration %s: no caBundle within %v (last: %s): %w", WebhookConfig, d, last, err)
	}
	return ca, nil
}

// WaitNamespaceGone waits, at most d, until namespace is gone or not
// terminating (one a crashed run left behind stays: install will name what
// is in it).
func WaitNamespaceGone(ctx context.Context, cs kubernetes.Interface, namespace string, d time.Duration) error {
	var last string
	err := wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, d, true, func(ctx context.Context) (bool, error) {
		ns, err := cs.CoreV1().Namespaces().Get(ctx, namespace, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, nil
		}
		if err != nil {
			last = err.Error()
			return false, nil
		}
		last = "terminating"
		return ns.DeletionTimestamp == nil, nil
	})
	if err != nil {
		return fmt.Errorf("namespace %s: still there after %v (last: %s): %w", namespace, d, last, err)
	}
	return nil
}

// WaitInjecting waits, at most d, until a pod opted in to graceful comes
// back injected from a server-side dry run in namespace: the webhook is
// reachable from the API server and serving (with failurePolicy Ignore a
// webhook not yet reachable admits pods as they are).
func WaitInjecting(ctx context.Context, cs kubernetes.Interface, namespace string, d time.Duration) error {
	// The image is on a loopback port where nothing listens: the webhook's
	// lookup of its STOPSIGNAL fails at once and stays on the webhook's own
	// host (a short name would send it to Docker Hub), and the pod, having a
	// command, is wrapped all the same.
	probe := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "graceful-probe", Annotations: map[string]string{contract.AnnotationInject: contract.InjectTrue}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "probe", Image: "127.0.0.1:9/graceful-probe", Command: []string{"/probe"}}}},
	}
	return WaitInjects(ctx, cs, namespace, probe, d)
}

// WaitInjects waits, at most d, until pod comes back injected from a
// server-side dry run in namespace. Besides the webhook being reachable, it
// covers what only the webhook's caches know: a namespace created or
// labelled a moment ago is not opted in until every replica has seen it.
// It wants three injected answers in a row.
func WaitInjects(ctx context.Context, cs kubernetes.Interface, namespace string, pod *corev1.Pod, d time.Duration) error {
	probe := pod.DeepCopy()
	probe.Namespace = namespace
	var last string
	streak := 0
	err := wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, d, true, func(ctx context.Context) (bool, error) {
		got, err := cs.CoreV1().Pods(namespace).Create(ctx, probe, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		if err != nil {
			streak, last = 0, err.Error()
			return false, nil
		}
		if _, ok := got.Annotations[contract.AnnotationStatus]; !ok {
			streak, last = 0, "admitted without injection"
			return false, nil
		}
		// Requests go to either replica: a few in a row, spread over half a
		// second, make it unlikely that one of them has not caught up.
		streak++
		return streak >= 3, nil
	})
	if err != nil {
		return fmt.Errorf("the webhook does not inject pod %s in namespace %s within %v (last: %s): %w", probe.Name, namespace, d, last, err)
	}
	return nil
}
