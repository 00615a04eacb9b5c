// Package imageconfig looks up an image's ENTRYPOINT, CMD and STOPSIGNAL in
// its registry, which the pod rewrite needs: the entrypoint for containers
// that set no command, the stop signal for containers that set no
// lifecycle.stopSignal.
//
// Contract:
//   - Multi-platform indexes are resolved for the pod's platform
//     (PlatformFor: linux/amd64 unless the pod pins its OS or architecture).
//     A single-platform image answers for every platform: it has only one
//     config, and whether it can run on the pod's node is the kubelet's
//     business, not the rewrite's.
//   - Answers are cached: an image config by its digest (and platform) for as
//     long as it stays in the LRU, because a digest never changes; a tag's
//     digest for TagTTL. Errors are not cached. Concurrent lookups of the same
//     reference share one registry round trip when it succeeds.
//   - Errors name the image and wrap the cause; errors.Is tells ErrUnauthorized,
//     ErrNotFound, ErrNoPlatform and context.DeadlineExceeded apart.
//   - The keychain is per call: the webhook builds it from the pod's pull
//     secrets, the offline injector uses the local docker config. Cached
//     answers are shared between callers: a pod that may not pull a private
//     image can learn its ENTRYPOINT and CMD from the cache, and still fails
//     to pull the image itself.
//   - Plain HTTP: go-containerregistry already falls back to http for
//     localhost, *.localhost, 127.0.0.1, ::1 and RFC 1918 addresses; every
//     other registry speaking plain HTTP must be listed in Options.Insecure.
package imageconfig

import (
	"container/list"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
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
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/types"
	corev1 "k8s.io/api/core/v1"

	"github.com/graceful-dev/graceful/pkg/inject/rewrite"
	"github.com/graceful-dev/graceful/pkg/version"
)

// Causes that Resolve's errors wrap, for errors.Is.
var (
	// ErrUnauthorized: the registry refused the credentials (401 or 403).
	ErrUnauthorized = errors.New("unauthorized")
	// ErrNotFound: no such repository, tag or digest.
	ErrNotFound = errors.New("not found")
	// ErrNoPlatform: an index without a variant for the requested platform.
	ErrNoPlatform = errors.New("no matching platform")
)

// Config is the part of an image config the rewrite needs, and where it
// came from.
type Config struct {
	rewrite.ImageConfig
	// Digest of the platform image the config came from.
	Digest string
}

// Options configure a Resolver. The zero value is usable.
type Options struct {
	// Insecure lists registries reached over plain HTTP: "host:port" for
	// that port only, "host" for every port of the host.
	Insecure []string
	// Transport carries requests; nil means remote.DefaultTransport. Use
	// TransportWithCA for a private CA.
	Transport http.RoundTripper
	// CacheSize is the number of configs kept (LRU), and also the number of
	// tags; 0 means 1024.
	CacheSize int
	// TagTTL is how long a tag's digest is trusted; 0 means 5 minutes.
	TagTTL time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Stats counts lookups, for metrics: a hit needed no registry request
// (cached, or shared with a concurrent lookup), a miss went to the registry.
type Stats struct{ Hits, Misses uint64 }

// Resolver looks up image configs. It is safe for concurrent use.
type Resolver struct {
	o Options

	mu       sync.Mutex
	configs  *lru[Config]    // digest@platform → Config
	tags     *lru[tagDigest] // tag reference → digest of what it pointed to
	inflight map[string]*flight
	stats    Stats
}

type tagDigest struct {
	digest  string
	expires time.Time
}

// flight is a registry lookup in progress; done is closed when c and err are set.
type flight struct {
	done chan struct{}
	c    Config
	err  error
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
	return &Resolver{o: o, configs: newLRU[Config](o.CacheSize), tags: newLRU[tagDigest](o.CacheSize), inflight: map[string]*flight{}}
}

// Stats returns the counters.
func (r *Resolver) Stats() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stats
}

// Resolve returns the ENTRYPOINT, CMD and STOPSIGNAL of the image ref (a tag or digest
// reference, as in a container's image field) for platform, looking it up
// with the credentials of kc (nil: anonymous). ctx bounds the registry
// round trips.
func (r *Resolver) Resolve(ctx context.Context, ref string, platform v1.Platform, kc authn.Keychain) (Config, error) {
	pr, err := r.parse(ref)
	if err != nil {
		return Config{}, fmt.Errorf("image %q: %w", ref, err)
	}
	_, isDigest := pr.(name.Digest)

	// What to fetch: a digest reference as it is; a tag whose digest is
	// still trusted by that digest, so that every platform sees the same
	// index; any other tag by the tag (and then its digest is remembered).
	fetch, byTag := pr, !isDigest
	r.mu.Lock()
	if byTag {
		if td, ok := r.tags.get(pr.String()); ok && r.o.Now().Before(td.expires) {
			fetch, byTag = pr.Context().Digest(td.digest), false
		}
	}
	if d, ok := fetch.(name.Digest); ok {
		if c, ok := r.configs.get(configKey(d.DigestStr(), platform)); ok {
			r.stats.Hits++
			r.mu.Unlock()
			return c, nil
		}
	}
	fkey := fetch.String() + "@" + platform.String()
	f, following := r.inflight[fkey]
	if !following {
		f = &flight{done: make(chan struct{})}
		r.inflight[fkey] = f
	}
	r.mu.Unlock()

	if following {
		select {
		case <-f.done:
		case <-ctx.Done():
			return Config{}, wrap(ref, explain(ctx, ctx.Err()))
		}
		if f.err == nil {
			r.mu.Lock()
			r.stats.Hits++
			r.mu.Unlock()
			return f.c, nil
		}
		// The other lookup failed, perhaps for want of this caller's
		// credentials or because its own context ended: try ourselves.
		c, err := r.lookup(ctx, pr, fetch, byTag, platform, kc)
		return c, wrap(ref, err)
	}
	f.c, f.err = r.lookup(ctx, pr, fetch, byTag, platform, kc)
	r.mu.Lock()
	delete(r.inflight, fkey)
	r.mu.Unlock()
	close(f.done)
	return f.c, wrap(ref, f.err)
}

// lookup fetches fetch from the registry and caches the answer; byTag says
// fetch is the tag pr itself, whose digest is then remembered for TagTTL.
func (r *Resolver) lookup(ctx context.Context, pr, fetch name.Reference, byTag bool, platform v1.Platform, kc authn.Keychain) (Config, error) {
	r.mu.Lock()
	r.stats.Misses++
	r.mu.Unlock()
	c, digest, err := r.fetch(ctx, fetch, platform, kc)
	if _, isDigest := pr.(name.Digest); err != nil && errors.Is(err, ErrNotFound) && !byTag && !isDigest {
		// The digest remembered for the tag is gone (deleted, garbage
		// collected): ask for the tag again.
		byTag = true
		c, digest, err = r.fetch(ctx, pr, platform, kc)
	}
	if err != nil {
		return Config{}, err
	}
	r.mu.Lock()
	r.configs.put(configKey(digest, platform), c)
	if byTag {
		r.tags.put(pr.String(), tagDigest{digest: digest, expires: r.o.Now().Add(r.o.TagTTL)})
	}
	r.mu.Unlock()
	return c, nil
}

func configKey(digest string, platform v1.Platform) string {
	return digest + "@" + platform.String()
}

// wrap names the image in err; nil stays nil.
func wrap(ref string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrNoPlatform):
		return fmt.Errorf("image %s %w", ref, err) // "image X has no linux/arm64 variant (...)"
	default:
		return fmt.Errorf("image %s: %w", ref, err)
	}
}

// parse parses ref, as insecure when its registry is listed in Options.Insecure.
func (r *Resolver) parse(ref string) (name.Reference, error) {
	pr, err := name.ParseReference(ref)
	if err != nil || len(r.o.Insecure) == 0 {
		return pr, err
	}
	reg := pr.Context().RegistryStr()
	host := reg
	if h, _, err := net.SplitHostPort(reg); err == nil {
		host = h
	}
	if slices.Contains(r.o.Insecure, reg) || slices.Contains(r.o.Insecure, host) {
		return name.ParseReference(ref, name.Insecure)
	}
	return pr, nil
}

// fetch reads the config of ref for platform from the registry. digest is
// that of what ref names (the index, for an index), the cache key.
func (r *Resolver) fetch(ctx context.Context, ref name.Reference, platform v1.Platform, kc authn.Keychain) (c Config, digest string, err error) {
	if kc == nil {
		kc = authn.NewMultiKeychain() // anonymous
	}
	desc, err := remote.Get(ref,
		remote.WithContext(ctx),
		remote.WithAuthFromKeychain(kc),
		remote.WithTransport(r.o.Transport),
		remote.WithPlatform(platform),
		remote.WithUserAgent("graceful/"+version.Version))
	if err != nil {
		// net/http does not export this error; the hint saves a puzzled user a search.
		if reg := ref.Context().Registry; reg.Scheme() == "https" && strings.Contains(err.Error(), "server gave HTTP response to HTTPS client") {
			return Config{}, "", fmt.Errorf("%w (registry %s speaks plain HTTP: list it as insecure)", err, reg.RegistryStr())
		}
		return Config{}, "", explain(ctx, err)
	}
	var img v1.Image
	if desc.MediaType.IsIndex() {
		idx, err := desc.ImageIndex()
		if err != nil {
			return Config{}, "", explain(ctx, err)
		}
		if img, err = pick(idx, platform); err != nil {
			return Config{}, "", explain(ctx, err)
		}
	} else if img, err = desc.Image(); err != nil {
		return Config{}, "", explain(ctx, err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return Config{}, "", fmt.Errorf("config: %w", explain(ctx, err))
	}
	d, err := img.Digest()
	if err != nil {
		return Config{}, "", explain(ctx, err)
	}
	ic := rewrite.ImageConfig{Entrypoint: cf.Config.Entrypoint, Cmd: cf.Config.Cmd, StopSignal: cf.Config.StopSignal}
	return Config{ImageConfig: ic, Digest: d.String()}, desc.Digest.String(), nil
}

// pick chooses the image for platform from an index, or says which platforms there are.
func pick(idx v1.ImageIndex, platform v1.Platform) (v1.Image, error) {
	m, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	var have []string
	for _, d := range m.Manifests {
		if d.Platform == nil || d.MediaType != types.OCIManifestSchema1 && d.MediaType != types.DockerManifestSchema2 {
			continue
		}
		if d.Platform.Satisfies(platform) {
			return idx.Image(d.Digest)
		}
		if d.Platform.OS != "unknown" { // attestation manifests, not runnable
			have = append(have, d.Platform.String())
		}
	}
	return nil, &noPlatformError{want: platform, have: have}
}

// noPlatformError is ErrNoPlatform with the platforms that are there.
type noPlatformError struct {
	want v1.Platform
	have []string
}

func (e *noPlatformError) Error() string {
	if len(e.have) == 0 {
		return fmt.Sprintf("has no %s variant (has no platform images at all)", e.want)
	}
	return fmt.Sprintf("has no %s variant (has: %s)", e.want, strings.Join(e.have, ", "))
}

func (e *noPlatformError) Is(target error) bool { return target == ErrNoPlatform }

// explain wraps err with the cause that callers branch on: a context that
// ended, a refusal of the credentials, or a missing repository or manifest.
func explain(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		if errors.Is(err, ctx.Err()) {
			return fmt.Errorf("lookup ended early: %w", err)
		}
		return fmt.Errorf("lookup ended early: %w: %w", ctx.Err(), err)
	}
	var te *transport.Error
	if !errors.As(err, &te) {
		return err
	}
	switch te.StatusCode {
	case http.StatusUnauthorized, http.StatusForbidden:
		return fmt.Errorf("%w: %w", ErrUnauthorized, err)
	case http.StatusNotFound:
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	for _, d := range te.Errors {
		switch d.Code {
		case transport.UnauthorizedErrorCode, transport.DeniedErrorCode:
			return fmt.Errorf("%w: %w", ErrUnauthorized, err)
		case transport.ManifestUnknownErrorCode, transport.NameUnknownErrorCode, transport.BlobUnknownErrorCode:
			return fmt.Errorf("%w: %w", ErrNotFound, err)
		}
	}
	return err
}

// PlatformFor is the platform the pod's containers will run on: linux/amd64
// unless the pod pins the OS (spec.os.name, or the label kubernetes.io/os)
// or the architecture (the label kubernetes.io/arch) to exactly one value,
// by its nodeSelector or by its required node affinity (every term pinning
// the same value, since terms are alternatives).
func PlatformFor(pod *corev1.Pod) v1.Platform {
	p := v1.Platform{OS: "linux", Architecture: "amd64"}
	if pod == nil {
		return p
	}
	if v, ok := affinityPins(pod, corev1.LabelOSStable); ok {
		p.OS = v
	}
	if v, ok := affinityPins(pod, corev1.LabelArchStable); ok {
		p.Architecture = v
	}
	if v := pod.Spec.NodeSelector[corev1.LabelOSStable]; v != "" {
		p.OS = v
	}
	if v := pod.Spec.NodeSelector[corev1.LabelArchStable]; v != "" {
		p.Architecture = v
	}
	if pod.Spec.OS != nil && pod.Spec.OS.Name != "" {
		p.OS = string(pod.Spec.OS.Name)
	}
	return p
}

// affinityPins returns the single value that every required node affinity
// term allows for the node label key, if there is one.
func affinityPins(pod *corev1.Pod, key string) (string, bool) {
	a := pod.Spec.Affinity
	if a == nil || a.NodeAffinity == nil || a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return "", false
	}
	terms := a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
	pinned := ""
	for _, t := range terms {
		v := ""
		for _, e := range t.MatchExpressions {
			if e.Key == key && e.Operator == corev1.NodeSelectorOpIn && len(e.Values) == 1 {
				v = e.Values[0]
			}
		}
		if v == "" || (pinned != "" && v != pinned) {
			return "", false
		}
		pinned = v
	}
	return pinned, pinned != ""
}

// lru is a small least-recently-used map; the Resolver's mutex guards it.
type lru[V any] struct {
	max   int
	order *list.List // front: newest; values are *entry[V]
	items map[string]*list.Element
}

type entry[V any] struct {
	key string
	val V
}

func newLRU[V any](max int) *lru[V] {
	return &lru[V]{max: max, order: list.New(), items: map[string]*list.Element{}}
}

func (l *lru[V]) get(k string) (V, bool) {
	e, ok := l.items[k]
	if !ok {
		var zero V
		return zero, false
	}
	l.order.MoveToFront(e)
	return e.Value.(*entry[V]).val, true
}

func (l *lru[V]) put(k string, v V) {
	if e, ok := l.items[k]; ok {
		e.Value.(*entry[V]).val = v
		l.order.MoveToFront(e)
		return
	}
	l.items[k] = l.order.PushFront(&entry[V]{k, v})
	if l.order.Len() > l.max {
		old := l.order.Back()
		l.order.Remove(old)
		delete(l.items, old.Value.(*entry[V]).key)
	}
}

// TransportWithCA returns a transport that trusts the system's CAs and the
// PEM certificates in the file at pemPath (a private registry's CA).
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
