package publish

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// SetChartImage returns the chart's values.yaml with image.repository and
// image.digest set, every other line (and so every comment) as it was. It
// fails when the image block or either key is missing, so a reshaped
// values.yaml can not silently ship the default image.
func SetChartImage(values []byte, repository, digest string) ([]byte, error) {
	if !strings.HasPrefix(digest, "sha256:") {
		return nil, fmt.Errorf("chart values: image digest %q is not a sha256 digest", digest)
	}
	lines := strings.SplitAfter(string(values), "\n")
	in := false
	set := map[string]bool{}
	key := regexp.MustCompile(`^(\s+)(repository|digest):\s`)
	for i, l := range lines {
		switch {
		case strings.TrimRight(l, "\r\n") == "image:":
			in = true
			continue
		case in && l != "\n" && !strings.HasPrefix(l, " "):
			in = false
		}
		if !in {
			continue
		}
		m := key.FindStringSubmatch(l)
		if m == nil || len(m[1]) != 2 {
			continue
		}
		v := repository
		if m[2] == "digest" {
			v = digest
		}
		lines[i] = m[1] + m[2] + ": " + strconv.Quote(v) + "\n"
		set[m[2]] = true
	}
	for _, k := range []string{"repository", "digest"} {
		if !set[k] {
			return nil, fmt.Errorf("chart values: no image.%s key (a top-level `image:` block with it, indented two spaces)", k)
		}
	}
	return []byte(strings.Join(lines, "")), nil
}

// SHA256Sums returns a file `sha256sum -c` verifies from dir: one line
// "HEX  PATH" per file, PATH relative to dir with '/' separators, sorted.
func SHA256Sums(dir string, files []string) ([]byte, error) {
	sorted := append([]string(nil), files...)
	sort.Strings(sorted)
	var b bytes.Buffer
	for _, f := range sorted {
		sum, err := fileSHA256(filepath.Join(dir, f))
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(&b, "%s  %s\n", sum, filepath.ToSlash(f))
	}
	return b.Bytes(), nil
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("checksum: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("checksum of %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// linkOrCopy puts src at dst: a hard link when both are on one file
// system, else a copy.
func linkOrCopy(src, dst string) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	_ = os.Remove(dst)
	if err := os.Link(src, dst); err == nil {
		return nil
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	fi, err := in.Stat()
	if err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, fi.Mode().Perm())
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// copyTree copies the regular files and directories under src to dst,
// leaving out the top-level names in skip.
func copyTree(src, dst string, skip ...string) error {
	return filepath.WalkDir(src, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		top, _, _ := strings.Cut(filepath.ToSlash(rel), "/")
		for _, s := range skip {
			if top == s {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
		}
		target := filepath.Join(dst, rel)
		switch {
		case d.IsDir():
			return os.MkdirAll(target, 0o755)
		case d.Type().IsRegular():
			in, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			return os.WriteFile(target, in, 0o644)
		}
		return nil // symlinks and the like are not part of a source tree we build
	})
}
