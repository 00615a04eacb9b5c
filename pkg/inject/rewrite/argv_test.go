package rewrite

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// effectiveArgv is what Kubernetes executes for command and args on an image
// (Kubernetes' rules: command replaces ENTRYPOINT and args replace CMD; only args →
// ENTRYPOINT + args; neither → ENTRYPOINT + CMD), after $(VAR) expansion of
// command and args with env.
func effectiveArgv(command, args []string, img ImageConfig, env map[string]string) []string {
	exp := func(s []string) []string {
		var out []string
		for _, v := range s {
			out = append(out, kubeExpand(v, env))
		}
		return out
	}
	switch {
	case len(command) > 0:
		return append(exp(command), exp(args)...)
	case len(args) > 0:
		return append(slices.Clone(img.Entrypoint), exp(args)...)
	default:
		return append(slices.Clone(img.Entrypoint), img.Cmd...)
	}
}

// kubeExpand is the kubelet's $(VAR) expansion of command and args
// (k8s.io/kubernetes v1.37.2 third_party/forked/golang/expansion, used by
// kubecontainer.ExpandContainerCommandAndArgs), restated for the test: "$$"
// is "$", "$(NAME)" is NAME's value or stays as written when NAME is not
// defined, an unclosed "$(" and any other "$" stay.
func kubeExpand(s string, env map[string]string) string {
	var b bytes.Buffer
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 >= len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '(':
			end := strings.IndexByte(s[i+2:], ')')
			if end < 0 {
				b.WriteString("$(")
				i++
				continue
			}
			name := s[i+2 : i+2+end]
			if v, ok := env[name]; ok {
				b.WriteString(v)
			} else {
				b.WriteString("$(" + name + ")")
			}
			i += 2 + end
		default:
			r, size := utf8.DecodeRuneInString(s[i+1:])
			b.WriteString("$" + string(r)) // as the kubelet: invalid UTF-8 becomes U+FFFD
			i += size
		}
	}
	return b.String()
}

func TestKubeExpandMatchesKubelet(t *testing.T) {
	// Cases from the kubelet's expansion tests and its documented behaviour.
	env := map[string]string{"VAR_A": "A", "VAR_B": "B", "EMPTY": ""}
	for in, want := range map[string]string{
		"$(VAR_A)":             "A",
		"___$(VAR_B)___":       "___B___",
		"$(VAR_A)-$(VAR_B)":    "A-B",
		"$$(VAR_A)":            "$(VAR_A)",
		"$$$(VAR_A)":           "$A",
		"$$$$(VAR_A)":          "$$(VAR_A)",
		"$(UNDEFINED)":         "$(UNDEFINED)",
		"$(EMPTY)x":            "x",
		"$(VAR_A":              "$(VAR_A",
		"$VAR_A":               "$VAR_A",
		"$":                    "$",
		"foo$":                 "foo$",
		"$$":                   "$",
		"$é":                   "$é",
		"(VAR_A)":              "(VAR_A)",
		"$()":                  "$()",
		"$(VAR_A)$(VAR_A":      "A$(VAR_A",
		"echo $$ > /run/p.pid": "echo $ > /run/p.pid",
	} {
		if got := kubeExpand(in, env); got != want {
			t.Errorf("kubeExpand(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestEscapeExpansion: whatever the variables, expansion gives the string back.
func TestEscapeExpansion(t *testing.T) {
	env := map[string]string{"HOME": "/wrong", "A": "wrong", "": "wrong"}
	for _, s := range []string{"", "plain", "$", "$$", "$$$", "$(HOME)", "$$(HOME)", "$(HOME", "$HOME", "cost $5", "a$(A)b$$c$", "$()", "$é$(", "${HOME}"} {
		if got := kubeExpand(EscapeExpansion(s), env); got != s {
			t.Errorf("expand(escape(%q)) = %q (escaped %q)", s, got, EscapeExpansion(s))
		}
	}
	for s, want := range map[string]string{"$HOME": "$HOME", "cost $5": "cost $5", "$(A)": "$$(A)", "$$": "$$$", "no dollars": "no dollars"} {
		if got := EscapeExpansion(s); got != want {
			t.Errorf("EscapeExpansion(%q) = %q, want %q (only what expansion would change)", s, got, want)
		}
	}
}

func FuzzEscapeExpansion(f *testing.F) {
	for _, s := range []string{"$(A)", "$$", "$", "x$(", "$$$(A)"} {
		f.Add(s)
	}
	env := map[string]string{"A": "wrong", "B": "", "HOME": "/wrong"}
	f.Fuzz(func(t *testing.T, s string) {
		if !utf8.ValidString(s) {
			return // pod specs and image configs are JSON: always valid UTF-8
		}
		if got := kubeExpand(EscapeExpansion(s), env); got != s {
			t.Errorf("expand(escape(%q)) = %q", s, got)
		}
	})
}

// TestWrapArgv is the table of Kubernetes' argv rules: the wrapped container,
// expanded as the kubelet does, must run graceful-init with exactly the argv
// the original container would have run.
func TestWrapArgv(t *testing.T) {
	prefix := []string{"/graceful/bin/graceful-init", "--grace-period=30s", "--"}
	app := &ImageConfig{Entrypoint: []string{"/app"}, Cmd: []string{"--default"}}
	shell := &ImageConfig{Entrypoint: []string{"/bin/sh", "-c", "exec app --pid $$ $(HOME)"}}
	cmdOnly := &ImageConfig{Cmd: []string{"/worker", "$(HOME)"}}
	empty := &ImageConfig{}
	env := map[string]string{"HOME": "/home/app", "PORT": "8080"}

	for _, tc := range []struct {
		name          string
		command, args []string
		img           *ImageConfig
		wantCmd       []string
		wantArgs      []string
		wantErr       error
	}{
		{name: "command only: image ignored", command: []string{"/srv", "-x"}, img: app,
			wantCmd: []string{"/srv", "-x"}},
		{name: "command only: image config not needed", command: []string{"/srv"},
			wantCmd: []string{"/srv"}},
		{name: "command and args", command: []string{"/srv"}, args: []string{"--port=$(PORT)"}, img: app,
			wantCmd: []string{"/srv"}, wantArgs: []string{"--port=$(PORT)"}},
		{name: "args only: ENTRYPOINT + args", args: []string{"--port=$(PORT)"}, img: app,
			wantCmd: []string{"/app"}, wantArgs: []string{"--port=$(PORT)"}},
		{name: "neither: ENTRYPOINT + CMD", img: app,
			wantCmd: []string{"/app"}, wantArgs: []string{"--default"}},
		{name: "shell-form ENTRYPOINT passes through, escaped", img: shell,
			wantCmd: []string{"/bin/sh", "-c", "exec app --pid $$$ $$(HOME)"}},
		{name: "CMD only image", img: cmdOnly,
			wantArgs: []string{"/worker", "$$(HOME)"}},
		{name: "CMD only image with args: args are the program", args: []string{"/other"}, img: cmdOnly,
			wantArgs: []string{"/other"}},
		{name: "empty image with args", args: []string{"/run"}, img: empty,
			wantArgs: []string{"/run"}},
		{name: "empty image, nothing set", img: empty, wantErr: errEmptyImage},
		{name: "args only, image unknown", args: []string{"x"}, wantErr: errNoImageConfig},
		{name: "neither, image unknown", wantErr: errNoImageConfig},
		{name: "empty command slice counts as unset", command: []string{}, img: app,
			wantCmd: []string{"/app"}, wantArgs: []string{"--default"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd, args, err := wrapArgv(tc.command, tc.args, tc.img, prefix)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if err != nil {
				return
			}
			if want := append(slices.Clone(prefix), tc.wantCmd...); !slices.Equal(cmd, want) {
				t.Errorf("command = %q, want %q", cmd, want)
			}
			if !slices.Equal(args, tc.wantArgs) {
				t.Errorf("args = %q, want %q", args, tc.wantArgs)
			}
			// What runs: the wrapped container's argv after expansion is
			// graceful-init's flags then exactly the original argv.
			img := ImageConfig{}
			if tc.img != nil {
				img = *tc.img
			}
			orig := effectiveArgv(tc.command, tc.args, img, env)
			got := effectiveArgv(cmd, args, ImageConfig{Entrypoint: []string{"/must-not-be-used"}}, env)
			if want := append(slices.Clone(prefix), orig...); !slices.Equal(got, want) {
				t.Errorf("runs %q, want %q", got, want)
			}
		})
	}
}

func TestWrapArgvDoesNotAlias(t *testing.T) {
	command, args := []string{"/srv"}, []string{"a"}
	img := &ImageConfig{Entrypoint: []string{"/e"}, Cmd: []string{"c"}}
	cmd, a, _ := wrapArgv(command, args, img, []string{"p", "--"})
	cmd[2], a[0] = "X", "X"
	if command[0] != "/srv" || args[0] != "a" {
		t.Error("wrapArgv's result shares memory with the container's command or args")
	}
	cmd, a, _ = wrapArgv(nil, nil, img, []string{"p", "--"})
	cmd[2], a[0] = "X", "X"
	if img.Entrypoint[0] != "/e" || img.Cmd[0] != "c" {
		t.Error("wrapArgv's result shares memory with the image config")
	}
}
