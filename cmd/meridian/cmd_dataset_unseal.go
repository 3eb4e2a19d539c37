package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"meridian.dev/meridian/dataset"
)

func newDatasetUnsealCmd() *cobra.Command {
	var at, store, to, catalogDir, pin string
	var files []string
	var kf keyFlags
	cmd := &cobra.Command{
		Use:   "unseal NAME --at SITE --to DIR|-",
		Short: "Decrypt a staged dataset for a job (into a directory, or as tar on stdout)",
		Long: `Unseal runs in a job's prologue at the site. It reads the key from
--key-file (removed after reading; named through a link, both the file it
leads to and the link), --key-stdin or $MERIDIAN_DATASET_KEY (or, for the
owner, the keyring), authenticates every chunk and writes plaintext
files into DIR, each renamed into place only when complete. With --to - it
streams a tar archive to standard output instead. With --manifest-sha256 (the
digest dataset stage printed, and the ledger records) it reads that version
only: a site that serves another genuine version of the dataset in its place,
an older staging's say, is refused before anything is written.

A --to that is a link (a ~/scratch of your own) is followed once, and the
directory it leads to is written; a path that another user (root aside)
owns or may change, the target itself or a directory on its way, links
and their targets included (a sticky directory such as /tmp excepted), is
refused: they could lead the plaintext into a directory of theirs.

--to is resolved once and held open, and every file and directory is
written through it: a swap on its way after the look changes nothing. The
directories it lacks are made (mode 0700) once the manifest is found good;
one that another user makes there meanwhile is judged as an existing --to
is, and refused.

A key given from outside the keyring proves nothing by itself: whoever can
write both the key file and the store can seal data of their own under a
key of their own. Give --key-fingerprint (what dataset key NAME
--fingerprint prints) to refuse any other key, or --manifest-sha256, which
only the dataset's own key opens; with neither, unseal says so on standard
error.`,
		Example: `  MERIDIAN_DATASET_KEY=... meridian dataset unseal chat-logs --store "$SITE_STORE" --to "$SCRATCH/data"
  meridian dataset unseal chat-logs --at my-johor-1 --key-file key --to - | tar -x -C "$SCRATCH"`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if to == "" {
				return badInput(errors.New("--to: required (a directory, or - for tar on stdout)"))
			}
			if pin != "" && !validPin(pin) {
				return badInput(fmt.Errorf("--manifest-sha256 %q: want 64 lowercase hex digits", pin))
			}
			kf.warnUnvouched(cmd.ErrOrStderr(), name, pin)
			// A job's prologue names the store and the key file: it needs
			// no Meridian state directory at the site, and makes none.
			var st state
			if store == "" || (kf.keyFile == "" && !kf.keyStdin && os.Getenv("MERIDIAN_DATASET_KEY") == "") {
				var err error
				if st, err = openState(); err != nil {
					return err
				}
			}
			_, b, sealer, err := openSealed(cmd, st, name, at, store, catalogDir, files, &kf)
			if err != nil {
				return err
			}
			defer b.Close()
			if to == "-" {
				_, err = dataset.UnsealTarPinned(cmd.Context(), b, sealer, name, cmd.OutOrStdout(), pin)
				return err
			}
			// --to is judged and held before the manifest is read, and
			// what it lacks is made only once the manifest is found good.
			t, err := startUnsealTo(to)
			if err != nil {
				return err
			}
			defer t.close()
			u, err := dataset.OpenUnseal(cmd.Context(), b, sealer, name, pin)
			if err != nil {
				return err
			}
			dir, err := t.finish()
			if err != nil {
				return err
			}
			defer dir.Close()
			if err := u.Into(cmd.Context(), dir); err != nil {
				return err
			}
			m := u.Manifest()
			fmt.Fprintf(cmd.ErrOrStderr(), "unsealed %s: %d files, %s into %s\n", name, len(m.Files), humanBytes(m.TotalBytes()), dir.Name())
			return nil
		},
	}
	cmd.Flags().StringVar(&at, "at", "", "site whose store holds the dataset")
	cmd.Flags().StringVar(&store, "store", "", "store URL instead of a site's")
	cmd.Flags().StringVar(&to, "to", "", "directory to write (must be empty, or hold an unseal of the same version cut short, which is finished), or - for a tar stream on stdout")
	cmd.Flags().StringVar(&pin, "manifest-sha256", "", "read only the version whose manifest has this SHA-256 (as dataset stage printed it)")
	cmd.Flags().StringArrayVarP(&files, "file", "f", nil, "resource file or directory with sites (repeatable)")
	cmd.Flags().StringVar(&catalogDir, "catalog", "", "directory of Site files that replace the built-in sites")
	kf.add(cmd)
	return cmd
}

// validPin reports whether s is a hex SHA-256 as the ledger writes it.
func validPin(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
