// Package transfer stages datasets to sites: it asks the law whether a
// dataset may go to a site's country on a date, refuses with the rule, reason
// and source when not, and otherwise copies only the sealed chunks the site's
// store lacks, several at a time, authenticating each before it is written
// and writing each atomically, then records the move in a transfer ledger.
// A staging killed midway resumes where it stopped: chunks already at the
// site are never sent again, and the manifest is written last.
package transfer
