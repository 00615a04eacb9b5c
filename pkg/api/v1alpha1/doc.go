// Package v1alpha1 holds the graceful.dev/v1alpha1 API: ShutdownPolicy, a
// cluster-scoped object that selects pods for injection and sets their
// shutdown defaults.
//
// +kubebuilder:object:generate=true
// +groupName=graceful.dev
package v1alpha1
