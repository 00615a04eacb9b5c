package imageconfig

import (
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	corev1 "k8s.io/api/core/v1"

	"github.com/graceful-dev/graceful/pkg/inject/rewrite"
)

var (
	amd64 = v1.Platform{OS: "linux", Architecture: "amd64"}
	arm64 = v1.Platform{OS: "linux", Architecture: "arm64"}
)

// testRegistry is a real registry (go-containerregistry's pkg/registry) on
// 127.0.0.1, optionally behind basic auth. It counts requests, can stall
// every request, and can hold manifest requests until gate is closed.
type testRegistry struct {
	host      string
	srv       *httptest.Server
	requests  atomic.Int64 // every request, the /v2/ ping included
	manifests atomic.Int64 // GET and HEAD of manifests
	stall     atomic.Bool
	gate      atomic.Pointer[chan struct{}]
}

func newRegistry(t testing.TB, user, pass string) *testRegistry {
	return startRegistry(t, user, pass, false)
}

func startRegistry(t testing.TB, user, pass string, tls bool) *testRegistry {
	t.Helper()
	tr := &testRegistry{}
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tr.requests.Add(1)
		if tr.stall.Load() {
			select {
			case <-r.Context().Done():
			case <-time.After(10 * time.Second):
			}
			return
		}
		if strings.Contains(r.URL.Path, "/manifests/") {
			tr.manifests.Add(1)
			if g := tr.gate.Load(); g != nil {
				<-*g
			}
		}
		if user != "" {
			if u, p, ok := r.BasicAuth(); !ok || u != user || p != pass {
				w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusUnauthorized)
				io.WriteString(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`)
				return
			}
		}
		reg.ServeHTTP(w, r)
	})
	tr.srv = httptest.NewUnstartedServer(h)
	tr.srv.Config.ErrorLog = log.New(io.Discard, "", 0) // TLS handshake failures are expected
	if tls {
		tr.srv.StartTLS()
	} else {
		tr.srv.Start()
	}
	t.Cleanup(tr.srv.Close)
	tr.host = strings.TrimPrefix(strings.TrimPrefix(tr.srv.URL, "http://"), "https://")
	return tr
}

// image is a random one-layer image with the given config and platform.
func image(t *testing.T, cfg v1.Config, p v1.Platform) v1.Image {
	t.Helper()
	img, err := random.Image(64, 1)
	if err != nil {
		t.Fatal(err)
	}
	layer, err := random.Layer(32, "application/vnd.oci.image.layer.v1.tar")
	if err != nil {
		t.Fatal(err)
	}
	if img, err = mutate.AppendLayers(img, layer); err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.Config = cfg
	cf.OS, cf.Architecture = p.OS, p.Architecture
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		t.Fatal(err)
	}
	return img
}

func digest(t *testing.T, img interface{ Digest() (v1.Hash, error) }) string {
	t.Helper()
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d.String()
}

func push(t *testing.T, ref string, img v1.Image, opts ...remote.Option) {
	t.Helper()
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, img, opts...); err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
}

// pushIndex pushes an index of amd64 and arm64 images with different
// entrypoints, plus an attestation manifest (platform unknown/unknown) as
// BuildKit writes them; it returns the three images.
func pushIndex(t *testing.T, ref, suffix string) (amdImg, armImg v1.Image) {
	t.Helper()
	amdImg = image(t, v1.Config{Entrypoint: []string{"/amd64" + suffix}}, amd64)
	armImg = image(t, v1.Config{Entrypoint: []string{"/arm64" + suffix}}, arm64)
	unknown := v1.Platform{OS: "unknown", Architecture: "unknown"}
	idx := mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: amdImg, Descriptor: v1.Descriptor{Platform: &amd64}},
		mutate.IndexAddendum{Add: armImg, Descriptor: v1.Descriptor{Platform: &arm64}},
		mutate.IndexAddendum{Add: image(t, v1.Config{}, unknown), Descriptor: v1.Descriptor{Platform: &unknown}},
	)
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(r, idx); err != nil {
		t.Fatalf("push index %s: %v", ref, err)
	}
	return amdImg, armImg
}

type staticKeychain struct{ user, pass string }

func (k staticKeychain) Resolve(authn.Resource) (authn.Authenticator, error) {
	return &authn.Basic{Username: k.user, Password: k.pass}, nil
}

func TestResolveTagAndDigest(t *testing.T) {
	reg := newRegistry(t, "", "")
	r := New(Options{}) // 127.0.0.1 gets plain HTTP without being listed as insecure
	ctx := context.Background()

	img := image(t, v1.Config{Entrypoint: []string{"/bin/app"}, Cmd: []string{"--serve", "--port=8080"}, StopSignal: "SIGQUIT"}, amd64)
	push(t, reg.host+"/team/app:1", img)
	want := Config{ImageConfig: rewrite.ImageConfig{Entrypoint: []string{"/bin/app"}, Cmd: []string{"--serve", "--port=8080"}, StopSignal: "SIGQUIT"}, Digest: digest(t, img)}

	c, err := r.Resolve(ctx, reg.host+"/team/app:1", amd64, nil)
	if err != nil || !reflect.DeepEqual(c, want) {
		t.Errorf("tag: %+v, %v; want %+v", c, err, want)
	}
	c, err = r.Resolve(ctx, reg.host+"/team/app@"+want.Digest, amd64, nil)
	if err != nil || !reflect.DeepEqual(c, want) {
		t.Errorf("digest reference: %+v, %v; want %+v", c, err, want)
	}
	// A single-platform image has one config, whatever the pod's platform.
	c, err = New(Options{}).Resolve(ctx, reg.host+"/team/app:1", arm64, nil)
	if err != nil || !reflect.DeepEqual(c, want) {
		t.Errorf("single-platform image for arm64: %+v, %v; want %+v", c, err, want)
	}
	// An image without ENTRYPOINT or CMD answers with empty slices, not an error.
	bare := image(t, v1.Config{}, amd64)
	push(t, reg.host+"/bare:1", bare)
	c, err = r.Resolve(ctx, reg.host+"/bare:1", amd64, nil)
	if err != nil || c.Entrypoint != nil || c.Cmd != nil || c.StopSignal != "" || c.Digest != digest(t, bare) {
		t.Errorf("bare image: %+v, %v", c, err)
	}
}

func TestResolveIndex(t *testing.T) {
	reg := newRegistry(t, "", "")
	amdImg, armImg := pushIndex(t, reg.host+"/multi:1", "")
	r := New(Options{})
	ctx := context.Background()
	for _, tc := range []struct {
		p    v1.Platform
		want Config
	}{
		{amd64, Config{ImageConfig: rewrite.ImageConfig{Entrypoint: []string{"/amd64"}}, Digest: digest(t, amdImg)}},
		{arm64, Config{ImageConfig: rewrite.ImageConfig{Entrypoint: []string{"/arm64"}}, Digest: digest(t, armImg)}},
		{v1.Platform{OS: "linux", Architecture: "arm64", Variant: ""}, Config{ImageConfig: rewrite.ImageConfig{Entrypoint: []string{"/arm64"}}, Digest: digest(t, armImg)}},
	} {
		c, err := r.Resolve(ctx, reg.host+"/multi:1", tc.p, nil)
		if err != nil || !reflect.DeepEqual(c, tc.want) {
			t.Errorf("%s: %+v, %v; want %+v", tc.p, c, err, tc.want)
		}
	}
	_, err := r.Resolve(ctx, reg.host+"/multi:1", v1.Platform{OS: "linux", Architecture: "s390x"}, nil)
	want := "image " + reg.host + "/multi:1 has no linux/s390x variant (has: linux/amd64, linux/arm64)"
	if !errors.Is(err, ErrNoPlatform) || err.Error() != want {
		t.Errorf("missing platform:\n got %v\nwant %s", err, want)
	}
}

func TestNotFoundAndBadReference(t *testing.T) {
	reg := newRegistry(t, "", "")
	push(t, reg.host+"/app:1", image(t, v1.Config{Cmd: []string{"x"}}, amd64))
	r := New(Options{})
	ctx := context.Background()
	for _, ref := range []string{
		reg.host + "/nope:1", // no such repository
		reg.host + "/app:2",  // no such tag
		reg.host + "/app@sha256:" + strings.Repeat("ab", 32), // no such digest
	} {
		_, err := r.Resolve(ctx, ref, amd64, nil)
		if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "image "+ref+": not found") {
			t.Errorf("%s: %v, want ErrNotFound naming the image", ref, err)
		}
	}
	for _, ref := range []string{"Bad Ref!", "", "app@sha256:123"} {
		_, err := r.Resolve(ctx, ref, amd64, nil)
		if err == nil || !strings.Contains(err.Error(), `image "`+ref+`"`) {
			t.Errorf("bad reference %q: %v", ref, err)
		}
	}
}

func TestBasicAuth(t *testing.T) {
	reg := newRegistry(t, "alice", "s3cret")
	push(t, reg.host+"/private:1", image(t, v1.Config{Cmd: []string{"run"}}, amd64),
		remote.WithAuth(&authn.Basic{Username: "alice", Password: "s3cret"}))
	ctx := context.Background()

	c, err := New(Options{}).Resolve(ctx, reg.host+"/private:1", amd64, staticKeychain{"alice", "s3cret"})
	if err != nil || !reflect.DeepEqual(c.Cmd, []string{"run"}) {
		t.Errorf("right credentials: %+v %v", c, err)
	}
	for _, kc := range []authn.Keychain{staticKeychain{"alice", "wrong"}, staticKeychain{"mallory", "s3cret"}, nil, authn.NewMultiKeychain()} {
		_, err = New(Options{}).Resolve(ctx, reg.host+"/private:1", amd64, kc)
		if !errors.Is(err, ErrUnauthorized) || !strings.Contains(err.Error(), "image "+reg.host+"/private:1: unauthorized") {
			t.Errorf("keychain %v: %v, want ErrUnauthorized naming the image", kc, err)
		}
	}
}

func TestCache(t *testing.T) {
	reg := newRegistry(t, "", "")
	img := image(t, v1.Config{Entrypoint: []string{"/v1"}}, amd64)
	push(t, reg.host+"/app:1", img)
	now := time.Unix(1000, 0)
	r := New(Options{TagTTL: time.Minute, Now: func() time.Time { return now }})
	ctx := context.Background()
	resolve := func(ref string, p v1.Platform) Config {
		t.Helper()
		c, err := r.Resolve(ctx, ref, p, nil)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	tag := reg.host + "/app:1"
	resolve(tag, amd64)
	before := reg.requests.Load()
	if c := resolve(tag, amd64); c.Entrypoint[0] != "/v1" {
		t.Errorf("cached answer %v", c.Entrypoint)
	}
	if n := reg.requests.Load() - before; n != 0 {
		t.Errorf("second lookup within the TTL sent %d requests to the registry", n)
	}
	if s := r.Stats(); s != (Stats{Hits: 1, Misses: 1}) {
		t.Errorf("stats %+v, want 1 hit 1 miss", s)
	}

	// The tag moves; within the TTL the old answer stands, after it the new one.
	push(t, tag, image(t, v1.Config{Entrypoint: []string{"/v2"}}, amd64))
	now = now.Add(59 * time.Second)
	before = reg.requests.Load()
	if c := resolve(tag, amd64); c.Entrypoint[0] != "/v1" || reg.requests.Load() != before {
		t.Errorf("within the TTL: %v after %d requests, want the cached /v1", c.Entrypoint, reg.requests.Load()-before)
	}
	now = now.Add(2 * time.Second)
	if c := resolve(tag, amd64); c.Entrypoint[0] != "/v2" {
		t.Errorf("after the TTL the tag is looked up again, got %v", c.Entrypoint)
	}

	// A digest reference is fetched once, whatever the clock says.
	byDigest := reg.host + "/app@" + digest(t, img)
	resolve(byDigest, amd64)
	before = reg.requests.Load()
	now = now.Add(24 * time.Hour)
	if c := resolve(byDigest, amd64); c.Entrypoint[0] != "/v1" {
		t.Errorf("digest reference: %v", c.Entrypoint)
	}
	if n := reg.requests.Load() - before; n != 0 {
		t.Errorf("a digest reference was fetched again (%d requests)", n)
	}
}

// Within the TTL a tag means one index for every platform, even when the
// tag has moved meanwhile.
func TestCacheTagIsOneIndexForAllPlatforms(t *testing.T) {
	reg := newRegistry(t, "", "")
	pushIndex(t, reg.host+"/multi:1", "-old")
	r := New(Options{TagTTL: time.Hour})
	ctx := context.Background()
	if c, err := r.Resolve(ctx, reg.host+"/multi:1", amd64, nil); err != nil || c.Entrypoint[0] != "/amd64-old" {
		t.Fatalf("amd64: %+v %v", c, err)
	}
	pushIndex(t, reg.host+"/multi:1", "-new")
	if c, err := r.Resolve(ctx, reg.host+"/multi:1", arm64, nil); err != nil || c.Entrypoint[0] != "/arm64-old" {
		t.Errorf("arm64 within the TTL: %+v %v, want the variant of the index seen first", c, err)
	}
}

// When the digest remembered for a tag is gone from the registry, and the
// platform asked for is not cached yet, the tag is looked up again.
func TestCacheForgetsADeletedDigest(t *testing.T) {
	reg := newRegistry(t, "", "")
	amdOld, _ := pushIndex(t, reg.host+"/multi:1", "-old")
	r := New(Options{TagTTL: time.Hour})
	ctx := context.Background()
	if _, err := r.Resolve(ctx, reg.host+"/multi:1", amd64, nil); err != nil {
		t.Fatal(err)
	}
	old, err := name.ParseReference(reg.host + "/multi:1")
	if err != nil {
		t.Fatal(err)
	}
	desc, err := remote.Head(old)
	if err != nil {
		t.Fatal(err)
	}
	pushIndex(t, reg.host+"/multi:1", "-new")
	if err := remote.Delete(old.Context().Digest(desc.Digest.String())); err != nil {
		t.Fatalf("deleting the old index: %v", err)
	}
	if c, err := r.Resolve(ctx, reg.host+"/multi:1", arm64, nil); err != nil || c.Entrypoint[0] != "/arm64-new" {
		t.Errorf("arm64 after the old index was deleted: %+v %v, want the new index's", c, err)
	}
	if c, err := r.Resolve(ctx, reg.host+"/multi:1", amd64, nil); err != nil || c.Digest == digest(t, amdOld) || c.Entrypoint[0] != "/amd64-new" {
		t.Errorf("amd64 after the tag was looked up again: %+v %v, want the new index's", c, err)
	}
}

func TestCacheIsBounded(t *testing.T) {
	reg := newRegistry(t, "", "")
	push(t, reg.host+"/a:1", image(t, v1.Config{Cmd: []string{"a"}}, amd64))
	push(t, reg.host+"/b:1", image(t, v1.Config{Cmd: []string{"b"}}, amd64))
	r := New(Options{CacheSize: 1, TagTTL: time.Hour})
	ctx := context.Background()
	for _, ref := range []string{"/a:1", "/b:1", "/a:1"} {
		if _, err := r.Resolve(ctx, reg.host+ref, amd64, nil); err != nil {
			t.Fatal(err)
		}
	}
	if s := r.Stats(); s != (Stats{Misses: 3}) {
		t.Errorf("stats %+v: with room for one entry, a:1 should have been evicted by b:1", s)
	}
	if r.configs.order.Len() != 1 || r.tags.order.Len() != 1 {
		t.Errorf("cache holds %d configs and %d tags, want at most 1 each", r.configs.order.Len(), r.tags.order.Len())
	}
}

// Concurrent lookups of one tag share one registry round trip.
func TestConcurrentLookupsShareOneFetch(t *testing.T) {
	reg := newRegistry(t, "", "")
	push(t, reg.host+"/app:1", image(t, v1.Config{Cmd: []string{"serve"}}, amd64))
	r := New(Options{})
	reg.manifests.Store(0) // forget the push's
	gate := make(chan struct{})
	reg.gate.Store(&gate)
	const n = 8
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			c, err := r.Resolve(context.Background(), reg.host+"/app:1", amd64, nil)
			if err == nil && !reflect.DeepEqual(c.Cmd, []string{"serve"}) {
				err = fmt.Errorf("wrong answer %+v", c)
			}
			errs <- err
		})
	}
	waitFor(t, func() bool { return reg.manifests.Load() >= 1 }) // the first is held at the gate
	time.Sleep(300 * time.Millisecond)                           // the others reach Resolve meanwhile
	reg.gate.Store(nil)
	close(gate)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	// A plain image: its manifest is the only one to fetch.
	if m := reg.manifests.Load(); m != 1 {
		t.Errorf("%d manifest requests for %d concurrent lookups, want 1", m, n)
	}
	if s := r.Stats(); s.Misses != 1 || s.Hits != n-1 {
		t.Errorf("stats %+v, want 1 miss and %d hits", s, n-1)
	}
}

// A failed lookup is not shared: a caller waiting on it tries with its own
// credentials.
func TestConcurrentFailureIsNotShared(t *testing.T) {
	reg := newRegistry(t, "alice", "s3cret")
	push(t, reg.host+"/private:1", image(t, v1.Config{Cmd: []string{"run"}}, amd64),
		remote.WithAuth(&authn.Basic{Username: "alice", Password: "s3cret"}))
	r := New(Options{})
	reg.manifests.Store(0) // forget the push's
	gate := make(chan struct{})
	reg.gate.Store(&gate)
	wrong := make(chan error, 1)
	go func() {
		_, err := r.Resolve(context.Background(), reg.host+"/private:1", amd64, staticKeychain{"alice", "wrong"})
		wrong <- err
	}()
	waitFor(t, func() bool { return reg.manifests.Load() >= 1 })
	right := make(chan error, 1)
	go func() {
		c, err := r.Resolve(context.Background(), reg.host+"/private:1", amd64, staticKeychain{"alice", "s3cret"})
		if err == nil && !reflect.DeepEqual(c.Cmd, []string{"run"}) {
			err = fmt.Errorf("wrong answer %+v", c)
		}
		right <- err
	}()
	time.Sleep(300 * time.Millisecond) // the second caller waits on the first
	reg.gate.Store(nil)
	close(gate)
	if err := <-wrong; !errors.Is(err, ErrUnauthorized) {
		t.Errorf("wrong credentials: %v", err)
	}
	if err := <-right; err != nil {
		t.Errorf("right credentials after a failed shared lookup: %v", err)
	}
}

func TestDeadline(t *testing.T) {
	reg := newRegistry(t, "", "")
	push(t, reg.host+"/slow:1", image(t, v1.Config{Cmd: []string{"x"}}, amd64))
	reg.stall.Store(true)
	r := New(Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := r.Resolve(ctx, reg.host+"/slow:1", amd64, nil)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "image "+reg.host+"/slow:1") {
		t.Errorf("stalled registry: %v, want DeadlineExceeded naming the image", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("deadline of 300ms not honoured: returned after %v", took)
	}
}

// A registry under a name that go-containerregistry does not take for local
// speaks plain HTTP only when listed in Options.Insecure. The name is
// dialled as 127.0.0.1, so no traffic leaves the machine.
func TestInsecure(t *testing.T) {
	reg := newRegistry(t, "", "")
	_, port, _ := net.SplitHostPort(reg.host)
	push(t, reg.host+"/app:1", image(t, v1.Config{Cmd: []string{"x"}}, amd64))
	loopback := remote.DefaultTransport.(*http.Transport).Clone()
	loopback.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, reg.host)
	}
	ref := "registry.graceful.test:" + port + "/app:1"
	ctx := context.Background()
	if _, err := New(Options{Transport: loopback}).Resolve(ctx, ref, amd64, nil); err == nil || !strings.Contains(err.Error(), "image "+ref) || !strings.Contains(err.Error(), "list it as insecure") {
		t.Errorf("plain-HTTP registry not listed as insecure: %v, want an error naming the image", err)
	}
	for _, insecure := range []string{"registry.graceful.test:" + port, "registry.graceful.test"} {
		c, err := New(Options{Transport: loopback, Insecure: []string{"other:5000", insecure}}).Resolve(ctx, ref, amd64, nil)
		if err != nil || c.Cmd[0] != "x" {
			t.Errorf("Insecure %q: %+v %v", insecure, c, err)
		}
	}
	if _, err := New(Options{Transport: loopback, Insecure: []string{"registry.graceful.test:1"}}).Resolve(ctx, ref, amd64, nil); err == nil {
		t.Errorf("Insecure for another port made this one insecure")
	}
}

// TransportWithCA against a real TLS registry whose certificate only the
// bundle vouches for.
func TestTransportWithCA(t *testing.T) {
	reg := startRegistry(t, "", "", true)
	push(t, reg.host+"/app:1", image(t, v1.Config{Cmd: []string{"tls"}}, amd64), remote.WithTransport(reg.srv.Client().Transport))
	dir := t.TempDir()
	bundle := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(bundle, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: reg.srv.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := New(Options{}).Resolve(ctx, reg.host+"/app:1", amd64, nil); err == nil {
		t.Errorf("a registry with an unknown CA was trusted")
	}
	tr, err := TransportWithCA(bundle)
	if err != nil {
		t.Fatal(err)
	}
	reg.requests.Store(0)
	c, err := New(Options{Transport: tr}).Resolve(ctx, reg.host+"/app:1", amd64, nil)
	if err != nil || c.Cmd[0] != "tls" {
		t.Errorf("with the CA bundle: %+v %v", c, err)
	}

	bad := filepath.Join(dir, "bad.pem")
	os.WriteFile(bad, []byte("not pem"), 0o644)
	if _, err := TransportWithCA(bad); err == nil || !strings.Contains(err.Error(), bad+": no PEM certificate") {
		t.Errorf("bad bundle: %v", err)
	}
	if _, err := TransportWithCA(filepath.Join(dir, "missing.pem")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing bundle: %v", err)
	}
}

func TestPlatformFor(t *testing.T) {
	affinity := func(terms ...[]corev1.NodeSelectorRequirement) *corev1.Affinity {
		a := &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{}}}
		for _, e := range terms {
			a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms = append(
				a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms, corev1.NodeSelectorTerm{MatchExpressions: e})
		}
		return a
	}
	in := func(key string, values ...string) corev1.NodeSelectorRequirement {
		return corev1.NodeSelectorRequirement{Key: key, Operator: corev1.NodeSelectorOpIn, Values: values}
	}
	const arch, osKey = "kubernetes.io/arch", "kubernetes.io/os"
	for _, tc := range []struct {
		name string
		spec corev1.PodSpec
		want string
	}{
		{"nothing", corev1.PodSpec{}, "linux/amd64"},
		{"nodeSelector arch", corev1.PodSpec{NodeSelector: map[string]string{arch: "arm64"}}, "linux/arm64"},
		{"nodeSelector os and arch", corev1.PodSpec{NodeSelector: map[string]string{arch: "arm64", osKey: "windows"}}, "windows/arm64"},
		{"spec.os", corev1.PodSpec{OS: &corev1.PodOS{Name: corev1.Windows}}, "windows/amd64"},
		{"affinity one term", corev1.PodSpec{Affinity: affinity([]corev1.NodeSelectorRequirement{in(arch, "s390x")})}, "linux/s390x"},
		{"affinity two terms, same value", corev1.PodSpec{Affinity: affinity([]corev1.NodeSelectorRequirement{in(arch, "arm64")}, []corev1.NodeSelectorRequirement{in(arch, "arm64"), in("zone", "a")})}, "linux/arm64"},
		{"affinity two terms, two values", corev1.PodSpec{Affinity: affinity([]corev1.NodeSelectorRequirement{in(arch, "arm64")}, []corev1.NodeSelectorRequirement{in(arch, "amd64")})}, "linux/amd64"},
		{"affinity, a term without the key", corev1.PodSpec{Affinity: affinity([]corev1.NodeSelectorRequirement{in(arch, "arm64")}, []corev1.NodeSelectorRequirement{in("zone", "a")})}, "linux/amd64"},
		{"affinity In two values", corev1.PodSpec{Affinity: affinity([]corev1.NodeSelectorRequirement{in(arch, "arm64", "amd64")})}, "linux/amd64"},
		{"affinity NotIn", corev1.PodSpec{Affinity: affinity([]corev1.NodeSelectorRequirement{{Key: arch, Operator: corev1.NodeSelectorOpNotIn, Values: []string{"s390x"}}})}, "linux/amd64"},
		{"empty affinity", corev1.PodSpec{Affinity: affinity()}, "linux/amd64"},
	} {
		if p := PlatformFor(&corev1.Pod{Spec: tc.spec}); p.String() != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, p, tc.want)
		}
	}
	if p := PlatformFor(nil); p.String() != "linux/amd64" {
		t.Errorf("nil pod: %s", p)
	}
}

func TestLRUEvicts(t *testing.T) {
	l := newLRU[string](2)
	l.put("a", "A")
	l.put("b", "B")
	l.get("a")
	l.put("c", "C")
	if _, ok := l.get("b"); ok {
		t.Errorf("least recently used entry kept")
	}
	if v, ok := l.get("a"); !ok || v != "A" {
		t.Errorf("recently used entry evicted")
	}
	l.put("a", "A2")
	if v, _ := l.get("a"); v != "A2" || l.order.Len() != 2 {
		t.Errorf("update: %q, %d entries", v, l.order.Len())
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// BenchmarkResolveCached is the webhook's common case: a tag seen within the TTL.
func BenchmarkResolveCached(b *testing.B) {
	reg := newRegistry(b, "", "")
	img, err := random.Image(64, 1)
	if err != nil {
		b.Fatal(err)
	}
	ref, _ := name.ParseReference(reg.host + "/app:1")
	if err := remote.Write(ref, img); err != nil {
		b.Fatal(err)
	}
	r := New(Options{})
	ctx := context.Background()
	if _, err := r.Resolve(ctx, reg.host+"/app:1", amd64, nil); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.Resolve(ctx, reg.host+"/app:1", amd64, nil); err != nil {
			b.Fatal(err)
		}
	}
	if s := r.Stats(); s.Misses != 1 {
		b.Fatalf("stats %+v: the benchmark went to the registry", s)
	}
}
