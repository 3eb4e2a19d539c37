package run

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/fleet"
	"meridian.dev/meridian/internal/plainfile"
)

// KindQuota is the audit kind of a reload of the quota file.
const KindQuota = "quota"

// ErrNoQuotaFile is a reload asked of a server started without quotas.
var ErrNoQuotaFile = errors.New("the server was started without --quotas: there is no quota file to reload")

// QuotaError is a quota file that cannot be put in force: unreadable, or
// refused by the checks (the message names the file, document and field).
// The quotas in force stay.
type QuotaError struct{ Err error }

func (e *QuotaError) Error() string { return e.Err.Error() }
func (e *QuotaError) Unwrap() error { return e.Err }

// QuotaReload is what a reload of the quota file put in force.
type QuotaReload struct {
	File string `json:"file"`
	// SHA256 is the digest of the file in force now; Previous that of the
	// one before (empty: read at start, before any reload).
	SHA256   string    `json:"sha256"`
	Previous string    `json:"previous,omitempty"`
	Tenants  []string  `json:"tenants"`
	Changed  bool      `json:"changed"`
	Time     time.Time `json:"time"`
	// Unnamed lists the catalog's accelerators that no quota names: every
	// tenant may use them up to capacity.
	Unnamed []string `json:"unnamed,omitempty"`
}

// ReloadQuotas reads the quota file (Config.QuotaFile) again and, once it
// passes every check ParseQuotas makes, puts it in force from the next
// decision on; by says who asked (written to the audit log). A file that
// cannot be read or fails a check leaves the quotas in force as they were
// and returns a *QuotaError naming the file and field; the refusal is
// audited too. Holds already taken stay: a run over a lowered quota keeps
// what it holds until its attempt ends.
func (c *Controller) ReloadQuotas(ctx context.Context, by string) (*QuotaReload, error) {
	path := c.cfg.QuotaFile
	if path == "" {
		return nil, ErrNoQuotaFile
	}
	c.quotaMu.Lock()
	defer c.quotaMu.Unlock()
	refuse := func(err error) (*QuotaReload, error) {
		c.cfg.Logger.Warn("quota reload refused: the quotas in force stay", "file", path, "by", by, "err", err)
		rec, aerr := audit.NewRecord(KindQuota, "", map[string]any{"action": "reload-refused", "file": path, "error": err.Error(), "by": by})
		if aerr == nil {
			aerr = c.cfg.Store.AppendAudit(ctx, rec)
		}
		if aerr != nil {
			return nil, fmt.Errorf("audit of a refused quota reload: %w (refused: %v)", aerr, err)
		}
		return nil, &QuotaError{Err: err}
	}
	if c.cfg.CheckQuotaFile != nil {
		if err := c.cfg.CheckQuotaFile(path); err != nil {
			return refuse(err)
		}
	}
	data, err := plainfile.Read(path, catalog.MaxFileBytes)
	if err != nil {
		return refuse(err)
	}
	w, err := c.capacityWorld()
	if err != nil {
		return nil, err
	}
	q, err := fleet.ParseQuotas(path, data, w.Accelerators)
	if err != nil {
		return refuse(err)
	}
	sum := sha256.Sum256(data)
	out := &QuotaReload{File: path, SHA256: hex.EncodeToString(sum[:]), Previous: c.quotaSum, Tenants: q.Tenants(), Time: c.cfg.Now().UTC()}
	out.Changed = out.SHA256 != out.Previous
	out.Unnamed = q.Unnamed()
	if w := q.UnnamedWarning(); w != "" {
		c.cfg.Logger.Warn("quota reload: "+w, "file", path, "unnamed", out.Unnamed)
	}
	rec, err := audit.NewRecord(KindQuota, "", map[string]any{"action": "reloaded", "file": path, "sha256": out.SHA256, "previous": out.Previous,
		"tenants": out.Tenants, "changed": out.Changed, "by": by})
	if err != nil {
		return nil, err
	}
	// Audited first: quotas are never in force without their record.
	if err := c.cfg.Store.AppendAudit(ctx, rec); err != nil {
		return nil, fmt.Errorf("audit of the quota reload: %w (the quotas in force stay)", err)
	}
	c.SetQuotas(q)
	c.quotaSum = out.SHA256
	c.cfg.Logger.Info("quotas reloaded", "file", path, "sha256", out.SHA256, "tenants", len(out.Tenants), "by", by)
	c.Nudge()
	return out, nil
}
