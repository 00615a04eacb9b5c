package rewrite

import (
	"errors"
	"strings"
)

// Reasons a container is left alone; the warning names container and image.
var (
	errNoImageConfig = errors.New("it sets no command, and the image's config (its ENTRYPOINT) is not known")
	errEmptyImage    = errors.New("it sets no command and no args, and the image has neither ENTRYPOINT nor CMD")
)

// wrapArgv returns the command and args that run, under graceful-init, the
// argv Kubernetes would run for a container with command and args on an
// image with config img (nil: unknown). prefix is graceful-init's command up
// to and including "--".
//
// Kubernetes' rules: command set → it replaces ENTRYPOINT and args replace
// CMD; only args set → ENTRYPOINT + args; neither → ENTRYPOINT + CMD. The
// container's own strings keep their place (command after the prefix, args
// as args) so their $(VAR) references expand as before; strings from the
// image are escaped, because Kubernetes never expands the image's own.
func wrapArgv(command, args []string, img *ImageConfig, prefix []string) (newCommand, newArgs []string, err error) {
	if len(command) > 0 {
		return concat(prefix, command), clone(args), nil
	}
	if img == nil {
		return nil, nil, errNoImageConfig
	}
	if len(args) > 0 {
		return concat(prefix, escapeAll(img.Entrypoint)), clone(args), nil
	}
	if len(img.Entrypoint) == 0 && len(img.Cmd) == 0 {
		return nil, nil, errEmptyImage
	}
	return concat(prefix, escapeAll(img.Entrypoint)), escapeAll(img.Cmd), nil
}

func concat(a, b []string) []string {
	out := make([]string, 0, len(a)+len(b))
	return append(append(out, a...), b...)
}

func clone(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return append([]string(nil), s...)
}

func escapeAll(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	out := make([]string, len(s))
	for i, v := range s {
		out[i] = EscapeExpansion(v)
	}
	return out
}

// EscapeExpansion returns s escaped so that Kubernetes' $(VAR) expansion of
// command and args turns it back into s, whatever variables are defined.
// The expansion reads "$$" as "$" and "$(NAME)" as a reference, and leaves
// every other "$" alone; so a "$" followed by "$" or "(" is doubled, and
// nothing else changes.
func EscapeExpansion(s string) string {
	if !strings.Contains(s, "$") {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 4)
	for i := 0; i < len(s); i++ {
		b.WriteByte(s[i])
		if s[i] == '$' && i+1 < len(s) && (s[i+1] == '$' || s[i+1] == '(') {
			b.WriteByte('$')
		}
	}
	return b.String()
}
