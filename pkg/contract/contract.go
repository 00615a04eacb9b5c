// Package contract holds the names that graceful-webhook writes into pods and
// graceful-init reads back: annotation and label keys, the shared volume and
// its paths, and the init's flag names. Both sides import these constants so
// the two can not drift apart silently (docs/design.md, "The contract
// between webhook and init").
package contract

// Prefix of every annotation and label graceful owns.
const Prefix = "graceful.dev/"

// Annotations and labels.
const (
	// AnnotationInject on a pod opts it in ("true") or out ("false").
	AnnotationInject = Prefix + "inject"
	// LabelInject on a namespace opts its pods in ("enabled") or out ("disabled").
	LabelInject = Prefix + "inject"
	// AnnotationStatus is written by the webhook: JSON {"version":..,"containers":[..]}.
	AnnotationStatus = Prefix + "status"
	// AnnotationContainers is a comma-separated list of containers to wrap.
	AnnotationContainers = Prefix + "containers"
	// AnnotationDrainDelay is a Go duration passed as --drain-delay.
	AnnotationDrainDelay = Prefix + "drain-delay"
	// AnnotationSignalMap is FROM=TO[,...] passed as --signal-map.
	AnnotationSignalMap = Prefix + "signal-map"
	// LabelWrapped is written by the webhook next to AnnotationStatus, with
	// the version that wrapped the pod as its value (WrappedLabelValue). A
	// label, not an annotation, because the API server can select on it: the
	// drift controller watches only the wrapped pods in full, and
	// `kubectl get pods -l '!graceful.dev/wrapped'` lists the others.
	LabelWrapped = Prefix + "wrapped"
	// AnnotationDelivery on a pod picks how graceful-init reaches it
	// (DeliveryInitContainer or DeliveryImageVolume), over the webhook's
	// cluster-wide default.
	AnnotationDelivery = Prefix + "delivery"
	// LabelImageVolume "true" on a node says its runtime mounts image
	// volumes; the default node label the imageVolume delivery requires.
	LabelImageVolume = Prefix + "image-volume"
)

// Values of AnnotationDelivery and of the webhook's --delivery flag.
const (
	// DeliveryInitContainer: the init container graceful-install copies
	// graceful-init into an emptyDir volume.
	DeliveryInitContainer = "initContainer"
	// DeliveryImageVolume: the graceful image itself is the volume (a
	// Kubernetes image volume, read-only), no init container.
	DeliveryImageVolume = "imageVolume"
)

// WrappedLabelValue is version as a label value: at most 63 characters,
// those outside [A-Za-z0-9._-] replaced by "_" (a semver build "+meta"),
// starting and ending with an alphanumeric (else trimmed; "unknown" when
// nothing is left). The status annotation keeps the version as it is.
func WrappedLabelValue(version string) string {
	alnum := func(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' }
	b := []byte(version)
	for i, c := range b {
		if !alnum(c) && c != '.' && c != '_' && c != '-' {
			b[i] = '_'
		}
	}
	if len(b) > 63 {
		b = b[:63]
	}
	for len(b) > 0 && !alnum(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && !alnum(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	if len(b) == 0 {
		return "unknown"
	}
	return string(b)
}

// Values of AnnotationInject and LabelInject.
const (
	InjectTrue        = "true"
	InjectFalse       = "false"
	NamespaceEnabled  = "enabled"
	NamespaceDisabled = "disabled"
)

// The shared volume and the paths inside it.
const (
	VolumeName           = "graceful-bin"
	VolumeSizeLimit      = "16Mi"
	InstallContainerName = "graceful-install"
	// MountPath is where the volume is mounted in the install and app containers.
	MountPath = "/graceful/bin"
	// InitPath is the wrapped containers' command[0].
	InitPath = MountPath + "/graceful-init"
	// ImageInitPath is graceful-init inside the graceful image.
	ImageInitPath = "/usr/local/bin/graceful-init"
	// ImageVolumeSubPath is the folder of the graceful image that an image
	// volume mounts at MountPath, so that graceful-init is at InitPath in
	// both deliveries: the folder of ImageInitPath, relative to the image root.
	ImageVolumeSubPath = "usr/local/bin"
	// ImageWebhookPath is graceful-webhook inside the graceful image.
	ImageWebhookPath = "/usr/local/bin/graceful-webhook"
	// ImageUID is the non-root user of the graceful image and install container.
	ImageUID = 65532
)

// graceful-init's subcommands and the flags the webhook passes.
const (
	SubcommandInstall = "install"
	SubcommandVersion = "version"
	FlagGracePeriod   = "--grace-period"
	FlagDrainDelay    = "--drain-delay"
	FlagSignalMap     = "--signal-map"
	// EndOfFlags separates graceful-init's flags from the wrapped argv.
	EndOfFlags = "--"
)

// SystemNamespaces returns the namespaces graceful never injects unless
// configured otherwise: Kubernetes' own.
func SystemNamespaces() []string {
	return []string{"kube-system", "kube-public", "kube-node-lease"}
}
