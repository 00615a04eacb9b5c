package prestop

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// get is the kubelet's httpGet hook, sent from inside the container: GET
// rawURL with headers ("Name: value"); an empty host is the pod's IP, which
// ip returns. As for the kubelet, any HTTP response is a success, whatever
// its status: only a failed request fails the hook. Redirects to the same
// host are followed, at most 10; one to another host (or to https) is not
// followed and counts as the response, as the kubelet's redirect checker has
// it.
//
// It speaks HTTP/1.1 itself over package net rather than through net/http:
// net/http and crypto/tls would double graceful-init's size and, as their
// package initialisers run before sigcatch's (docs/init.md), delay the early
// signal catch of every init by about 0.4 ms. So only http:// is supported;
// the webhook leaves HTTPS hooks to the kubelet.
func get(rawURL string, headers []string, ip func() string) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return fmt.Errorf("--http-get %q: %w", rawURL, err)
	}
	if u.Scheme != "http" {
		return fmt.Errorf("--http-get %q: only http:// URLs are supported from inside the container", rawURL)
	}
	if u.Hostname() == "" {
		u.Host = net.JoinHostPort(ip(), portOf(u))
	}
	first := u.Hostname()
	for redirects := 0; ; redirects++ {
		next, err := getOnce(u, headers)
		if err != nil || next == nil {
			return err
		}
		if next.Scheme != "http" || next.Hostname() != first {
			return nil // not followed: the redirect is the response
		}
		if redirects == 10 {
			return fmt.Errorf("GET %s: stopped after 10 redirects", rawURL)
		}
		u = next
	}
}

// portOf is u's port, 80 when it names none.
func portOf(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	return "80"
}

// getOnce sends one GET for u and returns where a redirect points (nil for
// any other response).
func getOnce(u *url.URL, headers []string) (*url.URL, error) {
	addr := net.JoinHostPort(u.Hostname(), portOf(u))
	req, err := request(u, addr, headers)
	if err != nil {
		return nil, err
	}
	target := "http://" + addr + u.RequestURI()
	// No timeout: the kubelet bounds the hook, as it bounds its own GET.
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", target, err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, req); err != nil {
		return nil, fmt.Errorf("GET %s: send: %w", target, err)
	}
	r := bufio.NewReader(conn)
	line, err := r.ReadString('\n')
	if err != nil {
		return nil, fmt.Errorf("GET %s: read the response: %w", target, err)
	}
	code, err := statusCode(line)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", target, err)
	}
	var location string
	for {
		h, err := r.ReadString('\n')
		if err != nil || strings.TrimSpace(h) == "" {
			break
		}
		if name, value, ok := strings.Cut(h, ":"); ok && strings.EqualFold(strings.TrimSpace(name), "Location") {
			location = strings.TrimSpace(value)
		}
	}
	// Read the rest (up to a limit) so that the server's handler can
	// finish writing instead of meeting a reset connection.
	_, _ = io.Copy(io.Discard, io.LimitReader(r, 1<<20))
	if code < 300 || code > 399 || location == "" {
		return nil, nil
	}
	next, err := u.Parse(location)
	if err != nil {
		return nil, nil // a Location that is no URL: the redirect is the answer
	}
	return next, nil
}

// request is the GET request for u sent to addr: the kubelet's default
// headers (Host, User-Agent, Accept), each replaced by a header of the same
// name given, and the others given after them.
func request(u *url.URL, addr string, headers []string) (string, error) {
	host := u.Host
	if u.Hostname() == "" {
		host = addr
	}
	fields := [][2]string{{"Host", host}, {"User-Agent", "graceful-init-prestop"}, {"Accept", "*/*"}}
	for _, h := range headers {
		name, value, ok := strings.Cut(h, ":")
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		if !ok || name == "" || strings.ContainsAny(name+value, "\r\n") {
			return "", fmt.Errorf("--header %q: want NAME: VALUE on one line", h)
		}
		replaced := false
		for i := range fields[:3] {
			if strings.EqualFold(fields[i][0], name) {
				fields[i][1], replaced = value, true
			}
		}
		if !replaced {
			fields = append(fields, [2]string{name, value})
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "GET %s HTTP/1.1\r\n", u.RequestURI())
	for _, f := range fields {
		fmt.Fprintf(&b, "%s: %s\r\n", f[0], f[1])
	}
	// One request per connection, and the end of the response is its EOF.
	b.WriteString("Connection: close\r\n\r\n")
	return b.String(), nil
}

// statusCode reads the code of an HTTP/1.x status line.
func statusCode(line string) (int, error) {
	f := strings.Fields(line)
	if len(f) < 2 || !strings.HasPrefix(f[0], "HTTP/1.") {
		return 0, fmt.Errorf("not an HTTP/1 response: %q", strings.TrimSpace(line))
	}
	code, err := strconv.Atoi(f[1])
	if err != nil || code < 100 || code > 999 {
		return 0, errors.New("bad status line " + strconv.Quote(strings.TrimSpace(line)))
	}
	return code, nil
}

// podIP is the container's own pod IP as seen from inside: the first address
// of the interfaces that is neither loopback nor link-local, else 127.0.0.1.
func podIP() string {
	addrs, _ := net.InterfaceAddrs()
	return firstAddr(addrs)
}

func firstAddr(addrs []net.Addr) string {
	for _, a := range addrs {
		n, ok := a.(*net.IPNet)
		if ok && !n.IP.IsLoopback() && !n.IP.IsLinkLocalUnicast() && !n.IP.IsUnspecified() {
			return n.IP.String()
		}
	}
	return "127.0.0.1"
}
