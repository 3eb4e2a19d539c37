package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"meridian.dev/meridian/dataset"
	"meridian.dev/meridian/store"
	"meridian.dev/meridian/transfer"
)

func newDatasetVerifyCmd() *cobra.Command {
	var at, storeURL, catalogDir, out, pin string
	var files []string
	var kf keyFlags
	cmd := &cobra.Command{
		Use: "verify NAME --at SITE",
		Example: `  meridian dataset verify chat-logs --at my-johor-1
  meridian dataset verify chat-logs --store file:///srv/meridian/store`,
		Short: "Re-read and authenticate every chunk of a dataset at a site",
		Long: `Verify reads the dataset's manifest and every chunk from the site's store and
authenticates each with the dataset key. It names every missing or altered
chunk and the files that use it, and exits 1 if any is found.

The store must hold the version the ledger says the last staging to the site
put there (or, with --manifest-sha256, that version): another genuine
manifest in its place, such as an older version put back with its chunks,
is reported as replaced, and verify exits 1. On a state directory whose
servers keep their ledger in PostgreSQL, --at needs --manifest-sha256 (the
version a server's ledger, GET /v1/ledger, names), or verify through a
server (POST /v1/datasets/NAME/verify): the directory's own ledger is not
theirs.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			st, err := openState()
			if err != nil {
				return err
			}
			if pin != "" && !validPin(pin) {
				return badInput(fmt.Errorf("--manifest-sha256 %q: want 64 lowercase hex digits", pin))
			}
			if pin == "" && at != "" && st.sharedStore() {
				// The version the site must hold is the one the last
				// staging put there, which the ledger of the servers, in
				// PostgreSQL, records: the directory's own database has
				// none of their stagings, and read, it held the site to
				// no version (a manifest put back passed) or to an old one.
				return badInput(fmt.Errorf("state directory %s belongs to servers whose ledger is in PostgreSQL (serve --store postgres://…): the version the last staging put at %s is not recorded here; verify through a server (POST /v1/datasets/%s/verify), or pass the version a server's ledger names (GET /v1/ledger) as --manifest-sha256", st.Path, at, name))
			}
			url, b, sealer, err := openSealed(cmd, st, name, at, storeURL, catalogDir, files, &kf)
			if err != nil {
				return err
			}
			defer b.Close()
			if pin == "" && at != "" {
				if pin, err = stagedManifest(cmd.Context(), st, name, at); err != nil {
					return err
				}
			}
			kf.warnUnvouched(cmd.ErrOrStderr(), name, pin)
			rep, err := dataset.Verify(cmd.Context(), b, sealer, name, pin, 4)
			if err != nil {
				return err
			}
			if err := render(cmd.OutOrStdout(), out, rep, func(w io.Writer) error {
				return printDatasetVerify(w, name, url, rep)
			}); err != nil {
				return err
			}
			if rep.ManifestReplaced != "" {
				return &codeError{code: exitError, err: fmt.Errorf("dataset %s: the store's manifest is not the version staged there", name)}
			}
			if !rep.Good() {
				return &codeError{code: exitError, err: fmt.Errorf("dataset %s: %d missing and %d altered chunks", name, len(rep.Missing), len(rep.Altered))}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&at, "at", "", "site whose store to check")
	cmd.Flags().StringVar(&storeURL, "store", "", "store URL to check instead of a site's")
	cmd.Flags().StringVar(&pin, "manifest-sha256", "", "the version the store must hold (default with --at: the one the ledger says the last staging put there)")
	cmd.Flags().StringArrayVarP(&files, "file", "f", nil, "resource file or directory with sites (repeatable)")
	cmd.Flags().StringVar(&catalogDir, "catalog", "", "directory of Site files that replace the built-in sites")
	kf.add(cmd)
	addOutputFlag(cmd, &out)
	return cmd
}

// stagedManifest is the manifest the state directory's ledger says the last
// complete staging of dataset name put at site, or "" when it records
// none (no staging there, or one from before manifests were recorded).
// The ledger is read read-only: verify writes nothing.
func stagedManifest(ctx context.Context, st state, name, site string) (string, error) {
	if _, err := os.Stat(st.Database()); err != nil {
		return "", nil
	}
	r, err := store.OpenAuditReader(ctx, st.Database())
	if err != nil {
		return "", err
	}
	defer r.Close()
	sums, err := transfer.Summarize(ctx, transfer.AuditLedger{Store: r}, dataset.DefaultTenant)
	if err != nil {
		return "", err
	}
	for _, s := range sums {
		if s.Kind == transfer.KindDataset && s.Dataset == name && s.Site == site {
			return s.ManifestSHA256, nil
		}
	}
	return "", nil
}

// printDatasetVerify is dataset verify's report. The names of the files a
// bad chunk is used by are the dataset's own, any bytes a file name may
// hold, and why a manifest is not the version staged comes from what the
// site's store holds: each is shown as text, never acted on by the
// terminal.
func printDatasetVerify(w io.Writer, name, url string, rep *dataset.VerifyReport) error {
	if rep.ManifestReplaced != "" {
		_, err := fmt.Fprintf(w, "dataset %s at %s: manifest replaced: %s\n", shown(name), shown(url), shown(rep.ManifestReplaced))
		return err
	}
	if _, err := fmt.Fprintf(w, "dataset %s at %s: %d of %d chunks good\n", shown(name), shown(url), rep.OK, rep.Chunks); err != nil {
		return err
	}
	for _, l := range [][]dataset.ChunkProblem{rep.Missing, rep.Altered} {
		for _, p := range l {
			files := make([]string, len(p.Files))
			for i, f := range p.Files {
				files[i] = shown(f)
			}
			if _, err := fmt.Fprintf(w, "  %s chunk %s (used by %s)\n", shown(p.Reason), shown(p.ID), strings.Join(files, ", ")); err != nil {
				return err
			}
		}
	}
	return nil
}
