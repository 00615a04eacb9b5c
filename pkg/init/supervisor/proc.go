package supervisor

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Process is one entry of the process table.
type Process struct {
	PID, PPID, Pgrp int
	State           byte // R, S, D, Z, T, ...
}

// ProcessTable is the OS view the supervisor needs beyond signals and wait.
type ProcessTable interface {
	// List returns every visible process.
	List() ([]Process, error)
	// Cmdline is a process's command line joined by spaces, or its comm
	// when the command line is empty (kernel threads, zombies); "" if gone.
	Cmdline(pid int) string
}

// ProcFS reads a procfs mounted at Root.
type ProcFS struct{ Root string }

// List implements ProcessTable.
func (p ProcFS) List() ([]Process, error) {
	d, err := os.Open(p.Root)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", p.Root, err)
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", p.Root, err)
	}
	out := make([]Process, 0, len(names))
	for _, n := range names {
		pid, err := strconv.Atoi(n)
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join(p.Root, n, "stat"))
		if err != nil {
			continue // exited meanwhile
		}
		if pr, ok := parseStat(pid, b); ok {
			out = append(out, pr)
		}
	}
	return out, nil
}

// parseStat reads state, ppid and pgrp from /proc/PID/stat. The command name
// sits in parentheses and may itself contain ") ", so fields are counted from
// the last ')'.
func parseStat(pid int, b []byte) (Process, bool) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 >= len(b) {
		return Process{}, false
	}
	f := bytes.Fields(b[i+2:])
	if len(f) < 3 {
		return Process{}, false
	}
	ppid, err1 := strconv.Atoi(string(f[1]))
	pgrp, err2 := strconv.Atoi(string(f[2]))
	if err1 != nil || err2 != nil || len(f[0]) != 1 {
		return Process{}, false
	}
	return Process{PID: pid, PPID: ppid, Pgrp: pgrp, State: f[0][0]}, true
}

// Cmdline implements ProcessTable.
func (p ProcFS) Cmdline(pid int) string {
	dir := filepath.Join(p.Root, strconv.Itoa(pid))
	if b, err := os.ReadFile(filepath.Join(dir, "cmdline")); err == nil {
		b = bytes.TrimRight(b, "\x00")
		if len(b) > 0 {
			return compact(string(b))
		}
	}
	if b, err := os.ReadFile(filepath.Join(dir, "comm")); err == nil {
		return "[" + string(bytes.TrimSpace(b)) + "]"
	}
	return ""
}

// Descendants returns the live (non-zombie) processes below root in the
// parent tree.
func Descendants(all []Process, root int) []Process {
	children := map[int][]Process{}
	for _, p := range all {
		children[p.PPID] = append(children[p.PPID], p)
	}
	var out []Process
	queue := []int{root}
	for len(queue) > 0 {
		pid := queue[0]
		queue = queue[1:]
		for _, c := range children[pid] {
			if c.PID == root {
				continue
			}
			if c.State != 'Z' {
				out = append(out, c)
			}
			queue = append(queue, c.PID)
		}
	}
	return out
}

// compact makes a command line fit on one log line: NULs and newlines become
// spaces, runs of spaces shrink to one, and it is cut at 160 bytes.
func compact(s string) string {
	s = strings.Join(strings.FieldsFunc(s, func(r rune) bool { return r == 0 || r == ' ' || r == '\n' || r == '\t' }), " ")
	if len(s) > 160 {
		s = s[:157] + "..."
	}
	return s
}
