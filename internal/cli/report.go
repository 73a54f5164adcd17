package cli

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/keycycle/keycycle/internal/exitcode"
	"github.com/keycycle/keycycle/internal/report"
)

// reportSummary is the report command's line in `keycycle help`.
const reportSummary = "report every user: inventory, compliance (CIS, Security Hub), a forecast of the next days, history (docs/report.md)"

// stringList is a repeatable string flag.
type stringList []string

func (s *stringList) String() string { return strings.Join(*s, ",") }

func (s *stringList) Set(v string) error {
	if v == "" {
		return errors.New("empty file name")
	}
	*s = append(*s, v)
	return nil
}

// reportCommand serves `keycycle report`: it scans every selected account (the credential
// report: a few calls per account, no per-user reads) and renders the report; with --history it
// reads only audit files and renders what happened.
func reportCommand(fs *flag.FlagSet, e *env) runFunc {
	c := commonFlags(fs)
	format := fs.String("format", "table", "output `format`: table, json, csv, markdown or html")
	out := fs.String("out", "", "write the report to `file` instead of stdout")
	days := fs.Int("days", report.DefaultDays, "forecast this many `days` (0: no forecast)")
	history := fs.Bool("history", false, "report only the history from the audit trail (--audit files, default the configuration's audit.file); reads no AWS")
	user := fs.String("user", "", "history: only this `user`")
	account := fs.String("account", "", "history: only this `account` id")
	var audits stringList
	fs.Var(&audits, "audit", "audit trail `file` (JSON lines from keycycle apply --audit, or the Lambda's exported log records); repeatable")
	return func(ctx context.Context, args []string) int {
		if len(args) > 0 {
			return usageError(fs, "unexpected arguments: %s", strings.Join(args, " "))
		}
		f, err := report.ParseFormat(*format)
		if err != nil {
			return usageError(fs, "--format: %v", err)
		}
		if *days < 0 || *days > 366 {
			return usageError(fs, "--days must be between 0 and 366, got %d", *days)
		}
		if !*history && (*user != "" || *account != "") && len(audits) == 0 {
			return usageError(fs, "--user and --account filter the history: use them with --history or --audit")
		}
		var r report.Report
		code := exitcode.OK
		if *history {
			cfg, err := loadConfig(e, *c.config)
			if err != nil {
				fmt.Fprintf(e.stderr, "keycycle: %v\n", err)
				return exitcode.Invalid
			}
			if len(audits) == 0 && cfg.Audit.File != "" {
				audits = append(audits, cfg.Audit.File)
			}
			if len(audits) == 0 {
				return usageError(fs, "--history needs --audit files (or audit.file in the configuration)")
			}
			r = report.Report{Version: report.Version, Thresholds: []report.RuleThreshold{}, Controls: []report.Control{},
				Accounts: []report.Account{}, Users: []report.User{}}
		} else {
			runner, cfg, setupCode := c.setup(ctx, e)
			if runner == nil {
				return setupCode
			}
			fleet, targets, err := scope(ctx, e, cfg, runner)
			if err != nil {
				fmt.Fprintf(e.stderr, "keycycle report: %v\n", err)
				return exitcode.Failed
			}
			results := fleet.Plan(ctx, targets)
			in := report.Input{Rules: runner.Rules, Now: runner.Now(), Days: *days}
			if *days == 0 {
				in.Days = -1
			}
			for _, res := range results {
				if res.Err != nil {
					fmt.Fprintf(e.stderr, "keycycle: %v\n", res.Err)
					in.Failed = append(in.Failed, report.AccountError{AccountID: res.AccountID, Error: res.Err.Error()})
					continue
				}
				a := res.Scanned.Account
				if a.Alias == "" {
					a.Alias = res.Name
				}
				in.Accounts = append(in.Accounts, a)
			}
			if len(in.Accounts) == 0 {
				return exitcode.Failed
			}
			r = report.Build(in)
			if len(in.Failed) > 0 {
				code = exitcode.Failed
			}
		}
		if len(audits) > 0 {
			h, err := readHistory(audits, report.HistoryFilter{AccountID: *account, User: *user})
			if err != nil {
				fmt.Fprintf(e.stderr, "keycycle report: %v\n", err)
				return exitcode.Of(err)
			}
			r.History = h
			r.GeneratedAt = latest(r, h)
		}
		var buf bytes.Buffer
		if err := report.Write(&buf, r, f); err != nil {
			fmt.Fprintf(e.stderr, "keycycle report: %v\n", err)
			return exitcode.Failed
		}
		if err := writeOutput(*out, e.stdout, buf.Bytes()); err != nil {
			fmt.Fprintf(e.stderr, "keycycle report: %v\n", err)
			return exitcode.Failed
		}
		return code
	}
}

// latest keeps a scanned report's time, or dates a history-only report by its last record.
func latest(r report.Report, h *report.History) time.Time {
	if !r.GeneratedAt.IsZero() || len(h.Entries) == 0 {
		return r.GeneratedAt
	}
	return h.Entries[len(h.Entries)-1].Time
}

func readHistory(files []string, f report.HistoryFilter) (*report.History, error) {
	h := &report.History{AccountID: f.AccountID, User: f.User, Entries: []report.HistoryEntry{}}
	for _, name := range files {
		fh, err := os.Open(name)
		if err != nil {
			return nil, exitcode.With(exitcode.Invalid, fmt.Errorf("audit file: %w", err))
		}
		err = report.ReadHistory(h, fh, name, f)
		fh.Close()
		if err != nil {
			return nil, err
		}
	}
	return h, nil
}

// writeOutput writes data to path atomically (0644: a report holds no secret), or to stdout
// when path is empty.
func writeOutput(path string, stdout io.Writer, data []byte) error {
	if path == "" {
		_, err := stdout.Write(data)
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".report-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
