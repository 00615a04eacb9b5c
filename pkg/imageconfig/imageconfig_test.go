package imageconfig

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
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
)

var amd64 = v1.Platform{OS: "linux", Architecture: "amd64"}

// testRegistry is a real registry (go-containerregistry's) on 127.0.0.1,
// optionally behind basic auth, counting manifest requests and able to stall.
type testRegistry struct {
	host      string
	manifests atomic.Int64
	stall     atomic.Bool
}

func newRegistry(t *testing.T, user, pass string) *testRegistry {
	t.Helper()
	tr := &testRegistry{}
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if tr.stall.Load() {
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
			return
		}
		if user != "" {
			if u, p, ok := r.BasicAuth(); !ok || u != user || p != pass {
				w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
				http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`, http.StatusUnauthorized)
				return
			}
		}
		if strings.Contains(r.URL.Path, "/manifests/") {
			tr.manifests.Add(1)
		}
		reg.ServeHTTP(w, r)
	})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	tr.host = strings.TrimPrefix(srv.URL, "http://")
	return tr
}

func image(t *testing.T, cfg v1.Config, p v1.Platform) v1.Image {
	t.Helper()
	img, err := random.Image(64, 1)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.Config = cfg
	cf.OS, cf.Architecture = p.OS, p.Architecture
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func push(t *testing.T, ref string, img v1.Image, auth authn.Authenticator) {
	t.Helper()
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, img, remote.WithAuth(auth)); err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
}

type staticKeychain struct{ user, pass string }

func (k staticKeychain) Resolve(authn.Resource) (authn.Authenticator, error) {
	return &authn.Basic{Username: k.user, Password: k.pass}, nil
}

func TestResolveTagDigestAndIndex(t *testing.T) {
	reg := newRegistry(t, "", "")
	r := New(Options{Insecure: []string{reg.host}})
	ctx := context.Background()

	img := image(t, v1.Config{Entrypoint: []string{"/bin/app"}, Cmd: []string{"--serve"}}, amd64)
	push(t, reg.host+"/app:1", img, authn.Anonymous)
	c, err := r.Resolve(ctx, reg.host+"/app:1", amd64, nil)
	if err != nil {
		t.Fatal(err)
	}
	d, _ := img.Digest()
	if !reflect.DeepEqual(c, Config{Entrypoint: []string{"/bin/app"}, Cmd: []string{"--serve"}, Digest: d.String()}) {
		t.Errorf("tag: %+v", c)
	}
	c, err = r.Resolve(ctx, reg.host+"/app@"+d.String(), amd64, nil)
	if err != nil || c.Entrypoint[0] != "/bin/app" {
		t.Errorf("digest ref: %+v %v", c, err)
	}

	// An index with two platforms, different entrypoints.
	arm64 := v1.Platform{OS: "linux", Architecture: "arm64"}
	idx := mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: image(t, v1.Config{Entrypoint: []string{"/amd64"}}, amd64), Descriptor: v1.Descriptor{Platform: &amd64}},
		mutate.IndexAddendum{Add: image(t, v1.Config{Entrypoint: []string{"/arm64"}}, arm64), Descriptor: v1.Descriptor{Platform: &arm64}},
	)
	ref, _ := name.ParseReference(reg.host+"/multi:1", name.Insecure)
	if err := remote.WriteIndex(ref, idx); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[*v1.Platform]string{&amd64: "/amd64", &arm64: "/arm64"} {
		c, err := r.Resolve(ctx, reg.host+"/multi:1", *p, nil)
		if err != nil || c.Entrypoint[0] != want {
			t.Errorf("index for %s: %+v %v, want %s", p, c, err, want)
		}
	}
	_, err = r.Resolve(ctx, reg.host+"/multi:1", v1.Platform{OS: "linux", Architecture: "s390x"}, nil)
	if err == nil || !strings.Contains(err.Error(), "no linux/s390x variant (has: linux/amd64, linux/arm64)") {
		t.Errorf("missing platform: %v", err)
	}
	_, err = r.Resolve(ctx, reg.host+"/nope:1", amd64, nil)
	if err == nil || !strings.Contains(err.Error(), reg.host+"/nope:1") || !strings.Contains(err.Error(), "UNKNOWN") {
		t.Errorf("not found: %v", err)
	}
	_, err = r.Resolve(ctx, "Bad Ref!", amd64, nil)
	if err == nil || !strings.Contains(err.Error(), "Bad Ref!") {
		t.Errorf("bad reference: %v", err)
	}
}

func TestBasicAuth(t *testing.T) {
	reg := newRegistry(t, "alice", "s3cret")
	push(t, reg.host+"/private:1", image(t, v1.Config{Cmd: []string{"run"}}, amd64), &authn.Basic{Username: "alice", Password: "s3cret"})
	r := New(Options{Insecure: []string{reg.host}})
	c, err := r.Resolve(context.Background(), reg.host+"/private:1", amd64, staticKeychain{"alice", "s3cret"})
	if err != nil || c.Cmd[0] != "run" {
		t.Errorf("right credentials: %+v %v", c, err)
	}
	for _, kc := range []authn.Keychain{staticKeychain{"alice", "wrong"}, nil} {
		r := New(Options{Insecure: []string{reg.host}}) // nothing cached
		_, err = r.Resolve(context.Background(), reg.host+"/private:1", amd64, kc)
		if err == nil || !strings.Contains(err.Error(), "UNAUTHORIZED") || !strings.Contains(err.Error(), "private:1") {
			t.Errorf("keychain %v: %v, want UNAUTHORIZED naming the image", kc, err)
		}
	}
}

func TestCache(t *testing.T) {
	reg := newRegistry(t, "", "")
	img := image(t, v1.Config{Entrypoint: []string{"/v1"}}, amd64)
	push(t, reg.host+"/app:1", img, authn.Anonymous)
	now := time.Unix(1000, 0)
	r := New(Options{Insecure: []string{reg.host}, TagTTL: time.Minute, Now: func() time.Time { return now }})
	ctx := context.Background()
	resolve := func() Config {
		c, err := r.Resolve(ctx, reg.host+"/app:1", amd64, nil)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	resolve()
	before := reg.manifests.Load()
	resolve()
	if reg.manifests.Load() != before {
		t.Errorf("second lookup within the TTL went to the registry")
	}
	if s := r.Stats(); s.Hits != 1 || s.Misses != 1 {
		t.Errorf("stats %+v, want 1 hit 1 miss", s)
	}
	// The tag moves; after the TTL the new digest is seen.
	push(t, reg.host+"/app:1", image(t, v1.Config{Entrypoint: []string{"/v2"}}, amd64), authn.Anonymous)
	if c := resolve(); c.Entrypoint[0] != "/v1" {
		t.Errorf("within the TTL the cached answer is kept, got %v", c.Entrypoint)
	}
	now = now.Add(2 * time.Minute)
	if c := resolve(); c.Entrypoint[0] != "/v2" {
		t.Errorf("after the TTL the tag is looked up again, got %v", c.Entrypoint)
	}
	// A digest reference is fetched once, whatever the clock says.
	d, _ := img.Digest()
	byDigest := reg.host + "/app@" + d.String()
	if _, err := r.Resolve(ctx, byDigest, amd64, nil); err != nil {
		t.Fatal(err)
	}
	before = reg.manifests.Load()
	now = now.Add(24 * time.Hour)
	if _, err := r.Resolve(ctx, byDigest, amd64, nil); err != nil {
		t.Fatal(err)
	}
	if reg.manifests.Load() != before {
		t.Errorf("a digest reference was fetched again")
	}
}

func TestDeadline(t *testing.T) {
	reg := newRegistry(t, "", "")
	push(t, reg.host+"/slow:1", image(t, v1.Config{Cmd: []string{"x"}}, amd64), authn.Anonymous)
	reg.stall.Store(true)
	r := New(Options{Insecure: []string{reg.host}})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := r.Resolve(ctx, reg.host+"/slow:1", amd64, nil)
	if err == nil || !strings.Contains(err.Error(), "deadline") || !strings.Contains(err.Error(), "slow:1") {
		t.Errorf("stalled registry: %v", err)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("deadline not honoured: %v", took)
	}
}

func TestLRUEvicts(t *testing.T) {
	l := newLRU(2)
	l.put("a", Config{Digest: "a"})
	l.put("b", Config{Digest: "b"})
	l.get("a")
	l.put("c", Config{Digest: "c"})
	if _, ok := l.get("b"); ok {
		t.Errorf("least recently used entry kept")
	}
	if _, ok := l.get("a"); !ok {
		t.Errorf("recently used entry evicted")
	}
}

func TestPlatformFor(t *testing.T) {
	if p := PlatformFor(&corev1.Pod{}); p.String() != "linux/amd64" {
		t.Errorf("default %s", p)
	}
	pod := &corev1.Pod{Spec: corev1.PodSpec{NodeSelector: map[string]string{"kubernetes.io/arch": "arm64"}}}
	if p := PlatformFor(pod); p.String() != "linux/arm64" {
		t.Errorf("nodeSelector %s", p)
	}
	pod = &corev1.Pod{Spec: corev1.PodSpec{Affinity: &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
		NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "kubernetes.io/arch", Operator: corev1.NodeSelectorOpIn, Values: []string{"s390x"}}}}},
	}}}}}
	if p := PlatformFor(pod); p.String() != "linux/s390x" {
		t.Errorf("affinity %s", p)
	}
}

func TestTransportWithCA(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ca"}, NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	good := filepath.Join(dir, "ca.pem")
	os.WriteFile(good, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	if _, err := TransportWithCA(good); err != nil {
		t.Errorf("good bundle: %v", err)
	}
	bad := filepath.Join(dir, "bad.pem")
	os.WriteFile(bad, []byte("not pem"), 0o644)
	if _, err := TransportWithCA(bad); err == nil || !strings.Contains(err.Error(), "no PEM certificate") {
		t.Errorf("bad bundle: %v", err)
	}
}
