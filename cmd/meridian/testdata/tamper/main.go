// Command tamper edits the second audit entry's payload in a Meridian
// database, as an attacker with write access to the file would.
package main

import (
	"database/sql"
	"log"
	"os"

	_ "modernc.org/sqlite"
)

func main() {
	db, err := sql.Open("sqlite", os.Args[1])
	if err != nil {
		log.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE audit SET payload = '{"placement":"elsewhere"}' WHERE seq = 2`); err != nil {
		log.Fatal(err)
	}
}
