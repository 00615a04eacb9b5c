package server

// The RBAC graceful-webhook serve needs, and nothing more. These markers are
// the one source: `make generate` turns them into config/rbac/role.yaml
// (controller-gen), and test/chart requires the chart's rules to equal
// them. Caches read with list and watch only; the namespace of the Role is
// the webhook's own (the chart's release namespace).

// The decision's inputs, read from the manager's cache, and the policy
// status controller's writes.
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=list;watch
// +kubebuilder:rbac:groups=graceful.dev,resources=shutdownpolicies,verbs=list;watch
// +kubebuilder:rbac:groups=graceful.dev,resources=shutdownpolicies/status,verbs=update

// Pull credentials of the pods whose images are looked up: their
// imagePullSecrets and their service account's, read with get when a
// lookup misses the image config cache; never listed or watched.
// +kubebuilder:rbac:groups="",resources=secrets;serviceaccounts,verbs=get

// Events on the controller of a pod whose container was skipped
// (events.k8s.io: create, and patch for a series).
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// The fleet controllers (driftController, on the leader): every pod's
// metadata and the wrapped pods' statuses (list and watch), a drifting pod
// read in full once (get), and the workload walk (ReplicaSets and Jobs,
// metadata only). Their Events use the events.k8s.io rule above.
// +kubebuilder:rbac:groups="",resources=pods,verbs=get;list;watch
// +kubebuilder:rbac:groups=apps,resources=replicasets,verbs=list;watch
// +kubebuilder:rbac:groups=batch,resources=jobs,verbs=list;watch

// Rotate mode: the rotator's and the certificate sync's caches of webhook
// configurations, and the rotator's caBundle update of its own one.
// +kubebuilder:rbac:groups=admissionregistration.k8s.io,resources=mutatingwebhookconfigurations,verbs=list;watch
// +kubebuilder:rbac:groups=admissionregistration.k8s.io,resources=mutatingwebhookconfigurations,verbs=update,resourceNames=graceful-webhook

// Authentication and authorization of /metrics callers (metricsSecure):
// a TokenReview of the bearer token, a SubjectAccessReview of GET /metrics.
// +kubebuilder:rbac:groups=authentication.k8s.io,resources=tokenreviews,verbs=create
// +kubebuilder:rbac:groups=authorization.k8s.io,resources=subjectaccessreviews,verbs=create

// In its own namespace. Rotate mode: the certificate Secret (the caches
// list and watch; the sync creates it, the rotator updates it).
// +kubebuilder:rbac:groups="",namespace=graceful-system,resources=secrets,verbs=list;watch;create;update

// Leader election (leaderElection): the Lease (client-go's lease lock gets,
// creates and updates it) and the core Events it records on it.
// +kubebuilder:rbac:groups=coordination.k8s.io,namespace=graceful-system,resources=leases,verbs=get;create;update
// +kubebuilder:rbac:groups="",namespace=graceful-system,resources=events,verbs=create;patch
