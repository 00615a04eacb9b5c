// Package selfinstall copies the running executable to a destination,
// atomically, for graceful-init's `install DEST` (the webhook's install init
// container: no shell needed).
//
// Contract: DEST ends up as a complete copy with mode 0555 or is left as it
// was. The copy goes to a temporary file in DEST's folder, is fsynced, renamed
// over DEST, and the folder is fsynced. Running it twice is fine.
package selfinstall

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Mode of the installed file: any UID may run it, nobody may change it.
const Mode = 0o555

// Install copies the file at src (the running executable: /proc/self/exe) to dest.
func Install(src, dest string) (err error) {
	dir := filepath.Dir(dest)
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("install to %s: folder %s: %w", dest, dir, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("install to %s: %s is not a folder", dest, dir)
	}
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("install: open own executable %s: %w", src, err)
	}
	defer in.Close()

	tmp, err := os.CreateTemp(dir, "."+filepath.Base(dest)+".tmp-*")
	if err != nil {
		return fmt.Errorf("install to %s: create temporary file in %s: %w", dest, dir, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err = io.Copy(tmp, in); err != nil {
		return fmt.Errorf("install to %s: copy: %w", dest, err)
	}
	if err = tmp.Chmod(Mode); err != nil {
		return fmt.Errorf("install to %s: chmod: %w", dest, err)
	}
	if err = tmp.Sync(); err != nil {
		return fmt.Errorf("install to %s: fsync: %w", dest, err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("install to %s: close: %w", dest, err)
	}
	if err = os.Rename(tmp.Name(), dest); err != nil {
		return fmt.Errorf("install to %s: rename: %w", dest, err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("install to %s: open folder for fsync: %w", dest, err)
	}
	defer d.Close()
	if err = d.Sync(); err != nil {
		return fmt.Errorf("install to %s: fsync folder: %w", dest, err)
	}
	return nil
}
