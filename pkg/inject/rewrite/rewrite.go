// Package rewrite is the pure pod rewrite of graceful-webhook: pod, decision
// defaults and resolved image configs in, rewritten pod and warnings out. It
// does no I/O, keeps no state and never mutates its input.
//
// Contract (docs/design.md, "The pod rewrite"):
//
//   - Which containers: graceful.dev/containers (comma list) when set, else
//     Defaults.Containers (from the ShutdownPolicy), else every regular
//     container and every native sidecar (init container with restartPolicy
//     Always). Plain init containers and ephemeral containers are never
//     wrapped; naming one, or a name the pod does not have, in the annotation
//     gives a warning and the other names still count. Names in
//     Defaults.Containers that the pod lacks are ignored silently (a policy
//     covers many pods).
//   - Delivery: graceful.dev/delivery (initContainer or imageVolume), else
//     Config.Delivery; an annotation naming neither is a warning and the
//     default applies. A pod that already has graceful's volume or install
//     container keeps the delivery it has.
//   - initContainer delivery: the pod gets the volume graceful-bin (emptyDir,
//     disk-backed, sizeLimit 16Mi) and the init container graceful-install
//     placed first (it copies graceful-init into the volume; Pod Security
//     "restricted", UID/GID 65532, small explicit resources, imagePullPolicy
//     IfNotPresent).
//   - imageVolume delivery: graceful-bin is an image volume of Config.Image
//     (pullPolicy IfNotPresent), no init container; each mount of it has
//     subPath usr/local/bin, the folder of graceful-init in the image. With
//     Config.ImageVolumeNodeLabel set, every term of the pod's required node
//     affinity (or a new one) requires LABEL=true.
//   - Either way the pod gets the annotation graceful.dev/status
//     {"version":..,"containers":[..]} listing every wrapped container in
//     pod order (native sidecars first), and the label graceful.dev/wrapped:
//     the version (contract.WrappedLabelValue), both written together and
//     only when the list of wrapped containers changes.
//   - Each wrapped container mounts the volume read-only at /graceful/bin and
//     runs [/graceful/bin/graceful-init, --grace-period=Ns, (--drain-delay=D),
//     (--signal-map=M), (--kill=false), (--stop-signal=S),
//     --termination-log=PATH, --, ENTRYPOINT...] with args as Kubernetes
//     would have used them. The argv follows Kubernetes' rules exactly: command set → it
//     replaces the image ENTRYPOINT and args replace CMD; only args → image
//     ENTRYPOINT + args; neither → image ENTRYPOINT + CMD. Strings taken from
//     the image config are escaped for $(VAR) expansion (which Kubernetes
//     applies to command and args but never to the image's own ENTRYPOINT and
//     CMD), so the process sees exactly the bytes it would have seen.
//   - --grace-period is spec.terminationGracePeriodSeconds (30 when unset),
//     raised to 2s: the kubelet never gives a container less (its
//     minimumGracePeriodInSeconds), and a budget of 0 would make graceful-init
//     SIGKILL at once. A deletion with a shorter override (eviction, an API
//     delete with gracePeriodSeconds) can not be known at admission time; the
//     kubelet's own SIGKILL then comes first, as it would without graceful.
//   - --drain-delay and --signal-map come from graceful.dev/drain-delay and
//     graceful.dev/signal-map, else from Defaults. An annotation that does not
//     parse (not a duration, negative, unknown signal) is ignored with a
//     warning naming the annotation and the value, and the default applies.
//     An empty graceful.dev/signal-map clears the default map; a zero drain
//     delay is written as no flag. The signal map is written normalized
//     (contract.FormatSignalMap). A drain delay longer than graceful-init
//     will honour (half its shutdown budget) is still written, with a warning
//     saying it will be capped: the init caps it and logs that at runtime.
//   - --kill=false comes from graceful.dev/kill "false"; "true" is the
//     default and no flag; any other value is ignored with a warning.
//   - --stop-signal is the signal the runtime will stop the container with,
//     when it is not SIGTERM: lifecycle.stopSignal, else the image's
//     STOPSIGNAL, else SIGTERM, read as the runtime reads them
//     (contract.ParseStopSignal) and written as the short name, or the
//     number for realtime signals. A value that does not parse is a warning
//     and SIGTERM. A container whose stop signal graceful-init can not act
//     on (SIGKILL, SIGSTOP, SIGCHLD, SIGURG: contract.CheckStopSignal) is
//     left alone with a warning.
//   - --termination-log is the container's terminationMessagePath
//     (/dev/termination-log when unset); with FallbackToLogsOnError a
//     warning says that graceful-init's report takes the log's place.
//   - The preStop hook becomes [init, prestop, ...] doing what the hook did
//     (none; exec: "--" and its command; sleep: --sleep=Ns; httpGet:
//     --http-get=URL and a --header per header, a named port resolved). A
//     hook that already runs graceful-init stays; a tcpSocket hook, and an
//     httpGet whose port names no port of the container, stay with a
//     warning. postStart and lifecycle.stopSignal are kept.
//   - A container needs its image config in images (keyed by the image
//     reference as written in the pod) when it sets no command (for the
//     ENTRYPOINT) or no lifecycle.stopSignal (for the STOPSIGNAL). When it is
//     missing, a container without a command, like one whose image has
//     neither ENTRYPOINT nor CMD (and the container no args), is left alone
//     with a warning naming it and the image; a container with a command is
//     wrapped with SIGTERM as its stop signal, and a warning says so. The
//     rewrite never guesses an entrypoint.
//   - A container whose argv[0] is an init that must itself be PID 1
//     (s6-overlay's /init, /sbin/init, systemd) is left alone with a warning
//     and listed in Result.OwnInit. A tini entrypoint gets TINI_SUBREAPER=1
//     unless the container sets the variable, so that tini runs as a
//     subreaper instead of warning that it is not PID 1; dumb-init needs
//     nothing.
//   - hostPID and shareProcessNamespace pods need nothing extra: graceful-init
//     is then not PID 1 and makes itself a subreaper. A pod-level
//     securityContext does not reach the install container, which sets every
//     field it depends on itself.
//   - Idempotent: a container whose command starts with the init path is
//     already wrapped and is never touched again (its hook and env neither); a rewritten pod passed in
//     again comes back equal. Containers added after the first rewrite are
//     wrapped and the status annotation is rewritten to list all wrapped
//     containers. A second pass returns no warning the first did not.
//   - Errors are reserved for what the caller must fix: an invalid Config, a
//     nil or Windows pod, and a conflict (ErrConflict): a volume named
//     graceful-bin or a container named graceful-install that is not
//     graceful's. Everything else is a warning and the pod is admitted
//     (possibly unchanged). When nothing can be wrapped the pod comes back
//     unchanged: no volume, no install container, no annotation.
package rewrite

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/graceful-dev/graceful/pkg/contract"
)

// Config is the cluster-wide part: set by the webhook's config / inject flags.
type Config struct {
	// Image is the graceful image for the install container (by digest where
	// known). Required.
	Image string
	// Version is written into graceful.dev/status. Required.
	Version string
	// Resources of the install container. The zero value means
	// DefaultResources; anything else is used as given.
	Resources corev1.ResourceRequirements
	// Delivery is how graceful-init reaches a pod whose graceful.dev/delivery
	// annotation does not say: contract.DeliveryInitContainer (also when
	// empty) or contract.DeliveryImageVolume.
	Delivery string
	// ImageVolumeNodeLabel, when set, is a node label that marks the nodes
	// whose runtime mounts image volumes: a pod delivered by image volume
	// gets the required node affinity LABEL=true, so that it waits
	// unscheduled (a FailedScheduling event names the affinity) instead of
	// failing on a node whose runtime can not mount the volume.
	ImageVolumeNodeLabel string
}

// Defaults come from the ShutdownPolicy that selected the pod (zero when
// none); pod annotations override them.
type Defaults struct {
	Containers []string
	DrainDelay *time.Duration
	SignalMap  string
}

// ImageConfig is the part of an image's config the rewrite needs.
type ImageConfig struct {
	Entrypoint, Cmd []string
	// StopSignal is the image's STOPSIGNAL as written ("SIGQUIT", "3"), or
	// empty.
	StopSignal string
}

// Status is the value of graceful.dev/status.
type Status struct {
	Version    string   `json:"version"`
	Containers []string `json:"containers"`
}

// ErrConflict is wrapped by the error Pod returns when the pod already has a
// volume or container under one of graceful's names that is not graceful's.
var ErrConflict = errors.New("name conflict")

// defaultResources is parsed once; DefaultResources hands out copies.
var defaultResources = corev1.ResourceRequirements{
	Requests: corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse("10m"),
		corev1.ResourceMemory: resource.MustParse("16Mi"),
	},
	Limits: corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse("100m"),
		corev1.ResourceMemory: resource.MustParse("32Mi"),
	},
}

// DefaultResources returns the install container's resources when
// Config.Resources is zero (requests cpu 10m, memory 16Mi; limits cpu 100m,
// memory 32Mi): it only copies a small static binary.
func DefaultResources() corev1.ResourceRequirements { return *defaultResources.DeepCopy() }

// Validate reports what is wrong with c; Pod calls it first.
func (c Config) Validate() error {
	if c.Image == "" {
		return errors.New("config: the graceful image is empty")
	}
	if c.Version == "" {
		return errors.New("config: the version is empty")
	}
	if _, err := parseDelivery(c.Delivery); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if c.ImageVolumeNodeLabel != "" {
		if errs := validation.IsQualifiedName(c.ImageVolumeNodeLabel); len(errs) > 0 {
			return fmt.Errorf("config: image volume node label %q is not a label key: %s", c.ImageVolumeNodeLabel, strings.Join(errs, "; "))
		}
	}
	for name, req := range c.Resources.Requests {
		if lim, ok := c.Resources.Limits[name]; ok && req.Cmp(lim) > 0 {
			return fmt.Errorf("config: install container %s request %s is above its limit %s", name, req.String(), lim.String())
		}
	}
	return nil
}

func (c Config) resources() corev1.ResourceRequirements {
	r := c.Resources
	if len(r.Requests) == 0 && len(r.Limits) == 0 && len(r.Claims) == 0 {
		return DefaultResources()
	}
	return *r.DeepCopy()
}

// Targets reports which containers Pod would wrap now (in pod order; those
// already wrapped are not listed) and the image references, deduplicated, of
// those that need an ImageConfig: for the ENTRYPOINT when they set no
// command, for the STOPSIGNAL when they set no lifecycle.stopSignal. Its
// warnings are about the container selection; Pod returns them again, so a
// caller that calls both reports Pod's warnings only. Pure.
func Targets(pod *corev1.Pod, d Defaults) (names []string, needImages []string, warnings []string) {
	if pod == nil {
		return nil, nil, nil
	}
	sel := selectContainers(pod, d)
	for _, t := range sel.targets {
		names = append(names, t.c.Name)
		if needsImage(t.c) && !slices.Contains(needImages, t.c.Image) {
			needImages = append(needImages, t.c.Image)
		}
	}
	return names, needImages, sel.warnings
}

// Result is what Rewrite returns.
type Result struct {
	// Pod is the rewritten deep copy; equal to the input when nothing was
	// wrapped.
	Pod *corev1.Pod
	// Warnings are every skip and bad setting, in pod order.
	Warnings []string
	// OwnInit are the containers left unwrapped because their entrypoint is
	// an init that must itself be PID 1 (also among the warnings).
	OwnInit []OwnInit
}

// Pod is Rewrite for callers that need only the pod and the warnings.
func Pod(pod *corev1.Pod, cfg Config, d Defaults, images map[string]ImageConfig) (*corev1.Pod, []string, error) {
	res, err := Rewrite(pod, cfg, d, images)
	return res.Pod, res.Warnings, err
}

// Rewrite returns a rewritten deep copy of pod (see the package contract);
// it never mutates its input. images is keyed by the container's image
// reference as written in the pod.
func Rewrite(pod *corev1.Pod, cfg Config, d Defaults, images map[string]ImageConfig) (Result, error) {
	if err := cfg.Validate(); err != nil {
		return Result{}, err
	}
	if pod == nil {
		return Result{}, errors.New("pod is nil")
	}
	if pod.Spec.OS != nil && pod.Spec.OS.Name == corev1.Windows {
		return Result{}, fmt.Errorf("pod %s: spec.os.name is windows: graceful-init is a Linux program", podName(pod))
	}
	if err := checkConflicts(pod, cfg.Image); err != nil {
		return Result{}, fmt.Errorf("pod %s: %w", podName(pod), err)
	}

	out := pod.DeepCopy()
	sel := selectContainers(out, d) // pointers into out: wrapping edits them in place
	res := Result{Pod: out, Warnings: sel.warnings}
	mode, dw := delivery(pod, cfg)

	if len(sel.targets) > 0 {
		flags, fw := podFlags(pod, d)
		res.Warnings = append(res.Warnings, dw...)
		res.Warnings = append(res.Warnings, fw...)
		for _, t := range sel.targets {
			var img *ImageConfig
			if ic, ok := images[t.c.Image]; ok {
				img = &ic
			}
			w, err := wrap(t.c, img, flags)
			if err != nil {
				res.Warnings = append(res.Warnings, fmt.Sprintf("container %q (image %q) not wrapped: %v", t.c.Name, t.c.Image, err))
				var oi *ownInitError
				if errors.As(err, &oi) {
					res.OwnInit = append(res.OwnInit, OwnInit{Container: t.c.Name, Image: t.c.Image, Entrypoint: oi.argv0})
				}
				continue
			}
			res.Warnings = append(res.Warnings, w...)
		}
	}

	var wrapped []string
	forEachWrappable(out, func(c *corev1.Container) {
		if isWrapped(c) {
			wrapped = append(wrapped, c.Name)
			ensureMount(c, mode)
		}
	})
	if len(wrapped) == 0 {
		res.Warnings = append(res.Warnings, "no container wrapped: pod left unchanged")
		return res, nil // untouched: only a successful wrap edits out
	}

	ensureVolume(out, cfg, mode)
	if mode == contract.DeliveryImageVolume {
		if cfg.ImageVolumeNodeLabel != "" {
			ensureNodeAffinity(out, cfg.ImageVolumeNodeLabel)
		}
	} else {
		ensureInstallContainer(out, cfg)
	}
	setStatus(out, cfg.Version, wrapped)
	return res, nil
}

// wrap puts c under graceful-init in place: its command and args, its
// preStop hook, and for tini its environment. pflags is podFlags' part of
// the command; img is c's image config, nil when not known. When c can not
// be wrapped it is left as it is and err says why; warnings are about a
// wrapped c only.
func wrap(c *corev1.Container, img *ImageConfig, pflags []string) (warnings []string, err error) {
	sig, from, sw := stopSignal(c, img)
	prefix := concat(pflags, containerFlags(c, sig))
	cmd, args, err := wrapArgv(c.Command, c.Args, img, prefix)
	if err != nil {
		return nil, err
	}
	entry := argv0(cmd, args, len(prefix))
	if slices.Contains(ownInits, entry) {
		return nil, &ownInitError{argv0: entry}
	}
	if err := contract.CheckStopSignal(sig); err != nil {
		return nil, fmt.Errorf("its stop signal is SIG%s (%s), and %v: %w", contract.SignalName(sig), from, err, errStopSignal)
	}
	warnings = append(sw, terminationLogWarning(c)...)
	lc, hookWrapped, hw := preStop(c)
	warnings = append(warnings, hw...)

	if isTini(entry) {
		if env, add := tiniEnv(c); add {
			c.Env = env
		}
	}
	c.Command, c.Args = cmd, args
	if hookWrapped {
		c.Lifecycle = lc
	}
	return warnings, nil
}

// podName names a pod in messages: namespace/name, or generateName*.
func podName(pod *corev1.Pod) string {
	name := pod.Name
	if name == "" && pod.GenerateName != "" {
		name = pod.GenerateName + "*"
	}
	if pod.Namespace != "" {
		return fmt.Sprintf("%q", pod.Namespace+"/"+name)
	}
	return fmt.Sprintf("%q", name)
}

// forEachWrappable calls f for every native sidecar and regular container, in
// pod order.
func forEachWrappable(pod *corev1.Pod, f func(*corev1.Container)) {
	for i := range pod.Spec.InitContainers {
		if isSidecar(&pod.Spec.InitContainers[i]) {
			f(&pod.Spec.InitContainers[i])
		}
	}
	for i := range pod.Spec.Containers {
		f(&pod.Spec.Containers[i])
	}
}

func isSidecar(c *corev1.Container) bool {
	return c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways
}

// isWrapped reports whether c already runs under graceful-init.
func isWrapped(c *corev1.Container) bool {
	return len(c.Command) > 0 && c.Command[0] == contract.InitPath
}

// mountConflict reports the volume another mount at graceful's mount path
// uses, or "".
func mountConflict(c *corev1.Container) string {
	for _, m := range c.VolumeMounts {
		if m.MountPath == contract.MountPath && m.Name != contract.VolumeName {
			return m.Name
		}
	}
	return ""
}

// ensureMount adds the read-only mount of graceful-bin unless c already has
// a mount at its path. An image volume is the whole graceful image: its
// subPath is the folder that holds graceful-init, so that the init is at
// contract.InitPath in both deliveries and the wrapped command is the same.
func ensureMount(c *corev1.Container, mode string) {
	for _, m := range c.VolumeMounts {
		if m.MountPath == contract.MountPath {
			return
		}
	}
	m := corev1.VolumeMount{Name: contract.VolumeName, MountPath: contract.MountPath, ReadOnly: true}
	if mode == contract.DeliveryImageVolume {
		m.SubPath = contract.ImageVolumeSubPath
	}
	c.VolumeMounts = append(c.VolumeMounts, m)
}

var volumeSizeLimit = resource.MustParse(contract.VolumeSizeLimit)

// volume is graceful's volume exactly as the rewrite adds it.
func volume() corev1.Volume {
	limit := volumeSizeLimit.DeepCopy()
	return corev1.Volume{Name: contract.VolumeName, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{SizeLimit: &limit}}}
}

// imageVolume is graceful's volume of the image delivery: the graceful
// image itself, pulled like the install container's image would be.
func imageVolume(image string) corev1.Volume {
	return corev1.Volume{Name: contract.VolumeName, VolumeSource: corev1.VolumeSource{Image: &corev1.ImageVolumeSource{Reference: image, PullPolicy: corev1.PullIfNotPresent}}}
}

// isOurVolume: an emptyDir on disk with graceful's size limit and nothing
// else, or an image volume of image's repository (any tag or digest: an
// older webhook's image) and nothing else.
func isOurVolume(v *corev1.Volume, image string) bool {
	if v.Image != nil {
		src := v.VolumeSource
		src.Image = nil
		return repository(v.Image.Reference) == repository(image) && src == (corev1.VolumeSource{})
	}
	if v.EmptyDir == nil || v.EmptyDir.Medium != corev1.StorageMediumDefault || v.EmptyDir.SizeLimit == nil ||
		v.EmptyDir.SizeLimit.Cmp(volumeSizeLimit) != 0 {
		return false
	}
	src := v.VolumeSource
	src.EmptyDir = nil
	return src == (corev1.VolumeSource{})
}

func installCommand() []string {
	return []string{contract.ImageInitPath, contract.SubcommandInstall, contract.InitPath}
}

// isOurInstall: graceful-install running the install command with the volume
// mounted at its path. Other fields (image, resources, defaults the API
// server added) may differ: an older webhook may have written them.
func isOurInstall(c *corev1.Container) bool {
	if c.Name != contract.InstallContainerName || !slices.Equal(c.Command, installCommand()) || isSidecar(c) {
		return false
	}
	for _, m := range c.VolumeMounts {
		if m.Name == contract.VolumeName && m.MountPath == contract.MountPath {
			return true
		}
	}
	return false
}

// checkConflicts returns an ErrConflict error when graceful's names are taken
// by something that is not graceful's.
func checkConflicts(pod *corev1.Pod, image string) error {
	for i := range pod.Spec.Volumes {
		if v := &pod.Spec.Volumes[i]; v.Name == contract.VolumeName && !isOurVolume(v, image) {
			return fmt.Errorf("%w: the pod already has a volume %q that is not graceful's (graceful's is an emptyDir on disk with sizeLimit %s, or an image volume of %s); rename it",
				ErrConflict, contract.VolumeName, contract.VolumeSizeLimit, repository(image))
		}
	}
	for i := range pod.Spec.InitContainers {
		if c := &pod.Spec.InitContainers[i]; c.Name == contract.InstallContainerName && !isOurInstall(c) {
			return fmt.Errorf("%w: the pod already has an init container %q that is not graceful's (graceful's runs %q with volume %q at %s); rename it",
				ErrConflict, contract.InstallContainerName, installCommand(), contract.VolumeName, contract.MountPath)
		}
	}
	for i := range pod.Spec.Containers {
		if pod.Spec.Containers[i].Name == contract.InstallContainerName {
			return fmt.Errorf("%w: the pod already has a container %q; rename it", ErrConflict, contract.InstallContainerName)
		}
	}
	for i := range pod.Spec.EphemeralContainers {
		if pod.Spec.EphemeralContainers[i].Name == contract.InstallContainerName {
			return fmt.Errorf("%w: the pod already has an ephemeral container %q; rename it", ErrConflict, contract.InstallContainerName)
		}
	}
	return nil
}

func ensureVolume(pod *corev1.Pod, cfg Config, mode string) {
	for _, v := range pod.Spec.Volumes {
		if v.Name == contract.VolumeName {
			return // checkConflicts made sure it is ours
		}
	}
	if mode == contract.DeliveryImageVolume {
		pod.Spec.Volumes = append(pod.Spec.Volumes, imageVolume(cfg.Image))
		return
	}
	pod.Spec.Volumes = append(pod.Spec.Volumes, volume())
}

func installContainer(cfg Config) corev1.Container {
	id := int64(contract.ImageUID)
	return corev1.Container{
		Name:            contract.InstallContainerName,
		Image:           cfg.Image,
		Command:         installCommand(),
		Resources:       cfg.resources(),
		VolumeMounts:    []corev1.VolumeMount{{Name: contract.VolumeName, MountPath: contract.MountPath}},
		ImagePullPolicy: corev1.PullIfNotPresent,
		SecurityContext: &corev1.SecurityContext{
			RunAsNonRoot:             new(true),
			RunAsUser:                &id,
			RunAsGroup:               &id,
			AllowPrivilegeEscalation: new(false),
			ReadOnlyRootFilesystem:   new(true),
			Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
			SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		},
	}
}

// ensureInstallContainer adds graceful-install in front of the init
// containers, or moves an existing one there: a native sidecar placed before
// it (by a later webhook) would start before graceful-init is installed.
func ensureInstallContainer(pod *corev1.Pod, cfg Config) {
	inits := pod.Spec.InitContainers
	i := slices.IndexFunc(inits, func(c corev1.Container) bool { return c.Name == contract.InstallContainerName })
	switch {
	case i == 0:
		return
	case i > 0:
		c := inits[i]
		copy(inits[1:i+1], inits[:i])
		inits[0] = c
	default:
		pod.Spec.InitContainers = append([]corev1.Container{installContainer(cfg)}, inits...)
	}
}

// ParseStatus reads the value of graceful.dev/status.
func ParseStatus(s string) (Status, error) {
	var st Status
	if err := json.Unmarshal([]byte(s), &st); err != nil {
		return Status{}, fmt.Errorf("%s: %w", contract.AnnotationStatus, err)
	}
	return st, nil
}

// setStatus writes graceful.dev/status and the label graceful.dev/wrapped
// unless the status already lists exactly wrapped (then both stay as they
// are, version included: nothing changed).
func setStatus(pod *corev1.Pod, version string, wrapped []string) {
	if old, ok := pod.Annotations[contract.AnnotationStatus]; ok {
		if st, err := ParseStatus(old); err == nil && slices.Equal(st.Containers, wrapped) {
			return
		}
	}
	if pod.Labels == nil {
		pod.Labels = map[string]string{}
	}
	pod.Labels[contract.LabelWrapped] = contract.WrappedLabelValue(version)
	b, err := json.Marshal(Status{Version: version, Containers: wrapped})
	if err != nil {
		panic(fmt.Sprintf("rewrite: marshal status: %v", err)) // strings only: can not fail
	}
	if pod.Annotations == nil {
		pod.Annotations = map[string]string{}
	}
	pod.Annotations[contract.AnnotationStatus] = string(b)
}
