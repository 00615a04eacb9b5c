//go:build e2e

package e2e

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/transport/spdy"

	"github.com/graceful-dev/graceful/pkg/webhook/metrics"
	"github.com/graceful-dev/graceful/test/deploy"
)

// metricsReader is a scraper the way the chart expects one: the token of
// a ServiceAccount that the release binds to its metrics-reader ClusterRole
// (chartValues names this run's default ServiceAccount in
// metricsReaderSubjects), which the webhook's metrics server has the API
// server review.
type metricsReader struct {
	token string
}

// newMetricsReader requests a token of this run's default ServiceAccount.
func newMetricsReader(t *testing.T) metricsReader {
	t.Helper()
	exp := int64(3600)
	tr, err := env.cs.CoreV1().ServiceAccounts(env.ns).CreateToken(t.Context(), "default",
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &exp}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return metricsReader{token: tr.Status.Token}
}

// leader is the webhook pod that holds the leader lease: the one replica
// whose drift and shutdown controllers run, and so the only one that
// exports graceful_unprotected_pods.
func leader(ctx context.Context) (string, error) {
	l, err := env.cs.CoordinationV1().Leases(deploy.Namespace).Get(ctx, deploy.ReleaseName, metav1.GetOptions{})
	if err != nil {
		return "", fmt.Errorf("leader lease: %w", err)
	}
	if l.Spec.HolderIdentity == nil || *l.Spec.HolderIdentity == "" {
		return "", fmt.Errorf("leader lease %s/%s has no holder", deploy.Namespace, deploy.ReleaseName)
	}
	// controller-runtime's identity is <hostname>_<uuid>; the hostname is
	// the pod's name.
	pod, _, _ := strings.Cut(*l.Spec.HolderIdentity, "_")
	return pod, nil
}

// scrape reads /metrics of webhook pod through a port-forward to its
// metrics port (8443, HTTPS with a certificate the process made itself),
// sending the reader's token, and parses it; within 30 s.
func (r metricsReader) scrape(ctx context.Context, pod string) (map[string]*dto.MetricFamily, error) {
	transport, upgrader, err := spdy.RoundTripperFor(env.cfg)
	if err != nil {
		return nil, fmt.Errorf("port-forward to %s: %w", pod, err)
	}
	u := env.cs.CoreV1().RESTClient().Post().Resource("pods").Namespace(deploy.Namespace).Name(pod).SubResource("portforward").URL()
	dialer := spdy.NewDialer(upgrader, &http.Client{Transport: transport, Timeout: 30 * time.Second}, http.MethodPost, u)
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	ready := make(chan struct{})
	// Written only before ready is closed or ForwardPorts returns (the
	// listen errors), so read only after one of them.
	var errOut strings.Builder
	fw, err := portforward.NewOnAddressesWithContext(ctx, dialer, []string{"127.0.0.1"}, []string{"0:8443"}, ready, io.Discard, &errOut)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("port-forward to %s: %w", pod, err)
	}
	done := make(chan error, 1)
	go func() { done <- fw.ForwardPorts() }()
	// The forwarder ends with ctx; its goroutine is waited for.
	defer func() {
		cancel()
		<-done
	}()
	select {
	case <-ready:
	case err := <-done:
		done <- err // for the deferred wait
		return nil, fmt.Errorf("port-forward to %s: %w %s", pod, err, errOut.String())
	case <-ctx.Done():
		return nil, fmt.Errorf("port-forward to %s: not ready: %w", pod, ctx.Err())
	}
	ports, err := fw.GetPorts()
	if err != nil {
		return nil, fmt.Errorf("port-forward to %s: %w", pod, err)
	}
	if len(ports) != 1 {
		return nil, fmt.Errorf("port-forward to %s: %d ports forwarded, want 1", pod, len(ports))
	}
	// The metrics certificate is the process's own, self-signed: nothing
	// to verify it against (the chart's ServiceMonitor skips it too).
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // see above
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("https://127.0.0.1:%d/metrics", ports[0].Local), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+r.token)
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("metrics of %s: %w", pod, err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return nil, fmt.Errorf("metrics of %s: %s: %s", pod, resp.Status, b)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mf, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("metrics of %s: %w", pod, err)
	}
	return mf, nil
}

// gauge is the value of family's sample whose labels include want, and
// whether there is one.
func gauge(mf map[string]*dto.MetricFamily, family string, want map[string]string) (float64, bool) {
	f := mf[family]
	if f == nil {
		return 0, false
	}
next:
	for _, m := range f.GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if have[k] != v {
				continue next
			}
		}
		return m.GetGauge().GetValue(), true
	}
	return 0, false
}

// waitUnprotectedGauge waits until the leader's
// graceful_unprotected_pods{namespace=ns,reason="not-wrapped"} is n (no
// sample counts as 0, so the scraped replica must also say that it leads:
// leader_election_master_status 1) and returns the leader's name. A replica
// that became the leader a moment ago counts once its drift controller has
// listed the pods.
func waitUnprotectedGauge(t *testing.T, ns string, n int) string {
	t.Helper()
	reader := newMetricsReader(t)
	var pod string
	poll(t, 2*time.Minute, fmt.Sprintf("graceful_unprotected_pods{namespace=%q,reason=%q} = %d on the leader", ns, metrics.DriftNotWrapped, n), func() (bool, string) {
		var err error
		if pod, err = leader(t.Context()); err != nil {
			return false, err.Error()
		}
		mf, err := reader.scrape(t.Context(), pod)
		if err != nil {
			return false, err.Error()
		}
		if lead, _ := gauge(mf, "leader_election_master_status", map[string]string{"name": deploy.ReleaseName}); lead != 1 {
			return false, pod + " holds the lease but its leader_election_master_status is not 1"
		}
		v, _ := gauge(mf, "graceful_unprotected_pods", map[string]string{"namespace": ns, "reason": metrics.DriftNotWrapped})
		return v == float64(n), fmt.Sprintf("%s: %v", pod, v)
	})
	return pod
}
