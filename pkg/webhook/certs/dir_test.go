package certs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func writePair(t *testing.T, dir string, notBefore, notAfter time.Time) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "x"},
		DNSNames: []string{"x"}, NotBefore: notBefore, NotAfter: notAfter}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	if err := writeAtomic(filepath.Join(dir, KeyFile), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})); err != nil {
		t.Fatal(err)
	}
	if err := writeAtomic(filepath.Join(dir, CertFile), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})); err != nil {
		t.Fatal(err)
	}
}

// Dir mode: not ready without a pair, nor with an expired one; ready with a
// valid one; GetCertificate follows a replaced certificate.
func TestDirReadinessAndReload(t *testing.T) {
	dir := t.TempDir()
	c := Dir(dir)
	if err := c.ReadyCheck(nil); err == nil {
		t.Fatal("ready without a certificate")
	}
	if _, err := c.GetCertificate(&tls.ClientHelloInfo{}); err == nil {
		t.Fatal("a certificate without files")
	}
	writePair(t, dir, time.Now().Add(-2*time.Hour), time.Now().Add(-time.Hour))
	if err := c.ReadyCheck(nil); err == nil || !strings.Contains(err.Error(), "not now") {
		t.Fatalf("expired certificate: %v", err)
	}
	writePair(t, dir, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	if err := c.ReadyCheck(nil); err != nil {
		t.Fatalf("valid certificate: %v", err)
	}
	first, err := c.GetCertificate(&tls.ClientHelloInfo{})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Millisecond) // a distinct mtime
	writePair(t, dir, time.Now().Add(-time.Hour), time.Now().Add(2*time.Hour))
	second, err := c.GetCertificate(&tls.ClientHelloInfo{})
	if err != nil {
		t.Fatal(err)
	}
	if string(first.Certificate[0]) == string(second.Certificate[0]) {
		t.Error("GetCertificate kept the old certificate after the file changed")
	}
	// A key that does not match mid-update: the old pair is kept.
	if err := os.WriteFile(filepath.Join(dir, KeyFile), []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Millisecond)
	if err := writeAtomic(filepath.Join(dir, CertFile), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: second.Certificate[0]})); err != nil {
		t.Fatal(err)
	}
	if got, err := c.GetCertificate(&tls.ClientHelloInfo{}); err != nil || got != second {
		t.Errorf("mid-update: %v, kept old pair: %v", err, got == second)
	}
}
