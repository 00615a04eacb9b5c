package rewrite

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/graceful-dev/graceful/pkg/contract"
)

func simplePod(containers ...corev1.Container) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns"}, Spec: corev1.PodSpec{Containers: containers}}
}

func TestConfigErrors(t *testing.T) {
	pod := simplePod(corev1.Container{Name: "a", Image: "registry.example/app:1"})
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{Version: "v1"}, "graceful image is empty"},
		{Config{Image: "img"}, "version is empty"},
		{Config{Image: "img", Version: "v1", Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")},
			Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("32Mi")},
		}}, "memory request 64Mi is above its limit 32Mi"},
	} {
		out, _, err := Pod(pod, tc.cfg, Defaults{}, testImages())
		if err == nil || !strings.Contains(err.Error(), tc.want) || out != nil {
			t.Errorf("Pod with %+v: %v, %v; want error containing %q and no pod", tc.cfg, out, err, tc.want)
		}
	}
}

func TestPodErrors(t *testing.T) {
	if _, _, err := Pod(nil, testConfig(), Defaults{}, nil); err == nil || !strings.Contains(err.Error(), "nil") {
		t.Errorf("nil pod: %v", err)
	}
	conflicts := map[string]*corev1.Pod{
		"hostPath volume": {Spec: corev1.PodSpec{
			Containers: []corev1.Container{{Name: "a", Image: "i", Command: []string{"x"}}},
			Volumes:    []corev1.Volume{{Name: contract.VolumeName, VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/x"}}}},
		}},
		"emptyDir without limit": {Spec: corev1.PodSpec{
			Containers: []corev1.Container{{Name: "a", Image: "i", Command: []string{"x"}}},
			Volumes:    []corev1.Volume{{Name: contract.VolumeName, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
		}},
		"regular container named graceful-install": {Spec: corev1.PodSpec{
			Containers: []corev1.Container{{Name: contract.InstallContainerName, Image: "i", Command: []string{"x"}}},
		}},
		"ephemeral container named graceful-install": {Spec: corev1.PodSpec{
			Containers:          []corev1.Container{{Name: "a", Image: "i", Command: []string{"x"}}},
			EphemeralContainers: []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: contract.InstallContainerName, Image: "i"}}},
		}},
		"install container without the mount": {Spec: corev1.PodSpec{
			InitContainers: []corev1.Container{{Name: contract.InstallContainerName, Image: "i", Command: installCommand()}},
			Containers:     []corev1.Container{{Name: "a", Image: "i", Command: []string{"x"}}},
		}},
	}
	for name, pod := range conflicts {
		_, _, err := Pod(pod, testConfig(), Defaults{}, nil)
		if !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), "graceful") {
			t.Errorf("%s: err = %v, want ErrConflict", name, err)
		}
	}
}

func TestTargets(t *testing.T) {
	always := corev1.ContainerRestartPolicyAlways
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{contract.AnnotationContainers: "side,a,b,c,d,init,ghost"}},
		Spec: corev1.PodSpec{
			InitContainers: []corev1.Container{
				{Name: "init", Image: "registry.example/tool:1"},
				{Name: "side", Image: "registry.example/proxy:1", RestartPolicy: &always},
			},
			Containers: []corev1.Container{
				{Name: "a", Image: "registry.example/app:1"},
				{Name: "b", Image: "registry.example/app:1", Args: []string{"x"}},
				{Name: "c", Image: "registry.example/unknown:1", Command: []string{"/c"}},
				{Name: "d", Image: "registry.example/x:1", Command: []string{contract.InitPath, "--", "/d"}},
				{Name: "e", Image: "registry.example/e:1"},
				{Name: "f", Image: "registry.example/signalled:1", Command: []string{"/f"}, Lifecycle: &corev1.Lifecycle{StopSignal: new(corev1.SIGQUIT)}},
				{Name: "g", Image: "registry.example/app:1", Lifecycle: &corev1.Lifecycle{StopSignal: new(corev1.SIGQUIT)}},
			},
		},
	}
	pod.Annotations[contract.AnnotationContainers] += ",f,g"
	names, images, warnings := Targets(pod, Defaults{})
	if want := []string{"side", "a", "b", "c", "f", "g"}; !slices.Equal(names, want) {
		t.Errorf("names = %q, want %q (pod order, already wrapped and unselected left out)", names, want)
	}
	// c sets a command but needs its image's STOPSIGNAL; f sets both a
	// command and lifecycle.stopSignal and needs nothing; g needs the
	// ENTRYPOINT.
	if want := []string{"registry.example/proxy:1", "registry.example/app:1", "registry.example/unknown:1"}; !slices.Equal(images, want) {
		t.Errorf("images = %q, want %q (deduplicated; every container but those with both a command and lifecycle.stopSignal)", images, want)
	}
	if len(warnings) != 2 || !strings.Contains(warnings[0], `"init" is a plain init container`) || !strings.Contains(warnings[1], `no container "ghost"`) {
		t.Errorf("warnings = %q", warnings)
	}
	_, pw, err := Pod(pod, testConfig(), Defaults{}, testImages())
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range warnings {
		if !slices.Contains(pw, w) {
			t.Errorf("Pod does not repeat Targets' warning %q", w)
		}
	}
	if n, i, w := Targets(nil, Defaults{}); n != nil || i != nil || w != nil {
		t.Error("Targets(nil) returned something")
	}
}

// A caller that resolves exactly what Targets asks for gets every target wrapped.
func TestTargetsThenPodWrapsAll(t *testing.T) {
	pod := simplePod(
		corev1.Container{Name: "a", Image: "registry.example/app:1"},
		corev1.Container{Name: "b", Image: "registry.example/cmdonly:1", Args: []string{"/b"}},
		corev1.Container{Name: "c", Image: "registry.example/unknown:1", Command: []string{"/c"}},
	)
	names, refs, _ := Targets(pod, Defaults{})
	all := testImages()
	images := map[string]ImageConfig{}
	for _, r := range refs {
		images[r] = all[r]
	}
	out, warnings, err := Pod(pod, testConfig(), Defaults{}, images)
	if err != nil || len(warnings) != 0 {
		t.Fatalf("%v %q", err, warnings)
	}
	st, err := ParseStatus(out.Annotations[contract.AnnotationStatus])
	if err != nil || !slices.Equal(st.Containers, names) || st.Version != testConfig().Version {
		t.Errorf("status %+v (%v), want containers %q", st, err, names)
	}
}

func TestResourcesDefaultAndCopied(t *testing.T) {
	pod := simplePod(corev1.Container{Name: "a", Image: "i", Command: []string{"/a"}})
	out, _, err := Pod(pod, testConfig(), Defaults{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := out.Spec.InitContainers[0].Resources; !reflect.DeepEqual(got, DefaultResources()) {
		t.Errorf("zero Config.Resources gave %v, want DefaultResources", got)
	}
	cfg := testConfig()
	cfg.Resources.Limits = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("48Mi")}
	out, _, err = Pod(pod, cfg, Defaults{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	out.Spec.InitContainers[0].Resources.Limits[corev1.ResourceMemory] = resource.MustParse("1Gi")
	if q := cfg.Resources.Limits[corev1.ResourceMemory]; q.String() != "48Mi" {
		t.Errorf("the output shares Config.Resources: now %s", q.String())
	}
}

func TestInstallContainerIsRestricted(t *testing.T) {
	pod := simplePod(corev1.Container{Name: "a", Image: "i", Command: []string{"/a"}})
	pod.Spec.SecurityContext = &corev1.PodSecurityContext{RunAsUser: new(int64(0)), RunAsNonRoot: new(false)}
	out, _, err := Pod(pod, testConfig(), Defaults{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ic := out.Spec.InitContainers[0]
	sc := ic.SecurityContext
	// Pod Security "restricted" for the container, whatever the pod sets.
	switch {
	case ic.Name != contract.InstallContainerName:
		t.Errorf("first init container is %q", ic.Name)
	case sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot:
		t.Error("runAsNonRoot not true")
	case sc.RunAsUser == nil || *sc.RunAsUser != contract.ImageUID || sc.RunAsGroup == nil || *sc.RunAsGroup != contract.ImageUID:
		t.Error("not UID/GID 65532")
	case sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
		t.Error("privilege escalation allowed")
	case sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) != 0:
		t.Error("capabilities not dropped")
	case sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem:
		t.Error("root filesystem writable")
	case sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault:
		t.Error("seccomp not RuntimeDefault")
	case sc.Privileged != nil && *sc.Privileged:
		t.Error("privileged")
	case ic.ImagePullPolicy != corev1.PullIfNotPresent:
		t.Errorf("imagePullPolicy %q", ic.ImagePullPolicy)
	}
}

func TestGracePeriodFlag(t *testing.T) {
	for _, tc := range []struct {
		spec *int64
		want string
	}{
		{nil, "--grace-period=30s"},
		{new(int64(0)), "--grace-period=2s"},
		{new(int64(1)), "--grace-period=2s"},
		{new(int64(2)), "--grace-period=2s"},
		{new(int64(45)), "--grace-period=45s"},
		{new(int64(86400)), "--grace-period=86400s"},
	} {
		pod := simplePod(corev1.Container{Name: "a", Image: "i", Command: []string{"/a"}})
		pod.Spec.TerminationGracePeriodSeconds = tc.spec
		out, _, err := Pod(pod, testConfig(), Defaults{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := out.Spec.Containers[0].Command[1]; got != tc.want {
			t.Errorf("terminationGracePeriodSeconds %v: %s, want %s", tc.spec, got, tc.want)
		}
	}
}

func TestDrainDelayWarning(t *testing.T) {
	for _, tc := range []struct {
		grace int64
		drain string
		warn  bool
	}{
		{30, "13s", false}, {30, "14s", false}, {30, "14.1s", true}, {30, "30s", true}, {30, "1h", true},
		{10, "4s", false}, {10, "5s", true}, {0, "1s", true}, {0, "0s", false},
	} {
		pod := simplePod(corev1.Container{Name: "a", Image: "i", Command: []string{"/a"}})
		pod.Spec.TerminationGracePeriodSeconds = &tc.grace
		pod.Annotations = map[string]string{contract.AnnotationDrainDelay: tc.drain}
		out, warnings, err := Pod(pod, testConfig(), Defaults{}, map[string]ImageConfig{"i": {}})
		if err != nil {
			t.Fatal(err)
		}
		if got := len(warnings) > 0; got != tc.warn {
			t.Errorf("grace %ds drain %s: warnings %q, want a warning: %v", tc.grace, tc.drain, warnings, tc.warn)
		}
		d, _ := time.ParseDuration(tc.drain)
		hasFlag := slices.Contains(out.Spec.Containers[0].Command, "--drain-delay="+d.String())
		if hasFlag != (d > 0) {
			t.Errorf("grace %ds drain %s: command %q", tc.grace, tc.drain, out.Spec.Containers[0].Command)
		}
	}
}
