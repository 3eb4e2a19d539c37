package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/spf13/cobra"

	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/dataset"
	"meridian.dev/meridian/internal/atomicfile"
	"meridian.dev/meridian/planner"
	"meridian.dev/meridian/seal"
)

func newDatasetAddCmd() *cobra.Command {
	var from, origin, class, store, out string
	var subjects int64
	var bases []string
	cmd := &cobra.Command{
		Use:   "add NAME --from DIR --origin CC --classification C",
		Short: "Chunk, encrypt and store a directory as a dataset, and register it",
		Example: `  meridian dataset add chat-logs --from ./data --origin CN --classification personal \
      --subjects 120000 --basis cn-standard-contract`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if err := dataset.CheckName(name); err != nil {
				return badInput(fmt.Errorf("NAME: %w", err))
			}
			if from == "" {
				return badInput(errors.New("--from: required (the directory to add)"))
			}
			if fi, err := os.Stat(from); err != nil {
				return badInput(fmt.Errorf("--from: %w", err))
			} else if !fi.IsDir() {
				return badInput(fmt.Errorf("--from %s: not a directory", from))
			}
			st, err := openState()
			if err != nil {
				return err
			}
			if store == "" {
				store = st.HomeStore()
			}
			// The dataset's document names its store as the server will
			// read it: a relative directory, absolute.
			if store, err = dataset.AbsoluteFile(store); err != nil {
				return badInput(fmt.Errorf("--store: %w", err))
			}
			ds := &catalog.Dataset{APIVersion: catalog.APIVersion, Kind: catalog.KindDataset,
				Metadata: catalog.Metadata{Name: name},
				Spec:     catalog.DatasetSpec{Origin: origin, Classification: class, Subjects: subjects, TransferBases: bases, Store: store}}
			// Validate the resource before touching any data.
			if err := validateDataset(ds); err != nil {
				return badInput(err)
			}
			ctx := cmd.Context()
			// A new key is recorded in the audit log before it is kept,
			// and a key kept is used only as the log records it: one
			// written into the keyring outside Meridian is refused.
			db, err := st.auditStore(ctx)
			if err != nil {
				return err
			}
			defer db.Close()
			kr := st.keyring(db.keyWitness())
			key, err := kr.GetOrCreateContext(ctx, name, "owner")
			if err != nil {
				return err
			}
			sealer, err := seal.New(key, name)
			if err != nil {
				return err
			}
			bucket, err := dataset.OpenStore(ctx, store)
			if err != nil {
				return badInput(fmt.Errorf("--store: %w", err))
			}
			defer bucket.Close()
			bar := &barProgress{w: cmd.ErrOrStderr()}
			start := time.Now()
			res, err := dataset.Add(ctx, dataset.AddOptions{Name: name, Root: from, Store: bucket, Sealer: sealer,
				OnStart: func(total int64) { bar.Start("adding "+name, total) }, OnBytes: bar.Add})
			bar.Done()
			if err != nil {
				if errors.Is(err, dataset.ErrEscape) {
					return badInput(err)
				}
				return err
			}
			ds.Spec.SizeBytes = float64(res.Bytes)
			data, err := yaml.Marshal(ds)
			if err != nil {
				return err
			}
			if err := atomicfile.WriteFile(st.DatasetFile(name), data, 0o600); err != nil {
				return err
			}
			// Recorded in this directory's log: servers on PostgreSQL
			// refuse the key until it is sent.
			st.sharedKeyNote(cmd.ErrOrStderr(), name)
			secs := time.Since(start).Seconds()
			summary := map[string]any{"dataset": name, "files": res.Files, "bytes": res.Bytes, "chunks": res.Chunks,
				"newChunks": res.NewChunks, "newBytes": res.NewBytes, "store": store, "resource": st.DatasetFile(name)}
			return render(cmd.OutOrStdout(), out, summary, func(w io.Writer) error {
				fmt.Fprintf(w, "dataset %s: %d files, %s in %d chunks (%d new, %s written) to %s in %.1fs (%s/s)\n",
					name, res.Files, humanBytes(res.Bytes), res.Chunks, res.NewChunks, humanBytes(res.NewBytes), store, secs, humanBytes(int64(float64(res.Bytes)/max(secs, 1e-9))))
				fmt.Fprintf(w, "registered %s; key kept in %s\n", st.DatasetFile(name), kr.Dir)
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&from, "from", "", "directory to add")
	cmd.Flags().StringVar(&origin, "origin", "", "country whose law governs export of the data (ISO 3166-1 alpha-2)")
	cmd.Flags().StringVar(&class, "classification", "", "public | deidentified | personal | sensitive-personal | important")
	cmd.Flags().Int64Var(&subjects, "subjects", 0, "number of people the data covers (required for personal data)")
	cmd.Flags().StringArrayVar(&bases, "basis", nil, "legal basis held for transfer (repeatable), e.g. eu-scc, cn-standard-contract")
	cmd.Flags().StringVar(&store, "store", "", "home store URL (file:///dir or s3://bucket?endpoint=…); default $MERIDIAN_HOME/store")
	addOutputFlag(cmd, &out)
	return cmd
}

// validateDataset checks a new Dataset resource with the catalog's rules;
// problems are named as the flags that made it.
func validateDataset(ds *catalog.Dataset) error {
	data, err := yaml.Marshal(ds)
	if err != nil {
		return err
	}
	set, err := catalog.Decode("flags", data)
	if err != nil {
		return err
	}
	w, err := catalog.Builtin()
	if err != nil {
		return err
	}
	if err := w.Add(set); err != nil {
		return err
	}
	return w.Validate(planner.AssumptionKeys())
}
