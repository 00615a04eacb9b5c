package admit

import (
	"context"
	"fmt"
	"sync"

	"github.com/google/go-containerregistry/pkg/authn"
	kauth "github.com/google/go-containerregistry/pkg/authn/kubernetes"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// podKeychain is the pod's registry credentials: the dockerconfigjson (or
// dockercfg) secrets named in its imagePullSecrets and in its service
// account's. It reads them on first use only, so lookups answered from the
// image config cache never touch the API. Missing secrets and a missing
// service account are ignored, as the kubelet ignores them.
type podKeychain struct {
	ctx    context.Context
	reader client.Reader
	pod    *corev1.Pod

	once sync.Once
	kc   authn.Keychain
	err  error
}

func newPodKeychain(ctx context.Context, reader client.Reader, pod *corev1.Pod) *podKeychain {
	return &podKeychain{ctx: ctx, reader: reader, pod: pod}
}

// Resolve implements authn.Keychain.
func (k *podKeychain) Resolve(target authn.Resource) (authn.Authenticator, error) {
	k.once.Do(func() { k.kc, k.err = k.load() })
	if k.err != nil {
		return nil, k.err
	}
	return k.kc.Resolve(target)
}

func (k *podKeychain) load() (authn.Keychain, error) {
	if k.reader == nil {
		return authn.NewMultiKeychain(), nil
	}
	ns := k.pod.Namespace
	var names []string
	for _, r := range k.pod.Spec.ImagePullSecrets {
		names = append(names, r.Name)
	}
	sa := k.pod.Spec.ServiceAccountName
	if sa == "" {
		sa = "default"
	}
	var acct corev1.ServiceAccount
	switch err := k.reader.Get(k.ctx, types.NamespacedName{Namespace: ns, Name: sa}, &acct); {
	case err == nil:
		for _, r := range acct.ImagePullSecrets {
			names = append(names, r.Name)
		}
	case apierrors.IsNotFound(err):
	default:
		return nil, fmt.Errorf("reading service account %s/%s for its pull secrets: %w", ns, sa, err)
	}
	var secrets []corev1.Secret
	seen := map[string]bool{}
	for _, n := range names {
		if n == "" || seen[n] {
			continue
		}
		seen[n] = true
		var s corev1.Secret
		switch err := k.reader.Get(k.ctx, types.NamespacedName{Namespace: ns, Name: n}, &s); {
		case err == nil:
			secrets = append(secrets, s)
		case apierrors.IsNotFound(err):
		default:
			return nil, fmt.Errorf("reading pull secret %s/%s: %w", ns, n, err)
		}
	}
	kc, err := kauth.NewFromPullSecrets(k.ctx, secrets)
	if err != nil {
		return nil, fmt.Errorf("pull secrets of pod in %s: %w", ns, err)
	}
	return kc, nil
}
