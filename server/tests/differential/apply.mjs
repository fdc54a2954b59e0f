// The yjs side of the differential test (../differential.rs). Reads a JSON file of cases, each a list of
// base64 updates the server accepted in order, applies them to a fresh Y.Doc each and prints one JSON
// line per case: the roots the document holds besides `files`, every file's content (a Y.Text as its
// string, anything else as its JSON) and the first exception yjs threw, if any.
import { readFileSync } from 'node:fs'
import * as Y from 'yjs'

const cases = JSON.parse(readFileSync(process.argv[2], 'utf8'))
for (const c of cases) {
  const doc = new Y.Doc()
  const files = doc.getMap('files')
  let error = null
  for (const [i, b64] of c.updates.entries()) {
    try {
      Y.applyUpdate(doc, Buffer.from(b64, 'base64'))
    } catch (e) {
      error ??= `update ${i}: ${e}`
    }
  }
  const out = {}
  for (const [path, value] of files.entries()) {
    out[path] = value instanceof Y.Text ? value.toString() : JSON.stringify(value?.toJSON ? value.toJSON() : value)
  }
  const roots = [...doc.share.keys()].filter((n) => n !== 'files').sort()
  console.log(JSON.stringify({ name: c.name, error, roots, files: out }))
}
