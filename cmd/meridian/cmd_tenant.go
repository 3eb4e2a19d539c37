package main

import (
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"meridian.dev/meridian/api"
)

func init() { register(newTenantCmd) }

func newTenantCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "tenant",
		Short: "Add, list and revoke tenants' API tokens (needs an admin token)",
		Long: `Tenants reach the server with bearer tokens. The server keeps only their
SHA-256 hashes; a token's secret is printed once, when it is made, and never
again. Changes take effect without a restart (a revocation on every server
within two seconds). The first start of a server makes an admin token for
tenant "default" and writes it to client.json; an admin may add and revoke
tokens and, beyond that, sees only its own tenant's runs and data.`,
		Example: `  meridian tenant add acme-lab
  meridian tenant add ops --admin --note "platform team"
  meridian tenant list
  meridian tenant revoke acme-lab
  meridian tenant revoke acme-lab --id 3f9a1c2b7d4e`,
	}
	cmd.AddCommand(newTenantAddCmd(), newTenantListCmd(), newTenantRevokeCmd())
	return cmd
}

func newTenantAddCmd() *cobra.Command {
	var cf clientFlags
	var req api.TenantRequest
	var out string
	cmd := &cobra.Command{
		Use:   "add NAME [--admin] [--note TEXT]",
		Short: "Make a token for a tenant (a new tenant with its first); prints the secret once",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			req.Tenant = args[0]
			if !api.ValidTenant(req.Tenant) {
				return badInput(fmt.Errorf("NAME %q: want a DNS label (lowercase letters, digits and '-', at most 63)", req.Tenant))
			}
			c, err := cf.client()
			if err != nil {
				return badInput(err)
			}
			t, err := c.AddTenant(cmd.Context(), req)
			if err != nil {
				return apiErr(err)
			}
			return render(cmd.OutOrStdout(), out, t, func(w io.Writer) error {
				kind := "token"
				if t.Admin {
					kind = "admin token"
				}
				fmt.Fprintf(w, "%s %s for tenant %s (shown once; keep it secret):\n%s\n", kind, shown(t.ID), shown(t.Tenant), shown(t.Token))
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&req.Admin, "admin", false, "the token may manage tenants and the server's rules")
	cmd.Flags().StringVar(&req.Note, "note", "", "a note kept with the token (who holds it, what for)")
	addOutputFlag(cmd, &out)
	addClientFlags(cmd, &cf)
	return cmd
}

func newTenantListCmd() *cobra.Command {
	var cf clientFlags
	var out string
	var all bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List tenants and their tokens (ids, never secrets)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := cf.client()
			if err != nil {
				return badInput(err)
			}
			list, err := c.Tenants(cmd.Context())
			if err != nil {
				return apiErr(err)
			}
			return render(cmd.OutOrStdout(), out, list, func(w io.Writer) error {
				tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "TENANT\tTOKEN\tADMIN\tCREATED\tREVOKED\tNOTE")
				for _, t := range list {
					for _, k := range t.Tokens {
						if k.RevokedAt != nil && !all {
							continue
						}
						revoked := "-"
						if k.RevokedAt != nil {
							revoked = k.RevokedAt.UTC().Format("2006-01-02 15:04")
						}
						fmt.Fprintf(tw, "%s\t%s\t%v\t%s\t%s\t%s\n", shown(t.Tenant), shown(k.ID), k.Admin, k.CreatedAt.UTC().Format("2006-01-02 15:04"), revoked, shown(k.Note))
					}
				}
				return tw.Flush()
			})
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, "include revoked tokens")
	addOutputFlag(cmd, &out)
	addClientFlags(cmd, &cf)
	return cmd
}

func newTenantRevokeCmd() *cobra.Command {
	var cf clientFlags
	var token, out string
	cmd := &cobra.Command{
		Use:   "revoke NAME [--id TOKEN-ID]",
		Short: "Revoke a tenant's tokens, or one of them",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := cf.client()
			if err != nil {
				return badInput(err)
			}
			r, err := c.RevokeTenant(cmd.Context(), args[0], token)
			if err != nil {
				return apiErr(err)
			}
			return render(cmd.OutOrStdout(), out, r, func(w io.Writer) error {
				_, err := fmt.Fprintf(w, "revoked %d token(s) of tenant %s\n", r.Revoked, shown(r.Tenant))
				return err
			})
		},
	}
	cmd.Flags().StringVar(&token, "id", "", "revoke only the token with this ID (as tenant list shows it)")
	addClientFlags(cmd, &cf)
	addOutputFlag(cmd, &out)
	return cmd
}
