package prestop

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeProc builds a /proc with the processes given, each a pid, parent,
// executable (a file in dir), mount namespace and command line.
type fakeProc struct {
	t    *testing.T
	root string
	exes string
}

func newFakeProc(t *testing.T) *fakeProc {
	dir := t.TempDir()
	f := &fakeProc{t: t, root: filepath.Join(dir, "proc"), exes: dir}
	for _, exe := range []string{"graceful-init", "app", "pause"} {
		if err := os.WriteFile(filepath.Join(dir, exe), []byte(exe), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

func (f *fakeProc) add(pid, ppid int, exe, mnt string, argv ...string) {
	d := filepath.Join(f.root, fmt.Sprint(pid))
	for _, err := range []error{
		os.MkdirAll(filepath.Join(d, "ns"), 0o755),
		os.WriteFile(filepath.Join(d, "stat"), []byte(fmt.Sprintf("%d (%s) S %d %d 0", pid, exe, ppid, pid)), 0o644),
		os.WriteFile(filepath.Join(d, "cmdline"), []byte(strings.Join(argv, "\x00")+"\x00"), 0o644),
		os.Symlink(filepath.Join(f.exes, exe), filepath.Join(d, "exe")),
		os.Symlink("mnt:["+mnt+"]", filepath.Join(d, "ns", "mnt")),
	} {
		if err != nil {
			f.t.Fatal(err)
		}
	}
}

func (f *fakeProc) remove(pid int) {
	if err := os.RemoveAll(filepath.Join(f.root, fmt.Sprint(pid))); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fakeProc) find() (int, error) {
	p := procs{root: f.root, self: 100}
	me, err := p.own()
	if err != nil {
		f.t.Fatal(err)
	}
	return p.findInit(me)
}

// In a pod with shareProcessNamespace: the init of this container, not the
// other container's, nor a hook, a handoff, or a graceful-init the app runs.
func TestFindInit(t *testing.T) {
	f := newFakeProc(t)
	f.add(1, 0, "pause", "0", "/pause")
	f.add(100, 0, "graceful-init", "1", "/graceful/bin/graceful-init", "prestop", "--sleep=5")
	f.add(10, 1, "graceful-init", "1", "/graceful/bin/graceful-init", "--grace-period=30s", "--", "app")
	f.add(11, 10, "app", "1", "app")
	f.add(12, 11, "graceful-init", "1", "graceful-init", "--", "worker")
	f.add(20, 1, "graceful-init", "2", "/graceful/bin/graceful-init", "--", "other")
	f.add(30, 0, "graceful-init", "1", "/graceful/bin/graceful-init", "prestop")
	f.add(31, 10, "graceful-init", "1", "graceful-init", "--graceful-internal-handoff", "0", "0", "/app", "app")
	if pid, err := f.find(); err != nil || pid != 10 {
		t.Errorf("findInit = %d, %v; want 10", pid, err)
	}
	// Without it, the one below the app is the only one left.
	f.remove(10)
	if pid, err := f.find(); err != nil || pid != 12 {
		t.Errorf("findInit without 10 = %d, %v; want 12", pid, err)
	}
	// Two side by side in one mount namespace: which one is meant can not be told.
	f.add(13, 1, "graceful-init", "1", "graceful-init", "--", "app2")
	if _, err := f.find(); err == nil || !strings.Contains(err.Error(), "several graceful-init in this container (mount namespace mnt:[1]): pids [12 13]") {
		t.Errorf("two inits side by side: %v", err)
	}
	f.remove(12)
	f.remove(13)
	if _, err := f.find(); err == nil || !strings.Contains(err.Error(), "no graceful-init found in this container (mount namespace mnt:[1])") {
		t.Errorf("no init: %v", err)
	}
}

func TestGet(t *testing.T) {
	var got http.Header
	var gotPath, gotHost string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, gotPath, gotHost = r.Header.Clone(), r.URL.RequestURI(), r.Host
		switch r.URL.Path {
		case "/redirect":
			http.Redirect(w, r, "/elsewhere", http.StatusFound)
		case "/loop":
			http.Redirect(w, r, "/loop", http.StatusFound)
		case "/away":
			http.Redirect(w, r, "http://other.invalid/x", http.StatusMovedPermanently)
		case "/fail":
			http.Error(w, "no", http.StatusServiceUnavailable)
		case "/missing":
			http.NotFound(w, r)
		default:
			fmt.Fprint(w, strings.Repeat("body ", 1000))
		}
	}))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	loopback := func() string { return "127.0.0.1" }

	if err := get(srv.URL+"/quit?now=1", []string{"X-Token: abc", "user-agent: mine", "Host: app.example"}, loopback); err != nil {
		t.Fatal(err)
	}
	if gotPath != "/quit?now=1" || got.Get("X-Token") != "abc" || got.Get("User-Agent") != "mine" || gotHost != "app.example" || got.Get("Accept") != "*/*" {
		t.Errorf("request: path %q host %q headers %v", gotPath, gotHost, got)
	}
	// An empty host is the pod's IP; the Host header says it with the port.
	if err := get("http://:"+port+"/", nil, loopback); err != nil {
		t.Fatal(err)
	}
	if gotHost != "127.0.0.1:"+port || got.Get("User-Agent") != "graceful-init-prestop" {
		t.Errorf("empty host: Host %q, headers %v", gotHost, got)
	}
	// Same-host redirects are followed, as the kubelet's client does.
	if err := get(srv.URL+"/redirect", nil, loopback); err != nil || gotPath != "/elsewhere" {
		t.Errorf("a redirect on the same host is followed: %v, last path %q", err, gotPath)
	}
	if err := get(srv.URL+"/loop", nil, loopback); err == nil || !strings.Contains(err.Error(), "10 redirects") {
		t.Errorf("a redirect loop: %v, want a stop after 10 redirects", err)
	}
	// One to another host is the answer itself: nothing is sent there.
	if err := get(srv.URL+"/away", nil, loopback); err != nil || gotPath != "/away" {
		t.Errorf("a redirect to another host: %v, last path %q; want success without following", err, gotPath)
	}
	// Any status is a success: the kubelet fails a hook only when its
	// request fails, never on the status code.
	for _, path := range []string{"/fail", "/missing"} {
		if err := get(srv.URL+path, nil, loopback); err != nil {
			t.Errorf("GET %s: %v, want success (the status does not fail a hook)", path, err)
		}
	}
	for url, want := range map[string]string{
		"https://127.0.0.1/":       "only http:// URLs",
		"http://127.0.0.1:1/":      "connection refused",
		"http://[::1/":             "--http-get",
		"http://127.0.0.1:" + port: "", // no path: "/"
	} {
		err := get(url, nil, loopback)
		if (want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), want)) {
			t.Errorf("GET %s: %v, want %q", url, err, want)
		}
	}
	if err := get(srv.URL, []string{"X: a\r\nInjected: b"}, loopback); err == nil {
		t.Error("a header with a line break was sent")
	}
}

func TestStatusCode(t *testing.T) {
	for line, want := range map[string]int{"HTTP/1.1 200 OK\r\n": 200, "HTTP/1.0 302\r\n": 302} {
		if got, err := statusCode(line); err != nil || got != want {
			t.Errorf("statusCode(%q) = %d, %v", line, got, err)
		}
	}
	for _, line := range []string{"SSH-2.0-OpenSSH\r\n", "HTTP/1.1 abc\r\n", "HTTP/2 200\r\n", "HTTP/1.1 42 x\r\n", ""} {
		if _, err := statusCode(line); err == nil {
			t.Errorf("statusCode(%q) accepted", line)
		}
	}
}

func TestFirstAddr(t *testing.T) {
	cidr := func(s string) net.Addr {
		ip, n, err := net.ParseCIDR(s)
		if err != nil {
			t.Fatal(err)
		}
		n.IP = ip
		return n
	}
	for _, tc := range []struct {
		addrs []net.Addr
		want  string
	}{
		{nil, "127.0.0.1"},
		{[]net.Addr{cidr("127.0.0.1/8"), cidr("::1/128")}, "127.0.0.1"},
		{[]net.Addr{cidr("127.0.0.1/8"), cidr("fe80::1/64"), cidr("10.244.1.7/24"), cidr("10.0.0.9/24")}, "10.244.1.7"},
		{[]net.Addr{cidr("127.0.0.1/8"), cidr("169.254.1.1/16"), cidr("fd00::7/64")}, "fd00::7"},
	} {
		if got := firstAddr(tc.addrs); got != tc.want {
			t.Errorf("firstAddr(%v) = %q, want %q", tc.addrs, got, tc.want)
		}
	}
}
