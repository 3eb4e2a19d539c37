package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/internal/plainfile"
	"meridian.dev/meridian/run"
)

func init() { register(newRunCmd) }

func newRunCmd() *cobra.Command {
	var files []string
	var req run.SubmitRequest
	var cf clientFlags
	var out string
	var follow, raw, escape bool
	cmd := &cobra.Command{
		Use:   "run -f FILE [-f FILE…] [--placement N] [--follow]",
		Short: "Plan a job and start it at its best placement",
		Long: `Run sends the job's files to the server, which plans the job as of today (a
run happens now; ask what-if questions with plan --as-of), records the plan
with every rule it cites, picks placement 1 (or --placement N) and starts the
run. Organization and Dataset documents in the files are registered to your
tenant the first time; later requests must carry the same copies (change
them with apply --update). Sites come from the server's catalog; a file that
defines one is refused. Only sites with a configured backend run jobs: the
run takes the best runnable placement, and its timeline says which ranks it
skipped and why. --follow streams the run's events and output until it ends
(as sky launch does); otherwise follow it with describe, logs and get. On a
terminal the output's control characters and escape sequences are written
visibly, as logs writes them; --raw writes it byte for byte, and --escape
escaped to a file or a pipe too (a pager).`,
		Example: `  meridian run -f examples/demo/job.yaml --follow
  meridian run -f job.yaml -f datasets.yaml --placement 2`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := escapeCheck(raw, escape); err != nil {
				return err
			}
			files = append(files, args...)
			if len(files) == 0 {
				return badInput(fmt.Errorf("-f: give at least one file or directory"))
			}
			docs, err := readDocuments(files)
			if err != nil {
				return badInput(err)
			}
			req.Documents = docs
			c, err := cf.client()
			if err != nil {
				return badInput(err)
			}
			r, err := c.Submit(cmd.Context(), req)
			if err != nil {
				return apiErr(err)
			}
			err = render(cmd.OutOrStdout(), out, r, func(w io.Writer) error {
				if r.State == run.Held {
					_, err := fmt.Fprintf(w, "run %s: %s, held: %s\n", shown(r.ID), shown(r.Job), shown(r.Reason))
					return err
				}
				_, err := fmt.Fprintf(w, "run %s: %s, %d × %s at %s (%s), placement %d as of %s\n",
					shown(r.ID), shown(r.Job), r.Placement.Count, shown(r.Placement.Accelerator), shown(r.Site), shown(r.Placement.Country), r.Rank, shown(r.AsOf))
				return err
			})
			if err != nil || !follow {
				return err
			}
			w, flush := workloadOutput(cmd.OutOrStdout(), raw, escape)
			defer flush()
			return followRun(cmd.Context(), w, cmd.ErrOrStderr(), c, r.ID)
		},
	}
	cmd.Flags().BoolVar(&follow, "follow", false, "stream the run's events and output until it ends; exit 1 unless it succeeds")
	escapeFlags(cmd, &raw, &escape, "with --follow, write the workload's output byte for byte to a terminal too, escape sequences included")
	cmd.Flags().StringArrayVarP(&files, "file", "f", nil, "resource file or directory (repeatable)")
	cmd.Flags().IntVar(&req.Placement, "placement", 0, "plan rank to use (default 1)")
	cmd.Flags().StringVar(&req.AsOf, "as-of", "", "refused: a run happens today (use plan --as-of for what-if)")
	cmd.Flags().MarkHidden("as-of")
	cmd.Flags().StringVar(&req.Job, "job", "", "TrainingJob to run when the files hold several")
	cmd.Flags().StringVar(&req.IdempotencyKey, "idempotency-key", "", "a retry with the same key returns the same run")
	cmd.Flags().IntVar(&req.Priority, "priority", 0, "order among your runs that wait for capacity or quota: higher first (-1000 to 1000)")
	addClientFlags(cmd, &cf)
	addOutputFlag(cmd, &out)
	return cmd
}

// readDocuments reads files, and the .yaml/.yml files in directories, in
// name order.
func readDocuments(paths []string) ([]run.Document, error) {
	var docs []run.Document
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("-f %s: %w", p, err)
		}
		names := []string{p}
		if fi.IsDir() {
			names = nil
			entries, err := os.ReadDir(p)
			if err != nil {
				return nil, err
			}
			for _, e := range entries {
				if ext := filepath.Ext(e.Name()); !e.IsDir() && (ext == ".yaml" || ext == ".yml") {
					names = append(names, filepath.Join(p, e.Name()))
				}
			}
			sort.Strings(names)
		}
		for _, n := range names {
			// A file named on the command line may be a pipe (-f
			// <(envsubst < job.yaml), -f /dev/stdin); the files found in
			// a directory it names must be regular files, since anyone
			// who can write there could leave a FIFO that holds the
			// command for ever.
			read := plainfile.ReadNamed
			if fi.IsDir() {
				read = plainfile.Read
			}
			b, err := read(n, catalog.MaxFileBytes)
			if err != nil {
				return nil, fmt.Errorf("-f: %w", err)
			}
			docs = append(docs, run.Document{Name: filepath.Base(n), Content: string(b)})
		}
	}
	return docs, nil
}

func shortTime(s string) string {
	if i := strings.IndexByte(s, '.'); i > 0 {
		return s[:i] + "Z"
	}
	return s
}
