// Package imageconfig looks up an image's ENTRYPOINT and CMD in its registry,
// which the pod rewrite needs for containers that set no command.
//
// Contract:
//   - Multi-platform indexes are resolved for the pod's platform
//     (PlatformFor: linux/amd64 unless the pod pins os/arch by nodeSelector or
//     a single-valued required node affinity).
//   - Answers are cached: an image config by its digest for as long as it
//     stays in the LRU (a digest never changes); a tag's digest for TagTTL.
//     Errors are not cached.
//   - Errors name the image and the cause (unauthorized, not found, no
//     variant for the platform, deadline).
//   - The keychain is per call: the webhook builds it from the pod's pull
//     secrets, the offline injector uses the local docker config. Cached
//     answers are shared between callers: a pod that may not pull a private
//     image can learn its ENTRYPOINT and CMD from the cache, and still fails
//     to pull the image itself.
package imageconfig

import (
	"container/list"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	corev1 "k8s.io/api/core/v1"
)

// Config is the part of an image config the rewrite needs.
type Config struct {
	Entrypoint, Cmd []string
	// Digest of the platform image the config came from.
	Digest string
}

// Options configure a Resolver.
type Options struct {
	// Insecure lists registries (host or host:port) reached over plain HTTP.
	Insecure []string
	// Transport carries requests; nil means remote.DefaultTransport. Use
	// TransportWithCA for a private CA.
	Transport http.RoundTripper
	// CacheSize is the number of configs kept (LRU); 0 means 1024.
	CacheSize int
	// TagTTL is how long a tag's digest is trusted; 0 means 5 minutes.
	TagTTL time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Stats counts cache use, for metrics.
type Stats struct{ Hits, Misses uint64 }

// Resolver looks up image configs. It is safe for concurrent use.
type Resolver struct {
	o Options

	mu      sync.Mutex
	configs *lru                 // digest@platform → Config
	tags    map[string]tagDigest // ref@platform → digest
	stats   Stats
}

type tagDigest struct {
	digest  string
	expires time.Time
}

// New returns a Resolver.
func New(o Options) *Resolver {
	if o.CacheSize <= 0 {
		o.CacheSize = 1024
	}
	if o.TagTTL <= 0 {
		o.TagTTL = 5 * time.Minute
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Transport == nil {
		o.Transport = remote.DefaultTransport
	}
	return &Resolver{o: o, configs: newLRU(o.CacheSize), tags: map[string]tagDigest{}}
}

// Stats returns the cache counters.
func (r *Resolver) Stats() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stats
}

// Resolve returns the ENTRYPOINT and CMD of ref for platform.
func (r *Resolver) Resolve(ctx context.Context, ref string, platform v1.Platform, kc authn.Keychain) (Config, error) {
	var opts []name.Option
	if r.insecure(ref) {
		opts = append(opts, name.Insecure)
	}
	pr, err := name.ParseReference(ref, opts...)
	if err != nil {
		return Config{}, fmt.Errorf("image %s: %w", ref, err)
	}
	key := func(d string) string { return d + "@" + platform.String() }

	// A digest reference, or a tag whose digest is still trusted, may be in the cache.
	digest := ""
	if d, ok := pr.(name.Digest); ok {
		digest = d.DigestStr()
	} else {
		r.mu.Lock()
		if td, ok := r.tags[key(pr.String())]; ok && r.o.Now().Before(td.expires) {
			digest = td.digest
		}
		r.mu.Unlock()
	}
	if digest != "" {
		r.mu.Lock()
		c, ok := r.configs.get(key(digest))
		if ok {
			r.stats.Hits++
		}
		r.mu.Unlock()
		if ok {
			return c, nil
		}
	}
	r.mu.Lock()
	r.stats.Misses++
	r.mu.Unlock()

	if kc == nil {
		kc = authn.NewMultiKeychain()
	}
	ropts := []remote.Option{remote.WithContext(ctx), remote.WithAuthFromKeychain(kc), remote.WithTransport(r.o.Transport), remote.WithPlatform(platform)}
	desc, err := remote.Get(pr, ropts...)
	if err != nil {
		return Config{}, fmt.Errorf("image %s: %w", ref, explain(ctx, err))
	}
	indexDigest := desc.Digest.String()
	var img v1.Image
	if desc.MediaType.IsIndex() {
		idx, err := desc.ImageIndex()
		if err != nil {
			return Config{}, fmt.Errorf("image %s: %w", ref, err)
		}
		img, err = pick(idx, platform)
		if err != nil {
			return Config{}, fmt.Errorf("image %s: %w", ref, err)
		}
	} else {
		img, err = desc.Image()
		if err != nil {
			return Config{}, fmt.Errorf("image %s: %w", ref, err)
		}
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return Config{}, fmt.Errorf("image %s: config: %w", ref, explain(ctx, err))
	}
	d, err := img.Digest()
	if err != nil {
		return Config{}, fmt.Errorf("image %s: %w", ref, err)
	}
	if !desc.MediaType.IsIndex() && cf.OS != "" && (cf.OS != platform.OS || cf.Architecture != platform.Architecture) {
		return Config{}, fmt.Errorf("image %s is %s/%s, the pod runs on %s", ref, cf.OS, cf.Architecture, platform)
	}
	c := Config{Entrypoint: cf.Config.Entrypoint, Cmd: cf.Config.Cmd, Digest: d.String()}

	r.mu.Lock()
	r.configs.put(key(indexDigest), c)
	if _, isDigest := pr.(name.Digest); !isDigest {
		r.tags[key(pr.String())] = tagDigest{digest: indexDigest, expires: r.o.Now().Add(r.o.TagTTL)}
	}
	r.mu.Unlock()
	return c, nil
}

// pick chooses the image for platform from an index, or says which platforms there are.
func pick(idx v1.ImageIndex, platform v1.Platform) (v1.Image, error) {
	m, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	var have []string
	for _, d := range m.Manifests {
		if d.Platform == nil || !(d.MediaType == types.OCIManifestSchema1 || d.MediaType == types.DockerManifestSchema2) {
			continue
		}
		if d.Platform.Satisfies(platform) {
			return idx.Image(d.Digest)
		}
		if d.Platform.OS != "unknown" { // attestation manifests
			have = append(have, d.Platform.String())
		}
	}
	return nil, fmt.Errorf("no %s variant (has: %s)", platform, strings.Join(have, ", "))
}

func (r *Resolver) insecure(ref string) bool {
	host, _, _ := strings.Cut(ref, "/")
	return slices.Contains(r.o.Insecure, host)
}

// explain turns a deadline into words; other errors (the registry's own,
// e.g. UNAUTHORIZED or MANIFEST_UNKNOWN) pass through as they are.
func explain(ctx context.Context, err error) error {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("lookup deadline exceeded: %w", err)
	}
	return err
}

// PlatformFor is the platform the pod's containers will run on: linux/amd64
// unless the pod pins the OS or architecture with a nodeSelector or a
// required node affinity term with a single value.
func PlatformFor(pod *corev1.Pod) v1.Platform {
	p := v1.Platform{OS: "linux", Architecture: "amd64"}
	if pod == nil {
		return p
	}
	if v := pod.Spec.NodeSelector[corev1.LabelOSStable]; v != "" {
		p.OS = v
	}
	if v := pod.Spec.NodeSelector[corev1.LabelArchStable]; v != "" {
		p.Architecture = v
	}
	if a := pod.Spec.Affinity; a != nil && a.NodeAffinity != nil && a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution != nil {
		terms := a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
		if len(terms) == 1 {
			for _, e := range terms[0].MatchExpressions {
				if e.Operator != corev1.NodeSelectorOpIn || len(e.Values) != 1 {
					continue
				}
				switch e.Key {
				case corev1.LabelOSStable:
					p.OS = e.Values[0]
				case corev1.LabelArchStable:
					p.Architecture = e.Values[0]
				}
			}
		}
	}
	return p
}

// lru is a small least-recently-used map.
type lru struct {
	max   int
	order *list.List // front: newest
	items map[string]*list.Element
}

type entry struct {
	key string
	val Config
}

func newLRU(max int) *lru {
	return &lru{max: max, order: list.New(), items: map[string]*list.Element{}}
}

func (l *lru) get(k string) (Config, bool) {
	e, ok := l.items[k]
	if !ok {
		return Config{}, false
	}
	l.order.MoveToFront(e)
	return e.Value.(*entry).val, true
}

func (l *lru) put(k string, v Config) {
	if e, ok := l.items[k]; ok {
		e.Value.(*entry).val = v
		l.order.MoveToFront(e)
		return
	}
	l.items[k] = l.order.PushFront(&entry{k, v})
	if l.order.Len() > l.max {
		old := l.order.Back()
		l.order.Remove(old)
		delete(l.items, old.Value.(*entry).key)
	}
}

// TransportWithCA returns a transport that also trusts the PEM certificates
// in the file at pemPath (a private registry's CA).
func TransportWithCA(pemPath string) (http.RoundTripper, error) {
	pem, err := os.ReadFile(pemPath)
	if err != nil {
		return nil, fmt.Errorf("registry CA bundle: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("registry CA bundle %s: no PEM certificate in it", pemPath)
	}
	t := remote.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return t, nil
}
