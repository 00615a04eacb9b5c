package rewrite

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/graceful-dev/graceful/pkg/contract"
)

// randomPod returns a pod that the API server accepts on create, before and
// after the rewrite, and the image configs of (most of) its images: DNS-1123
// names unique across all containers, every combination of command and args,
// image configs with and without ENTRYPOINT/CMD, shell forms and "$" strings,
// native sidecars and plain init containers, pod- and container-level
// security contexts, volumes and mounts, probes, preStop hooks of every kind,
// stop signals from lifecycle.stopSignal and from the image (some the
// runtime can not read, some graceful-init can not act on), termination
// message settings, resources,
// hostPID or shareProcessNamespace, grace periods including 0, and graceful
// annotations both valid and invalid (graceful.dev/kill included). Some images are missing from the map,
// so some containers are skipped with a warning.
//
// The namespace is left empty for the caller to set. The pod never has
// ephemeral containers (the API server refuses them on create), is never a
// Windows pod, and never uses graceful's own names, so Pod must not fail on
// it. The same r state gives the same pod.
func randomPod(r *rand.Rand) (*corev1.Pod, map[string]ImageConfig) {
	g := &podGen{r: r, images: map[string]ImageConfig{}}
	return g.pod(), g.images
}

type podGen struct {
	r      *rand.Rand
	images map[string]ImageConfig
	names  int // containers so far: keeps names unique
	ports  int32
}

var (
	genWords  = []string{"web", "api", "worker", "proxy", "cron", "db", "cache", "log", "sync", "agent"}
	genArgs   = []string{"--port=8080", "-v", "serve", "--config=/etc/app/config.yaml", "$(POD_NAME)", "$$literal", "cost $5", "--name=$(HOME)", "", "with space", "ünïcödé", "--", "-"}
	genScript = []string{"exec app", "trap 'kill -TERM $child' TERM; app & child=$!; wait", "echo $$ > /tmp/pid; exec app $(HOME)", "while true; do sleep 1; done"}
)

func (g *podGen) pick(s []string) string { return s[g.r.IntN(len(s))] }
func (g *podGen) chance(p float64) bool  { return g.r.Float64() < p }

func (g *podGen) strings(n int, from []string) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = g.pick(from)
	}
	return out
}

// imageConfig returns a random image config: any mix of ENTRYPOINT and CMD,
// including neither and the shell form.
func (g *podGen) imageConfig() ImageConfig {
	var ic ImageConfig
	switch g.r.IntN(6) {
	case 0:
		ic.Entrypoint = []string{"/app/" + g.pick(genWords)}
		ic.Cmd = g.strings(g.r.IntN(3), genArgs)
	case 1:
		ic.Entrypoint = []string{"/bin/sh", "-c", g.pick(genScript)}
	case 2:
		ic.Cmd = append([]string{"/usr/bin/" + g.pick(genWords)}, g.strings(g.r.IntN(3), genArgs)...)
	case 3:
		ic.Entrypoint = []string{"/usr/bin/tini", "--", "/app"}
		ic.Cmd = []string{"/bin/sh", "-c", g.pick(genScript)}
	case 4:
		ic.Entrypoint = []string{"/app", "$(NOT_EXPANDED)", "$$"}
	case 5:
		// neither: only wrappable when the container sets args or command
	}
	if g.chance(0.02) {
		ic.Entrypoint = []string{"/init"} // s6-overlay: never wrapped
	}
	if g.chance(0.3) {
		ic.StopSignal = g.pick([]string{"SIGQUIT", "3", "SIGRTMIN+3", "sigint", "SIGTERM", "SIGFOO", "SIGKILL"})
	}
	return ic
}

// image returns an image reference; most get a config in g.images.
func (g *podGen) image() string {
	ref := fmt.Sprintf("registry.example/%s-%d:%d", g.pick(genWords), g.r.IntN(8), g.r.IntN(3))
	if g.chance(0.1) {
		ref = fmt.Sprintf("registry.example/%s@sha256:%064x", g.pick(genWords), g.r.Uint64())
	}
	if _, ok := g.images[ref]; !ok && g.chance(0.9) {
		g.images[ref] = g.imageConfig()
	}
	return ref
}

func (g *podGen) name() string {
	g.names++
	return fmt.Sprintf("%s-%d", g.pick(genWords), g.names)
}

func (g *podGen) quantity(unit string, lo, hi int) resource.Quantity {
	return resource.MustParse(fmt.Sprintf("%d%s", lo+g.r.IntN(hi-lo+1), unit))
}

func (g *podGen) resources() corev1.ResourceRequirements {
	var rr corev1.ResourceRequirements
	switch g.r.IntN(3) {
	case 1:
		rr.Requests = corev1.ResourceList{corev1.ResourceCPU: g.quantity("m", 1, 500), corev1.ResourceMemory: g.quantity("Mi", 1, 512)}
	case 2:
		req := g.quantity("Mi", 1, 256)
		lim := req.DeepCopy()
		lim.Add(g.quantity("Mi", 0, 256))
		rr.Requests = corev1.ResourceList{corev1.ResourceMemory: req}
		rr.Limits = corev1.ResourceList{corev1.ResourceMemory: lim, corev1.ResourceCPU: g.quantity("m", 100, 2000)}
	}
	return rr
}

func (g *podGen) containerSecurity() *corev1.SecurityContext {
	switch g.r.IntN(4) {
	case 1:
		return &corev1.SecurityContext{
			AllowPrivilegeEscalation: new(false),
			RunAsNonRoot:             new(true),
			RunAsUser:                new(int64(1000 + g.r.IntN(60000))),
			Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
			ReadOnlyRootFilesystem:   new(g.chance(0.5)),
			SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		}
	case 2:
		return &corev1.SecurityContext{
			RunAsUser:    new(int64(0)),
			Capabilities: &corev1.Capabilities{Add: []corev1.Capability{"NET_BIND_SERVICE", "SYS_PTRACE"}},
		}
	case 3:
		if g.chance(0.3) {
			return &corev1.SecurityContext{Privileged: new(true)}
		}
		return &corev1.SecurityContext{RunAsGroup: new(int64(g.r.IntN(65536)))}
	}
	return nil
}

// container returns a container of the given role; volumes are the pod's
// volume names it may mount.
func (g *podGen) container(role string, volumes []string) corev1.Container {
	c := corev1.Container{
		Name:      g.name(),
		Image:     g.image(),
		Resources: g.resources(),
	}
	switch g.r.IntN(4) { // command/args: neither, args only, command only, both
	case 1:
		c.Args = g.strings(1+g.r.IntN(3), genArgs)
	case 2:
		c.Command = []string{"/bin/" + g.pick(genWords)}
	case 3:
		if g.chance(0.5) {
			c.Command = []string{"/bin/sh", "-c"}
			c.Args = []string{g.pick(genScript)}
		} else {
			c.Command = append([]string{"/app"}, g.strings(g.r.IntN(2), genArgs)...)
			c.Args = g.strings(1+g.r.IntN(2), genArgs)
		}
	}
	if g.chance(0.5) {
		c.Env = []corev1.EnvVar{{Name: "HOME", Value: "/home/" + c.Name}}
		if g.chance(0.5) {
			c.Env = append(c.Env, corev1.EnvVar{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}})
		}
	}
	if g.chance(0.2) {
		c.WorkingDir = "/srv/" + c.Name
	}
	if role != "init" && g.chance(0.4) {
		g.ports++
		c.Ports = []corev1.ContainerPort{{Name: fmt.Sprintf("p%d", g.ports), ContainerPort: 8000 + g.ports, Protocol: corev1.ProtocolTCP}}
	}
	if role == "main" && g.chance(0.3) {
		c.ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"/bin/ready"}}}, PeriodSeconds: 5}
	}
	if role != "init" && g.chance(0.5) {
		c.Lifecycle = &corev1.Lifecycle{PreStop: g.preStop(c.Ports)}
	}
	if role != "init" && g.chance(0.2) {
		if c.Lifecycle == nil {
			c.Lifecycle = &corev1.Lifecycle{}
		}
		c.Lifecycle.StopSignal = new(corev1.Signal(g.pick([]string{"SIGQUIT", "SIGTERM", "SIGINT", "SIGRTMIN+3", "SIGKILL"})))
	}
	if g.chance(0.2) {
		c.TerminationMessagePath = "/tmp/" + c.Name + ".msg"
	}
	if g.chance(0.2) {
		c.TerminationMessagePolicy = corev1.TerminationMessageFallbackToLogsOnError
	}
	if role == "sidecar" {
		c.RestartPolicy = new(corev1.ContainerRestartPolicyAlways)
	}
	for i, v := range volumes {
		if g.chance(0.4) {
			c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: v, MountPath: fmt.Sprintf("/mnt/%s-%d", v, i), ReadOnly: g.chance(0.5)})
		}
	}
	c.SecurityContext = g.containerSecurity()
	if g.chance(0.05) {
		c.Stdin, c.TTY = true, true
	}
	return c
}

// preStop returns a hook of every kind: exec, sleep, httpGet by number or
// by name (of ports, or of no port), and the tcpSocket the kubelet fails.
func (g *podGen) preStop(ports []corev1.ContainerPort) *corev1.LifecycleHandler {
	switch g.r.IntN(6) {
	case 0:
		return &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"/bin/sh", "-c", "sleep 2"}}}
	case 1:
		return &corev1.LifecycleHandler{Sleep: &corev1.SleepAction{Seconds: int64(g.r.IntN(10))}}
	case 2:
		return &corev1.LifecycleHandler{HTTPGet: &corev1.HTTPGetAction{Port: intstr.FromInt32(int32(1 + g.r.IntN(65535))), Path: "/quit"}}
	case 3:
		name := "nowhere"
		if len(ports) > 0 && g.chance(0.8) {
			name = ports[0].Name
		}
		return &corev1.LifecycleHandler{HTTPGet: &corev1.HTTPGetAction{Port: intstr.FromString(name), Scheme: corev1.URISchemeHTTPS,
			HTTPHeaders: []corev1.HTTPHeader{{Name: "X-Stop", Value: "now"}}}}
	case 4:
		return &corev1.LifecycleHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(8080)}}
	}
	return nil // the lifecycle without a hook
}

func (g *podGen) volumes() ([]corev1.Volume, []string) {
	var vols []corev1.Volume
	var names []string
	for i := range g.r.IntN(4) {
		v := corev1.Volume{Name: fmt.Sprintf("vol-%d", i)}
		switch g.r.IntN(4) {
		case 0:
			v.EmptyDir = &corev1.EmptyDirVolumeSource{}
			if g.chance(0.5) {
				v.EmptyDir.Medium = corev1.StorageMediumMemory
				v.EmptyDir.SizeLimit = new(g.quantity("Mi", 1, 64))
			}
		case 1:
			v.ConfigMap = &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg-" + g.pick(genWords)}, Optional: new(true)}
		case 2:
			v.Secret = &corev1.SecretVolumeSource{SecretName: "sec-" + g.pick(genWords), Optional: new(true)}
		case 3:
			v.DownwardAPI = &corev1.DownwardAPIVolumeSource{Items: []corev1.DownwardAPIVolumeFile{{Path: "labels", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels"}}}}
		}
		vols = append(vols, v)
		names = append(names, v.Name)
	}
	return vols, names
}

func (g *podGen) pod() *corev1.Pod {
	vols, volNames := g.volumes()
	p := &corev1.Pod{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{
			Name:   fmt.Sprintf("gen-%s-%d", g.pick(genWords), g.r.IntN(1_000_000)),
			Labels: map[string]string{"app": g.pick(genWords)},
		},
		Spec: corev1.PodSpec{Volumes: vols},
	}
	p.Spec.RestartPolicy = []corev1.RestartPolicy{"", corev1.RestartPolicyAlways, corev1.RestartPolicyOnFailure, corev1.RestartPolicyNever}[g.r.IntN(4)]
	for range g.r.IntN(3) {
		role := "init"
		if g.chance(0.5) {
			role = "sidecar"
		}
		p.Spec.InitContainers = append(p.Spec.InitContainers, g.container(role, volNames))
	}
	for range 1 + g.r.IntN(4) {
		p.Spec.Containers = append(p.Spec.Containers, g.container("main", volNames))
	}
	for _, c := range append(slices.Clone(p.Spec.InitContainers), p.Spec.Containers...) {
		if c.Lifecycle != nil && c.Lifecycle.StopSignal != nil {
			p.Spec.OS = &corev1.PodOS{Name: corev1.Linux} // lifecycle.stopSignal wants it
		}
	}

	switch g.r.IntN(5) {
	case 0:
		p.Spec.TerminationGracePeriodSeconds = new(int64(0))
	case 1:
		p.Spec.TerminationGracePeriodSeconds = new(int64(1 + g.r.IntN(120)))
	case 2:
		p.Spec.TerminationGracePeriodSeconds = new(int64(30))
	}
	for _, c := range append(slices.Clone(p.Spec.InitContainers), p.Spec.Containers...) {
		// A preStop sleep may not outlast the grace period.
		if grace := p.Spec.TerminationGracePeriodSeconds; grace != nil && c.Lifecycle != nil && c.Lifecycle.PreStop != nil && c.Lifecycle.PreStop.Sleep != nil {
			c.Lifecycle.PreStop.Sleep.Seconds = min(c.Lifecycle.PreStop.Sleep.Seconds, *grace)
		}
	}
	switch g.r.IntN(5) { // never both: the API server refuses that
	case 0:
		p.Spec.HostPID = true
	case 1:
		p.Spec.ShareProcessNamespace = new(true)
	}
	switch g.r.IntN(4) {
	case 1:
		p.Spec.SecurityContext = &corev1.PodSecurityContext{
			RunAsNonRoot:   new(true),
			RunAsUser:      new(int64(1 + g.r.IntN(65535))),
			RunAsGroup:     new(int64(g.r.IntN(65536))),
			FSGroup:        new(int64(g.r.IntN(65536))),
			SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		}
	case 2:
		p.Spec.SecurityContext = &corev1.PodSecurityContext{RunAsUser: new(int64(0)), SupplementalGroups: []int64{int64(g.r.IntN(65536))}}
	case 3:
		p.Spec.SecurityContext = &corev1.PodSecurityContext{SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeUnconfined}}
	}

	ann := map[string]string{}
	if g.chance(0.3) {
		ann[contract.AnnotationDrainDelay] = g.pick([]string{"5s", "0s", "1m", "250ms", "10", "-3s", "soon", "", "2h"})
	}
	if g.chance(0.3) {
		ann[contract.AnnotationSignalMap] = g.pick([]string{"TERM=QUIT", "sigterm=sigquit,USR1=USR2", "", "TERM=FOO", "KILL=TERM", "15=3", "TERM"})
	}
	if g.chance(0.3) {
		var names []string
		for _, c := range append(append([]corev1.Container{}, p.Spec.InitContainers...), p.Spec.Containers...) {
			if g.chance(0.5) {
				names = append(names, c.Name)
			}
		}
		if g.chance(0.2) {
			names = append(names, "not-there")
		}
		ann[contract.AnnotationContainers] = strings.Join(names, ",")
	}
	if g.chance(0.2) {
		ann[contract.AnnotationInject] = contract.InjectTrue
	}
	if g.chance(0.2) {
		ann[contract.AnnotationKill] = g.pick([]string{"false", "true", "no"})
	}
	if len(ann) > 0 {
		p.Annotations = ann
	}
	return p
}
