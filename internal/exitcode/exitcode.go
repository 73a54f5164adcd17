// Package exitcode is keycycle's table of process exit codes, one meaning each, so automation can
// tell "nothing to do" from "changes pending" from "a person must look" (docs/cli.md lists it):
//
//	0   OK: success, nothing left to do
//	1   Failed: something failed part-way (some steps failed; the rest is reported)
//	2   Invalid: bad input (flags, configuration, plan file, message) or a refused plan; nothing was changed
//	3   Pending: a plan or dry run found changes to make
//	4   Attention: done, but something needs a person (blocked users, unreadable users, failed notices)
//	130 Interrupted: stopped by a signal (Ctrl-C) or a declined prompt; what was done is reported
//
// Errors carry their code with With; Of reads it back.
package exitcode

import (
	"context"
	"errors"
)

// The exit codes.
const (
	OK          = 0
	Failed      = 1
	Invalid     = 2
	Pending     = 3
	Attention   = 4
	Interrupted = 130
)

// Error is an error with the exit code it calls for.
type Error struct {
	Code int
	Err  error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// With wraps err with code; nil stays nil.
func With(code int, err error) error {
	if err == nil {
		return nil
	}
	return &Error{Code: code, Err: err}
}

// Of returns the exit code err calls for: OK for nil, the code of the outermost *Error in its
// chain, Interrupted for a cancelled context, otherwise Failed.
func Of(err error) int {
	if err == nil {
		return OK
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	if errors.Is(err, context.Canceled) {
		return Interrupted
	}
	return Failed
}
