package eventlog_test

import (
	"context"

	"github.com/waybill-eu/waybill/agent/eventlog"
	"github.com/waybill-eu/waybill/agent/eventlog/logcheck"
	"github.com/waybill-eu/waybill/agent/eventlog/salvage"
)

func init() {
	eventlog.SetTools(check, recoverEpoch, salvage.Source)
}

func check(ctx context.Context, dir string, o eventlog.CheckOptions) (*eventlog.CheckResult, error) {
	rep, err := logcheck.Check(ctx, dir, logcheck.Options{Workers: o.Workers})
	r := &eventlog.CheckResult{Events: rep.Events, Pruned: rep.Pruned}
	if p := rep.Problem; p != nil {
		r.Problem = &eventlog.CheckResultProblem{File: p.File, Seq: p.Seq, HasSeq: p.HasSeq, Err: p}
	}
	return r, err
}

func recoverEpoch(ctx context.Context, from, out string, o eventlog.SalvageOptions) (*eventlog.SalvageResult, error) {
	rep, err := salvage.Recover(ctx, from, out, salvage.Options{LogDir: o.LogDir, Workers: o.Workers})
	if rep == nil {
		return nil, err
	}
	return &eventlog.SalvageResult{Recovered: rep.Recovered, Prefix: rep.Prefix, Summary: rep.Summary()}, err
}
