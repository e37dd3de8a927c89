package server

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"os"
	"strings"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/rpc"

	"github.com/waybill-eu/waybill/agent/atomicfile"
	"github.com/waybill-eu/waybill/sync/anchor"
	"github.com/waybill-eu/waybill/sync/watch"
	"github.com/waybill-eu/waybill/sync/watch/ledger"
)

// ledgerSource is one ledger reader and where its cursor is kept.
type ledgerSource struct {
	name   string // "registry" or "ebsi"
	reader *ledger.Reader
	// cursorFile keeps the cursor between runs; "" starts every run from
	// the configured start block (anchors are archived idempotently, so
	// reading them again only costs time).
	cursorFile string
}

// openLedgers dials the ledger nodes the configuration names and returns
// their readers; the clients are closed by the closers it appends.
func (s *Server) openLedgers(ctx context.Context) error {
	l := s.cfg.Ledger
	if l == nil {
		return nil
	}
	var devices []watch.Device
	for _, op := range s.cfg.Trust.Operators {
		devices = append(devices, op.Devices...)
	}
	fin, err := anchor.ParseFinality(l.Finality)
	if err != nil {
		return fmt.Errorf("%s: ledger.finality: %w", s.cfg.File, err)
	}
	var cl ledger.Caller = s.caller
	if cl == nil {
		c, err := rpc.DialContext(ctx, l.RPC)
		if err != nil {
			return fmt.Errorf("%s: ledger.rpc: %w", s.cfg.File, err)
		}
		s.closers = append(s.closers, func() error { c.Close(); return nil })
		cl = c
	}
	cfg := ledger.Config{Devices: devices, Finality: fin, ChainID: l.ChainID, Start: l.StartBlock, Poll: l.Poll, Logger: s.lg}
	r, err := ledger.NewRegistry(cl, common.Address(l.Registry), cfg)
	if err != nil {
		return fmt.Errorf("%s: ledger: %w", s.cfg.File, err)
	}
	s.ledgers = append(s.ledgers, &ledgerSource{name: "registry", reader: r, cursorFile: s.cursorFile("registry")})
	if e := l.EBSI; e != nil {
		ecl, err := rpc.DialContext(ctx, e.RPC)
		if err != nil {
			return fmt.Errorf("%s: ledger.ebsi.rpc: %w", s.cfg.File, err)
		}
		s.closers = append(s.closers, func() error { ecl.Close(); return nil })
		ecfg := ledger.Config{Devices: devices, Start: e.StartBlock, Poll: l.Poll, Logger: s.lg}
		r, err := ledger.NewEBSI(ecl, common.Address(e.Contract), new(big.Int).SetUint64(e.HashAlgorithmID), ecfg)
		if err != nil {
			return fmt.Errorf("%s: ledger.ebsi: %w", s.cfg.File, err)
		}
		s.ledgers = append(s.ledgers, &ledgerSource{name: "ebsi", reader: r, cursorFile: s.cursorFile("ebsi")})
	}
	return nil
}

// cursorFile is where a reader's cursor is kept: beside the bbolt archive;
// none with PostgreSQL, where several watchers share the archive but not
// a disk.
func (s *Server) cursorFile(name string) string {
	if s.cfg.Archive.Bolt == "" {
		return ""
	}
	return s.cfg.Archive.Bolt + "." + name + "-cursor"
}

// runLedger reads the anchors of src until ctx is done and hands each to
// the watcher; the cursor is saved once the anchors before it are handled.
func (s *Server) runLedger(ctx context.Context, src *ledgerSource) error {
	var from ledger.Cursor
	if src.cursorFile != "" {
		b, err := os.ReadFile(src.cursorFile)
		switch {
		case errors.Is(err, os.ErrNotExist):
		case err != nil:
			return err
		default:
			if err := from.UnmarshalText([]byte(strings.TrimSpace(string(b)))); err != nil {
				return fmt.Errorf("%s: %w", src.cursorFile, err)
			}
		}
	}
	return src.reader.Run(ctx, from, func(ctx context.Context, anchors []watch.Anchor, next ledger.Cursor) error {
		for _, a := range anchors {
			v, err := s.watcher.HandleAnchor(ctx, a)
			if err != nil {
				s.archiveFailed(err)
				return err
			}
			s.archiveOK()
			now := s.now()
			s.met.observe(v, now)
			s.met.anchored(a.Device, now)
			if v.State == watch.StateRejected {
				s.lg.Warn("anchor rejected", "source", src.name, "device", a.Device, "epoch", a.Epoch, "size", a.Size, "reason", v.Reason, "err", v.Err)
			}
			if v.Alarm != nil {
				s.lg.Error("alarm", "reason", v.Alarm.Reason, "device", v.Alarm.Device, "epoch", v.Alarm.Epoch, "detail", v.Alarm.Detail)
			}
		}
		if src.cursorFile == "" {
			return nil
		}
		b, _ := next.MarshalText()
		return atomicfile.WriteFile(src.cursorFile, append(b, '\n'), 0o644)
	})
}
