package main

import "context"

func cmdCheck(ctx context.Context, e *env, args []string) error {
	return usageError{"log check: not built yet"}
}
func cmdSalvage(ctx context.Context, e *env, args []string) error {
	return usageError{"log salvage: not built yet"}
}
