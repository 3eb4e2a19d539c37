package main

import (
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"meridian.dev/meridian/catalog"
)

func init() { register(newCatalogCmd) }

func newCatalogCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "catalog",
		Short: "Browse the built-in accelerators, sites and countries",
		Long: `Catalog prints what Meridian knows before you tell it anything: the
accelerator table (dense peaks, memory, bandwidth, export measures, each with
its source and status), the sites it can place jobs on, and the country table
(US country groups, EU/EEA membership, adequacy decisions).

Output is sorted and the same on every run; -o json or -o yaml gives the full
records, including every source.`,
		Example: `  meridian catalog accelerators
  meridian catalog accelerators huawei-ascend-910b
  meridian catalog sites --country CN
  meridian catalog countries -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newCatalogAcceleratorsCmd(), newCatalogSitesCmd(), newCatalogCountriesCmd(), newCatalogCheckCmd())
	return cmd
}

func newCatalogAcceleratorsCmd() *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:     "accelerators [ID]",
		Aliases: []string{"accelerator", "acc"},
		Short:   "List the accelerator table, or show one accelerator with its sources",
		Long: `List every accelerator id Meridian knows, sorted by id, with its dense
BF16 and FP8 peaks (TFLOPS), memory (GB), memory bandwidth (TB/s), scale-up
bandwidth (GB/s), TDP (W), TPP and performance density. "-" marks an unknown
number; a value marked "~" is unverified (status U). Give an ID to see each
number with its source, status (V, V2, S, U, D) and note.`,
		Example: `  meridian catalog accelerators
  meridian catalog accelerators nvidia-h100-sxm
  meridian catalog accelerators -o json`,
		Args: cobra.MaximumNArgs(1),
		ValidArgsFunction: func(cmd *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
			if len(args) > 0 {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			accs, _ := catalog.BuiltinAccelerators()
			return sortedIDs(accs), cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			accs, err := catalog.BuiltinAccelerators()
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if len(args) == 1 {
				a, ok := accs[args[0]]
				if !ok {
					return badInput(unknownErr("accelerator", args[0], sortedIDs(accs)))
				}
				return render(w, out, a, func(w io.Writer) error { return acceleratorDetail(w, a) })
			}
			list := make([]*catalog.Accelerator, 0, len(accs))
			for _, id := range sortedIDs(accs) {
				list = append(list, accs[id])
			}
			return render(w, out, list, func(w io.Writer) error { return acceleratorTable(w, list) })
		},
	}
	addOutputFlag(cmd, &out)
	return cmd
}

func newCatalogSitesCmd() *cobra.Command {
	var out, country, accelerator, catalogDir string
	var files []string
	cmd := &cobra.Command{
		Use:     "sites [NAME]",
		Aliases: []string{"site"},
		Short:   "List the sites jobs can be placed on, or show one site",
		Long: `List the built-in sites (plus any Site resources given with -f, which
override built-in sites of the same name), sorted by name, one line per pool:
country, city, operator and its headquarters, accelerator, installed and free
count, price per accelerator-hour (USD) and egress price (USD/GB).

Built-in prices and capacities are illustrative: each pool's priceSource says
where its price comes from. --catalog DIR replaces the built-in sites with the
Site files in DIR.`,
		Example: `  meridian catalog sites
  meridian catalog sites --country CN
  meridian catalog sites --accelerator nvidia-h100-sxm -o json
  meridian catalog sites my-johor-1 -o yaml
  meridian catalog sites -f my-sites.yaml`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			world, err := loadWorld(catalogDir, files...)
			if err != nil {
				return badInput(err)
			}
			w := cmd.OutOrStdout()
			if len(args) == 1 {
				s := world.Site(args[0])
				if s == nil {
					names := make([]string, len(world.Sites))
					for i, s := range world.Sites {
						names[i] = s.Metadata.Name
					}
					return badInput(unknownErr("site", args[0], names))
				}
				return render(w, out, s, func(w io.Writer) error { return siteDetail(w, world, s) })
			}
			if country != "" {
				if _, ok := world.Countries[country]; !ok {
					return badInput(unknownErr("--country", country, world.CountryCodes()))
				}
			}
			if accelerator != "" {
				if _, ok := world.Accelerators[accelerator]; !ok {
					return badInput(unknownErr("--accelerator", accelerator, world.AcceleratorIDs()))
				}
			}
			list := []*catalog.Site{}
			for _, s := range world.Sites {
				if country != "" && s.Spec.Country != country {
					continue
				}
				if accelerator != "" && !hasPool(s, accelerator) {
					continue
				}
				list = append(list, s)
			}
			return renderTable(w, out, list, func(w io.Writer, wide bool) error { return siteTable(w, list, accelerator, wide) })
		},
	}
	addOutputFlag(cmd, &out)
	cmd.Flags().StringVar(&country, "country", "", "only sites in this country (ISO code, e.g. CN)")
	cmd.Flags().StringVar(&accelerator, "accelerator", "", "only sites with a pool of this accelerator id")
	cmd.Flags().StringArrayVarP(&files, "file", "f", nil, "resource file or directory whose sites are added (repeatable)")
	cmd.Flags().StringVar(&catalogDir, "catalog", "", "directory of Site files that replace the built-in sites")
	return cmd
}

func newCatalogCountriesCmd() *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:     "countries [ISO]",
		Aliases: []string{"country"},
		Short:   "List the country table, or show one country",
		Long: `List the jurisdictions Meridian knows, sorted by ISO code: bloc (an
analytical label), US EAR country groups (D:1 … E:2), EU and EEA membership,
AI Diffusion tier (history: never enforced) and EU adequacy decisions with
their scope and dates. Give an ISO code to see the export baseline,
localisation law, notes and sources.`,
		Example: `  meridian catalog countries
  meridian catalog countries HK
  meridian catalog countries -o yaml`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cs, err := catalog.BuiltinCountries()
			if err != nil {
				return err
			}
			codes := sortedIDs(cs)
			w := cmd.OutOrStdout()
			if len(args) == 1 {
				c, ok := cs[strings.ToUpper(args[0])]
				if !ok {
					return badInput(unknownErr("country", args[0], codes))
				}
				return render(w, out, c, func(w io.Writer) error { return countryDetail(w, c) })
			}
			list := make([]*catalog.Country, 0, len(cs))
			for _, code := range codes {
				list = append(list, cs[code])
			}
			return render(w, out, list, func(w io.Writer) error { return countryTable(w, list) })
		},
	}
	addOutputFlag(cmd, &out)
	return cmd
}

func sortedIDs[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func unknownErr(what, got string, accepted []string) error {
	return &catalog.FieldError{Field: what, Msg: fmt.Sprintf("%q is not known", got), Accepted: accepted}
}

func hasPool(s *catalog.Site, acc string) bool {
	for _, p := range s.Spec.Pools {
		if p.Accelerator == acc {
			return true
		}
	}
	return false
}

// num prints a number compactly: integers without decimals, others with up
// to three significant decimals.
func num(x float64) string {
	return strconv.FormatFloat(x, 'f', -1, 64)
}

// factCell prints a fact for a table: "-" when unknown, "~" before an
// unverified value.
func factCell(f catalog.Fact) string {
	if !f.Known() {
		return "-"
	}
	if f.Status == catalog.StatusUnverified {
		return "~" + num(f.V())
	}
	return num(f.V())
}

// row writes one tab-separated table row.
func row(w io.Writer, cells ...string) { fmt.Fprintln(w, strings.Join(cells, "\t")) }

func acceleratorTable(w io.Writer, list []*catalog.Accelerator) error {
	tw := newTab(w)
	fmt.Fprintln(tw, "ID\tVENDOR\tORIGIN\tYEAR\tBF16 TF\tFP8 TF\tMEM GB\tBW TB/s\tSCALE-UP GB/s\tTDP W\tTPP\tPD")
	for _, a := range list {
		year := "-"
		if a.Year > 0 {
			year = strconv.Itoa(a.Year)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", a.ID, a.Vendor, a.Origin, year,
			factCell(a.BF16TFLOPS), factCell(a.FP8TFLOPS), factCell(a.MemoryGB), factCell(a.MemoryBandwidthTBs),
			factCell(a.ScaleUpGBs), factCell(a.TDPW), factCell(a.TPP), factCell(a.PerformanceDensity))
	}
	return tw.Flush()
}

func acceleratorDetail(w io.Writer, a *catalog.Accelerator) error {
	tw := newTab(w)
	fmt.Fprintf(tw, "id:\t%s\n", a.ID)
	fmt.Fprintf(tw, "name:\t%s\n", a.Name)
	fmt.Fprintf(tw, "vendor:\t%s (origin %s)\n", a.Vendor, a.Origin)
	if a.Year > 0 {
		fmt.Fprintf(tw, "year:\t%d\n", a.Year)
	}
	fmt.Fprintf(tw, "data centre part:\t%v\n", a.DataCenter)
	if a.Notes != "" {
		fmt.Fprintf(tw, "notes:\t%s\n", a.Notes)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	tw = newTab(w)
	fmt.Fprintln(tw, "FACT\tVALUE\tSTATUS\tSOURCE\tNOTE")
	for _, nf := range a.Facts() {
		v := "unknown"
		if nf.Fact.Known() {
			v = num(nf.Fact.V())
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", nf.Field, v, nf.Fact.Status, dash(nf.Fact.Source), dash(nf.Fact.Note))
	}
	return tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// siteTable lists sites, a row per pool: name, country, access and the
// pools; -o wide adds the city, operator, egress price and backend.
func siteTable(w io.Writer, list []*catalog.Site, onlyAcc string, wide bool) error {
	tw := newTab(w)
	tw.shrink = []int{2} // the operator, in wide
	if wide {
		row(tw, "NAME", "COUNTRY", "CITY", "OPERATOR (HQ)", "ACCESS", "ACCELERATOR", "COUNT", "FREE", "USD/H", "EGRESS USD/GB", "BACKEND")
		tw.shrink = []int{3, 2}
	} else {
		row(tw, "NAME", "COUNTRY", "ACCESS", "ACCELERATOR", "COUNT", "FREE", "USD/H")
	}
	notional := false
	for _, s := range list {
		first := true
		for _, p := range s.Spec.Pools {
			if onlyAcc != "" && p.Accelerator != onlyAcc {
				continue
			}
			notional = notional || s.NotionalPrice()
			pool := []string{p.Accelerator, strconv.Itoa(p.Count), strconv.Itoa(p.Available), price(s, p.PricePerHour)}
			name, cc, access, city, op, egress, be := "", "", "", "", "", "", ""
			if first {
				name, cc, access = s.Metadata.Name, s.Spec.Country, s.AccessTerms()
				city, op, egress, be = s.Spec.City, s.Spec.Operator.Name+" ("+s.Spec.Operator.Headquarters+")", num(s.Spec.Network.EgressPerGB), dash(s.Spec.Backend.Type)
			}
			if wide {
				row(tw, append(append([]string{name, cc, city, op, access}, pool...), egress, be)...)
			} else {
				row(tw, append([]string{name, cc, access}, pool...)...)
			}
			first = false
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if notional {
		_, err := fmt.Fprintln(w, notionalNote)
		return err
	}
	return nil
}

// notionalNote explains the ~ before a price.
const notionalNote = "~ notional price: an allocation site is not rented; its price is an estimate of what the time is worth"

// price prints a site's price per accelerator-hour, "~" before a notional one.
func price(s *catalog.Site, usd float64) string {
	if s.NotionalPrice() {
		return "~" + num(usd)
	}
	return num(usd)
}

// accessLine says who may use a site.
func accessLine(s *catalog.Site) string {
	switch s.AccessTerms() {
	case catalog.AccessAllocation:
		l := "allocation: granted by a national or research programme, not rented (plan --include-allocation counts it in)"
		if len(s.Spec.AccessOrganizations) > 0 {
			l += "; held by " + strings.Join(s.Spec.AccessOrganizations, ", ")
		}
		return l
	case catalog.AccessPrivate:
		return "private to " + strings.Join(s.Spec.AccessOrganizations, ", ")
	}
	return "public rental"
}

func siteDetail(w io.Writer, world *catalog.World, s *catalog.Site) error {
	tw := newTab(w)
	country := s.Spec.Country
	if c := world.Countries[country]; c != nil {
		country += " (" + c.Name + ")"
	}
	fmt.Fprintf(tw, "name:\t%s\n", s.Metadata.Name)
	fmt.Fprintf(tw, "country:\t%s\n", country)
	fmt.Fprintf(tw, "city:\t%s\n", dash(s.Spec.City))
	fmt.Fprintf(tw, "location:\t%s, %s\n", num(s.Spec.Location.Lat), num(s.Spec.Location.Lon))
	fmt.Fprintf(tw, "operator:\t%s (headquarters %s)\n", s.Spec.Operator.Name, s.Spec.Operator.Headquarters)
	fmt.Fprintf(tw, "network:\tegress %s USD/GB, %s Gbit/s\n", num(s.Spec.Network.EgressPerGB), num(s.Spec.Network.Gbps))
	if s.Spec.Network.Source != "" {
		fmt.Fprintf(tw, "network source:\t%s\n", s.Spec.Network.Source)
	}
	fmt.Fprintf(tw, "access:\t%s\n", accessLine(s))
	backendLine := "none: for planning only (runs never start here)"
	if s.Runnable() {
		backendLine = s.Spec.Backend.Type
	}
	fmt.Fprintf(tw, "backend:\t%s\n", backendLine)
	if s.Spec.Source != "" {
		fmt.Fprintf(tw, "source:\t%s\n", s.Spec.Source)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	tw = newTab(w)
	fmt.Fprintln(tw, "ACCELERATOR\tCOUNT\tFREE\tUSD/H\tACQUIRED\tOWNER\tPRICE SOURCE")
	for _, p := range s.Spec.Pools {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%s\t%s\n", p.Accelerator, p.Count, p.Available, price(s, p.PricePerHour),
			dash(p.Acquired.String()), dash(p.Owner), dash(p.PriceSource))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if s.NotionalPrice() {
		_, err := fmt.Fprintln(w, notionalNote)
		return err
	}
	return nil
}

func countryTable(w io.Writer, list []*catalog.Country) error {
	tw := newTab(w)
	fmt.Fprintln(tw, "ISO\tNAME\tBLOC\tUS GROUPS\tEU\tEEA\tTIER\tEU ADEQUACY")
	for _, c := range list {
		tier := "-"
		if c.DiffusionTier > 0 {
			tier = strconv.Itoa(c.DiffusionTier)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", c.ISO, c.Name, c.Bloc, dash(strings.Join(c.USGroups, ",")),
			yesNo(c.EU), yesNo(c.EEA), tier, dash(adequacySummary(c)))
	}
	return tw.Flush()
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// adequacySummary prints each decision as "scope from..until" plus its
// status when not adopted.
func adequacySummary(c *catalog.Country) string {
	parts := make([]string, 0, len(c.Adequacy))
	for _, d := range c.Adequacy {
		s := d.Scope
		if !d.From.IsZero() || !d.Until.IsZero() {
			s += " " + d.From.String() + ".." + d.Until.String()
		}
		if d.Status != catalog.AdequacyAdopted {
			s += " (" + d.Status + ")"
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, "; ")
}

func countryDetail(w io.Writer, c *catalog.Country) error {
	tw := newTab(w)
	fmt.Fprintf(tw, "iso:\t%s\n", c.ISO)
	fmt.Fprintf(tw, "name:\t%s\n", c.Name)
	fmt.Fprintf(tw, "bloc:\t%s\n", c.Bloc)
	fmt.Fprintf(tw, "US country groups:\t%s\n", dash(strings.Join(c.USGroups, ", ")))
	fmt.Fprintf(tw, "EU / EEA:\t%s / %s\n", yesNo(c.EU), yesNo(c.EEA))
	if c.DiffusionTier > 0 {
		fmt.Fprintf(tw, "AI Diffusion tier:\t%d (never enforced)\n", c.DiffusionTier)
	}
	fmt.Fprintf(tw, "export baseline:\t%s\n", dash(c.ExportBaseline))
	fmt.Fprintf(tw, "localisation:\t%s\n", dash(c.Localisation))
	if c.Notes != "" {
		fmt.Fprintf(tw, "notes:\t%s\n", c.Notes)
	}
	fmt.Fprintf(tw, "source:\t%s\n", dash(c.Source))
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(c.Adequacy) == 0 {
		return nil
	}
	fmt.Fprintln(w)
	tw = newTab(w)
	fmt.Fprintln(tw, "EU ADEQUACY\tFROM\tUNTIL\tSTATUS\tSOURCE\tNOTE")
	for _, d := range c.Adequacy {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", d.Scope, dash(d.From.String()), dash(d.Until.String()), d.Status, dash(d.Source), dash(d.Note))
	}
	return tw.Flush()
}
