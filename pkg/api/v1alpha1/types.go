package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// GroupVersion is the API group and version of ShutdownPolicy.
var GroupVersion = schema.GroupVersion{Group: "graceful.dev", Version: "v1alpha1"}

// PolicyMode says how a ShutdownPolicy ranks against a pod's own opt-in or
// opt-out (see pkg/inject/decision and "Who gets injected" in
// docs/reference.md).
// +kubebuilder:validation:Enum=Enforce;Default;Audit
type PolicyMode string

const (
	// ModeEnforce injects every selected pod, overruling an opt-out annotation.
	ModeEnforce PolicyMode = "Enforce"
	// ModeDefault injects selected pods unless the pod or its namespace says otherwise.
	ModeDefault PolicyMode = "Default"
	// ModeAudit injects nothing: a pod it selects, where a Default policy
	// would have injected it, is admitted unchanged with a warning saying
	// what would have been wrapped and how.
	ModeAudit PolicyMode = "Audit"
)

// ShutdownPolicySpec selects pods and sets their shutdown defaults.
type ShutdownPolicySpec struct {
	// Mode is Enforce, Default (the default when absent) or Audit.
	// +kubebuilder:default=Default
	// +optional
	Mode PolicyMode `json:"mode,omitempty"`

	// NamespaceSelector selects the namespaces whose pods this policy covers.
	// Empty or absent selects every namespace.
	// +optional
	NamespaceSelector *metav1.LabelSelector `json:"namespaceSelector,omitempty"`

	// PodSelector selects pods by their labels. Empty or absent selects every pod.
	// +optional
	PodSelector *metav1.LabelSelector `json:"podSelector,omitempty"`

	// Containers names the containers to wrap. Empty means every regular
	// container and native sidecar. The pod annotation graceful.dev/containers
	// overrides it.
	// +optional
	// +listType=set
	Containers []string `json:"containers,omitempty"`

	// DrainDelay is the default --drain-delay; graceful.dev/drain-delay overrides it.
	// +optional
	DrainDelay *metav1.Duration `json:"drainDelay,omitempty"`

	// SignalMap is the default --signal-map (FROM=TO[,...]);
	// graceful.dev/signal-map overrides it.
	// +optional
	SignalMap string `json:"signalMap,omitempty"`
}

// ShutdownPolicyStatus reports whether the webhook could use the policy.
type ShutdownPolicyStatus struct {
	// Conditions: Ready is True when the webhook can use the policy, False
	// with reason InvalidSelector or InvalidMode (and the parse error) when it
	// can not; such a policy selects no pod.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// ShutdownPolicy selects pods for graceful-init injection cluster-wide.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=sdp
// +kubebuilder:printcolumn:name="Mode",type=string,JSONPath=`.spec.mode`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type ShutdownPolicy struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   ShutdownPolicySpec   `json:"spec,omitempty"`
	Status ShutdownPolicyStatus `json:"status,omitempty"`
}

// ShutdownPolicyList is a list of ShutdownPolicy.
// +kubebuilder:object:root=true
type ShutdownPolicyList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ShutdownPolicy `json:"items"`
}

// AddToScheme registers the types of this package with a scheme.
func AddToScheme(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion, &ShutdownPolicy{}, &ShutdownPolicyList{})
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}
