// Package dataset turns a directory into an encrypted, content-addressed
// dataset in a blob store and back: it walks and chunks files (content-defined
// chunks, so an edit changes only the chunks it touches), seals each chunk
// with package seal, writes chunks and an authenticated manifest, and later
// verifies or unseals them. It also holds the owner's keyring and the store
// layout shared with package transfer.
//
// Store layout, under any blob store:
//
//	meridian/<dataset>/manifest                 authenticated manifest (JSON)
//	meridian/<dataset>/chunks/<id[:2]>/<id>     sealed chunks
package dataset
