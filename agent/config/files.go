package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
)

// An input is a file the configuration names for the agent to read, and
// where it names it.
type input struct {
	file         string // the configuration file, as given
	line, column int
	field        string // e.g. "anchor.key"
	path         string // resolved against the configuration's directory
	name         string // as the operator knows it: joined to the configuration file's name as given
	relative     bool   // written as a relative path
}

// input reads the path of a file the agent reads, resolved as file
// resolves it, and notes where the configuration names it, for Check.
func (f *fields) input(key string, required bool) (string, bool) {
	s, ok := f.file(key, required)
	if !ok || s == "" {
		return s, ok
	}
	v, path := f.get(key, false)
	in := input{file: f.p.file, line: v.Line, column: v.Column, field: path, path: s, name: v.Value}
	if !filepath.IsAbs(v.Value) {
		in.name, in.relative = filepath.Join(filepath.Dir(f.p.file), v.Value), true
	}
	f.p.inputs = append(f.p.inputs, in)
	return s, true
}

// Check is Load, then a check of the files the configuration names for
// the agent to read: the device key and its passphrase file, the feed's
// password, CA, certificate and key files, the relayer key and its
// passphrase file, the EBSI token file. Each that does not exist or that
// this process cannot read is a [FieldError] at the field that names it:
//
//	waybill.yaml:31:8: anchor.key: /var/lib/waybill/relayer.key does not exist
//
// It opens none of them but regular files, and reads nothing: a FIFO's
// writer is not disturbed.
//
// Load does not look at these files, since they are the device's state
// rather than its configuration: keygen writes the key after the
// configuration is written, a wallet renews the token, a secret store may
// mount a passphrase at boot, and a configuration is often checked on one
// machine and installed on another. The agent reads each file when it
// starts the part that needs it; `waybill config check` calls Check.
func Check(path string) (*Config, error) {
	c, inputs, err := load(path)
	if err != nil {
		return nil, err
	}
	var errs Errors
	for _, in := range inputs {
		msg := unreadable(in.path)
		if msg == "" {
			continue
		}
		if in.relative {
			msg += " (paths are relative to the configuration file)"
		}
		errs = append(errs, &FieldError{File: in.file, Line: in.line, Column: in.column, Field: in.field, Msg: in.name + " " + msg})
	}
	if len(errs) > 0 {
		sortErrors(errs, path)
		return nil, errs
	}
	return c, nil
}

// unreadable says why this process cannot read the file at path, or
// returns "".
func unreadable(path string) string {
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "does not exist"
	case err != nil:
		return "cannot be read: " + reason(err)
	case fi.IsDir():
		return "is a directory, not a file"
	case fi.Mode().IsRegular():
		f, err := os.Open(path)
		if err != nil {
			return "cannot be read: " + reason(err)
		}
		f.Close()
		return ""
	}
	// A FIFO or a device: opening it could take what its writer offers
	// the agent, or block.
	if err := access(path); err != nil {
		return "cannot be read: " + err.Error()
	}
	return ""
}

// reason is err without the operation and path a *fs.PathError repeats.
func reason(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}
