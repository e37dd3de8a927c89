package server

import (
	"context"
	"io"
)

func cmdBench(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlags("bench", stdout)
	if err := parse(fs, args); err != nil {
		return err
	}
	return nil
}
