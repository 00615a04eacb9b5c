//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/graceful-dev/graceful/hack/release/publish"
	"github.com/graceful-dev/graceful/pkg/contract"
	"github.com/graceful-dev/graceful/pkg/inject/rewrite"
	"github.com/graceful-dev/graceful/test/deploy"
	"github.com/graceful-dev/graceful/test/podrun"
)

// The upgrade goes from a real earlier build of graceful to this tree:
// E2E_PREVIOUS_COMMIT (default below, a commit of main) is built from `git
// archive` with its own Makefile and released as prevVersion with this
// tree's release tool; this tree is released as curVersion with `make
// release`. The default is the first commit whose chart gives a stopping
// replica its preStop delay: the replicas of earlier ones close their
// port at once, and a create that meets it during the rollout is refused
// (README, Upgrade), which is theirs to fix, not the upgrade's.
const (
	defaultPreviousCommit = "98b6871"
	prevVersion           = "v0.1.0"
	curVersion            = "v0.2.0"
	// createEvery paces the pod creates of the upgrade case: 4 a second.
	createEvery = 250 * time.Millisecond
)

// TestReleaseUpgrade installs graceful the way users do, from the OCI
// registry, and upgrades it while pods are being created: install the
// previous release with failurePolicy Fail, an injected pod runs its init
// image by the pushed digest; helm upgrade to this tree's release while
// opted-in pods are created 4 a second, none lost; pods the previous
// release injected keep running and stop cleanly; new pods carry the new
// version. It leaves no release behind.
func TestReleaseUpgrade(t *testing.T) {
	h := deploy.Helm{Bin: envOr("HELM", filepath.Join(env.root, "bin/tools/helm")), Kubeconfig: os.Getenv("KUBECONFIG")}
	t.Cleanup(func() {
		if t.Failed() {
			dumpWebhook(t)
		}
		if _, err := deploy.Uninstall(context.Background(), h, env.cs); err != nil {
			t.Logf("cleanup: %v", err)
		}
	})
	cur := releaseTree(t)
	prev := releasePrevious(t, envOr("E2E_PREVIOUS_COMMIT", defaultPreviousCommit))

	values := map[string]any{
		"injection": map[string]any{"insecureRegistries": []string{env.registry}},
		"webhook":   map[string]any{"failurePolicy": "Fail"},
	}
	var old []*corev1.Pod // injected by the previous release
	ok := t.Run("install-from-oci", func(t *testing.T) { old = installFromOCI(t, h, prev, values) }) &&
		t.Run("upgrade-while-creating", func(t *testing.T) { upgradeWhileCreating(t, h, prev, cur, values) }) &&
		t.Run("old-pods-stop", func(t *testing.T) { oldPodsStop(t, old) })
	if !ok {
		t.Log("a release case failed; the cases after it were not run")
	}
}

// releaseTree runs make release for this tree into the cluster's registry.
func releaseTree(t *testing.T) publish.Result {
	t0 := time.Now()
	runIn(t, env.root, "make", "--no-print-directory", "release", "VERSION="+curVersion, "REGISTRY="+env.registry, "PLAIN_HTTP=true", "PLATFORMS=linux/amd64")
	r := readRelease(t, filepath.Join(env.root, "bin/release", curVersion))
	t.Logf("make release %s: %.1fs, index %s, chart %s", curVersion, time.Since(t0).Seconds(), r.Image.Ref, r.Chart.Ref)
	report(t, "release %s (make release, linux/amd64): %.1fs", curVersion, time.Since(t0).Seconds())
	return r
}

// releasePrevious builds commit from git archive with its own Makefile and
// releases it with this tree's release tool (which make release built), without
// SBOMs: this test reads none of its files but release.json.
func releasePrevious(t *testing.T, commit string) publish.Result {
	t0 := time.Now()
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	if err := os.Mkdir(src, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("git", "-C", env.root, "cat-file", "-e", commit+"^{commit}").CombinedOutput(); err != nil {
		t.Fatalf("the previous release's commit %s is not in this clone (a shallow clone? git fetch --unshallow; or set E2E_PREVIOUS_COMMIT): %v %s", commit, err, out)
	}
	runIn(t, dir, "sh", "-c", fmt.Sprintf("git -C %q archive %s | tar -x -C src", env.root, commit))
	runIn(t, src, "make", "--no-print-directory", "build-platforms", "PLATFORMS=linux/amd64", "VERSION="+prevVersion)
	out := filepath.Join(dir, "release")
	runIn(t, env.root, filepath.Join(env.root, "bin/release-tool"), "-version", prevVersion, "-registry", env.registry, "-plain-http",
		"-src", src, "-bin", filepath.Join(src, "bin"), "-platforms", "linux/amd64", "-out", out,
		"-helm", filepath.Join(env.root, "bin/tools/helm"), "-no-sbom", "-init-tags", "graceful_linkname")
	r := readRelease(t, out)
	for _, f := range r.Files {
		if strings.HasSuffix(f, ".cdx.json") {
			t.Errorf("release -no-sbom wrote %s", f)
		}
	}
	t.Logf("release %s of commit %s: %.1fs, index %s, chart %s", prevVersion, commit, time.Since(t0).Seconds(), r.Image.Ref, r.Chart.Ref)
	return r
}

func runIn(t *testing.T, dir, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s (in %s): %v\n%s", name, strings.Join(args, " "), dir, err, out)
	}
}

func readRelease(t *testing.T, dir string) publish.Result {
	t.Helper()
	var r publish.Result
	b, err := os.ReadFile(filepath.Join(dir, "release.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("%s/release.json: %v", dir, err)
	}
	return r
}

// helmOCI is the chart reference and flags of release r.
func helmOCI(r publish.Result) (string, []string) {
	chart, _, _ := strings.Cut(r.Chart.Ref, "@")
	return chart, []string{"--version", r.Version, "--plain-http"}
}

// installFromOCI: helm install from the registry; both replicas Ready, the
// caBundle patched, pods injected; an injected pod runs with the release's
// index digest for its install image and the release's version in its
// status. It returns two running pods the release injected.
func installFromOCI(t *testing.T, h deploy.Helm, r publish.Result, values map[string]any) []*corev1.Pod {
	ctx := t.Context()
	if err := deploy.WaitNamespaceGone(ctx, env.cs, deploy.Namespace, 2*time.Minute); err != nil {
		t.Fatal(err)
	}
	chart, flags := helmOCI(r)
	t0 := time.Now()
	out, err := h.Install(ctx, "install", chart, deploy.Namespace, values, flags...)
	if err != nil {
		t.Fatalf("%v\n(the e2e installs and removes its own release %s/%s: make demo-down first)", err, deploy.Namespace, deploy.ReleaseName)
	}
	t.Logf("helm install %s --version %s (%.1fs):\n%s", chart, r.Version, time.Since(t0).Seconds(), out)
	waitReplicas(t, 2)
	if _, err := deploy.WaitCABundle(ctx, env.cs, time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := deploy.WaitInjecting(ctx, env.cs, env.ns, time.Minute); err != nil {
		t.Fatal(err)
	}
	report(t, "install %s from %s: %.1fs to injecting", r.Version, chart, time.Since(t0).Seconds())
	var pods []*corev1.Pod
	for i := range 2 {
		p, _ := startPod(t, optIn(shellPod(fmt.Sprintf("release-old-%d", i), 10, pid1Sleeper)))
		requireInjected(t, p)
		if v := statusVersion(p); v != r.Version {
			t.Errorf("pod %s: status version %q, want %s", p.Name, v, r.Version)
		}
		i := slices.IndexFunc(p.Spec.InitContainers, func(c corev1.Container) bool { return c.Name == contract.InstallContainerName })
		if got := p.Spec.InitContainers[i].Image; got != r.Image.Ref {
			t.Errorf("pod %s: install image %s, want the pushed index %s", p.Name, got, r.Image.Ref)
		}
		pods = append(pods, p)
	}
	return pods
}

// statusVersion is the version in the pod's graceful.dev/status, or "".
func statusVersion(p *corev1.Pod) string {
	var s rewrite.Status
	if err := json.Unmarshal([]byte(p.Annotations[contract.AnnotationStatus]), &s); err != nil {
		return ""
	}
	return s.Version
}

// attempt is one pod create of the upgrade case.
type attempt struct {
	at      time.Time
	err     error
	version string // of the webhook that injected it; "" not injected
}

// upgradeWhileCreating: pods are created in an opted-in namespace, 4 a
// second, before, during and after helm upgrade to cur; every create must
// succeed injected.
func upgradeWhileCreating(t *testing.T, h deploy.Helm, prev, cur publish.Result, values map[string]any) {
	ctx := t.Context()
	ns, err := env.cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		GenerateName: "graceful-e2e-upgrade-", Labels: map[string]string{contract.LabelInject: contract.NamespaceEnabled},
	}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.cs.CoreV1().Namespaces().Delete(context.Background(), ns.Name, metav1.DeleteOptions{}) })
	if err := (podrun.Client{CS: env.cs, NS: ns.Name}).WaitServiceAccount(ctx); err != nil {
		t.Fatal(err)
	}
	if err := deploy.WaitInjects(ctx, env.cs, ns.Name, gatedPod("probe"), time.Minute); err != nil {
		t.Fatal(err)
	}

	// The pods never run: a scheduling gate holds them, so that what is
	// measured is admission, not how many pods this node can start.
	var (
		mu       sync.Mutex
		attempts []attempt
		wg       sync.WaitGroup
	)
	stop := make(chan struct{})
	go func() {
		tick := time.NewTicker(createEvery)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				a := attempt{at: time.Now()}
				cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				p, err := env.cs.CoreV1().Pods(ns.Name).Create(cctx, gatedPod(fmt.Sprintf("load-%04d", i)), metav1.CreateOptions{})
				if err != nil {
					a.err = err
				} else {
					a.version = statusVersion(p)
				}
				mu.Lock()
				attempts = append(attempts, a)
				mu.Unlock()
			}(i)
		}
	}()
	stopped := false
	finish := func() {
		if !stopped {
			stopped = true
			close(stop)
			wg.Wait()
		}
	}
	defer finish()

	time.Sleep(5 * time.Second)
	chart, flags := helmOCI(cur)
	t0 := time.Now()
	out, err := h.Install(ctx, "upgrade", chart, deploy.Namespace, values, flags...)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("helm upgrade to %s (%.1fs):\n%s", cur.Version, time.Since(t0).Seconds(), out)
	waitReplicas(t, 2)
	rolled := time.Now()
	if err := waitOldReplicasGone(ctx, prev.Image.Ref); err != nil {
		t.Fatal(err)
	}
	gone := time.Now()
	time.Sleep(10 * time.Second)
	finish()

	var failed, notInjected, byPrev, byCur, wrongAfter int
	var errs []string
	for _, a := range attempts {
		switch {
		case a.err != nil:
			failed++
			errs = append(errs, a.at.Sub(t0).Round(time.Millisecond).String()+": "+a.err.Error())
		case a.version == "":
			notInjected++
		case a.version == prev.Version:
			byPrev++
		case a.version == cur.Version:
			byCur++
		}
		if a.err == nil && a.at.After(gone.Add(time.Second)) && a.version != cur.Version {
			wrongAfter++
		}
	}
	created := len(attempts) - failed
	t.Logf("upgrade %s → %s under load: %d creates attempted, %d created (%d injected by %s, %d by %s, %d not injected), %d failed; rollout %.1fs, old replicas gone %.1fs after the upgrade call",
		prev.Version, cur.Version, len(attempts), created, byPrev, prev.Version, byCur, cur.Version, notInjected, failed, rolled.Sub(t0).Seconds(), gone.Sub(t0).Seconds())
	report(t, "upgrade %s -> %s (failurePolicy Fail, creates every %v): attempted %d created %d (injected by %s %d, by %s %d, not injected %d) failed %d; rollout %.1fs",
		prev.Version, cur.Version, createEvery, len(attempts), created, prev.Version, byPrev, cur.Version, byCur, notInjected, failed, rolled.Sub(t0).Seconds())
	if failed > 0 {
		t.Errorf("%d of %d pod creates failed during the upgrade:\n%s", failed, len(attempts), strings.Join(errs, "\n"))
	}
	if notInjected > 0 {
		t.Errorf("%d pods were created without injection", notInjected)
	}
	if byPrev == 0 || byCur == 0 {
		t.Errorf("the load did not span the upgrade: %d pods injected by %s, %d by %s", byPrev, prev.Version, byCur, cur.Version)
	}
	if wrongAfter > 0 {
		t.Errorf("%d pods created after the old replicas were gone do not carry %s", wrongAfter, cur.Version)
	}
}

// gatedPod is an opted-in pod that a scheduling gate keeps from running.
func gatedPod(name string) *corev1.Pod {
	p := optIn(shellPod(name, 5, "sleep 3600"))
	p.Namespace = ""
	p.Spec.SchedulingGates = []corev1.PodSchedulingGate{{Name: "graceful.dev/e2e-hold"}}
	return p
}

// waitOldReplicasGone waits until no webhook pod runs the image oldRef.
func waitOldReplicasGone(ctx context.Context, oldRef string) error {
	deadline := time.Now().Add(2 * time.Minute)
	for {
		pods, err := env.cs.CoreV1().Pods(deploy.Namespace).List(ctx, metav1.ListOptions{LabelSelector: deploy.PodSelector})
		if err != nil {
			return err
		}
		n := 0
		for _, p := range pods.Items {
			if p.Spec.Containers[0].Image == oldRef {
				n++
			}
		}
		if n == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d webhook pods still run %s 2 minutes after the upgrade", n, oldRef)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// oldPodsStop: the pods the previous release injected are still the same
// pods, running, never restarted; deleted now, each stops by its
// graceful-init (the previous release's) with exit 0.
func oldPodsStop(t *testing.T, old []*corev1.Pod) {
	for _, o := range old {
		p, err := env.cs.CoreV1().Pods(env.ns).Get(t.Context(), o.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if p.UID != o.UID || !podrun.IsReady(p) || p.Status.ContainerStatuses[0].RestartCount != 0 {
			t.Fatalf("pod %s after the upgrade: uid %s (was %s), ready %v, restarts %d", p.Name, p.UID, o.UID, podrun.IsReady(p), p.Status.ContainerStatuses[0].RestartCount)
		}
		r := deletePod(t, o.Name)
		t.Logf("pod %s (injected by %s): exit %d %s in %.2fs, message %q", o.Name, statusVersion(o), r.ExitCode, r.Reason, r.Terminated.Seconds(), r.Message)
		reportStop(t, "pod injected by "+statusVersion(o)+" after the upgrade", r)
		if r.ExitCode != 0 {
			t.Errorf("pod %s: exit %d, want 0", o.Name, r.ExitCode)
		}
		if last := lastLine(r.Message); !strings.Contains(last, "exit 0") {
			t.Errorf("pod %s: the shutdown report's last line is %q, want its exit 0", o.Name, last)
		}
		if r.Terminated == 0 || r.Terminated > 5*time.Second {
			t.Errorf("pod %s: terminated after %v, want within 5 s (grace 10 s)", o.Name, r.Terminated)
		}
	}
}
