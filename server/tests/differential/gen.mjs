// Writes the differential test's corpus with yjs itself: `npm ci && node gen.mjs` in this directory.
// Each case is corpus/<name>.bin: the updates of a session in the order the server would see them, each
// as a 4-byte little-endian length and the update's bytes. `real-*` cases are what stock clients send:
// the server must accept every update. `bad-*` cases end with one update the server must refuse. To grow
// the corpus with a finding, add a case here (or write its bytes under corpus/ by hand) and run it again;
// the test picks up every file.
import { mkdirSync, writeFileSync } from 'node:fs'
import * as Y from 'yjs'

mkdirSync('corpus', { recursive: true })

/// A session: peers that exchange every update, recording them in order. `steps` gets the peers.
function session (name, peers, steps) {
  const docs = []
  const log = []
  for (let i = 0; i < peers; i++) {
    const doc = new Y.Doc()
    doc.clientID = 1000 + i
    doc.on('update', (u, origin) => {
      if (origin === 'remote') return
      log.push(u)
      for (const other of docs) if (other !== doc) Y.applyUpdate(other, u, 'remote')
    })
    docs.push(doc)
  }
  // The server's preload: a document with the submission's files.
  docs[0].transact(() => {
    const files = docs[0].getMap('files')
    files.set('main.py', new Y.Text('def main():\n    print("hello")\n'))
    files.set('README.md', new Y.Text('# notes\n'))
  })
  steps(...docs)
  const parts = []
  for (const u of log) {
    const len = Buffer.alloc(4)
    len.writeUInt32LE(u.length)
    parts.push(len, Buffer.from(u))
  }
  writeFileSync(`corpus/${name}.bin`, Buffer.concat(parts))
}

const text = (doc, path) => doc.getMap('files').get(path)

session('real-typing', 2, (a, b) => {
  for (const ch of 'for i in range(3):\n') text(a, 'main.py').insert(text(a, 'main.py').length, ch)
  for (const ch of '    print(i)\n') text(b, 'main.py').insert(12, ch)
})
session('real-paste', 1, (a) => {
  text(a, 'main.py').insert(0, 'import sys\n'.repeat(200) + 'x = "ünïcödé ✓"\n'.repeat(50))
})
session('real-deletes', 2, (a, b) => {
  text(a, 'main.py').delete(0, 4)
  text(b, 'main.py').delete(3, 10)
  text(a, 'README.md').delete(0, text(a, 'README.md').length)
})
session('real-unicode', 2, (a, b) => {
  text(a, 'main.py').insert(5, 'héllo 🙂 𝄞 👩‍👩‍👧 日本語 ')
  text(b, 'main.py').insert(8, '😀')
  text(a, 'main.py').delete(6, 2) // across what used to be a surrogate pair's neighbours
  text(b, 'main.py').insert(0, '\u200b\r\n\t')
})
session('real-many-files', 1, (a) => {
  a.transact(() => {
    for (let i = 0; i < 60; i++) a.getMap('files').set(`src/mod_${i}.py`, new Y.Text(`# ${i}\n`))
  })
  for (let i = 0; i < 60; i += 7) text(a, `src/mod_${i}.py`).insert(0, `x${i} = ${i}\n`)
})
session('real-overwrite-and-delete-files', 2, (a, b) => {
  a.getMap('files').set('main.py', new Y.Text('rewritten\n'))
  b.getMap('files').delete('README.md')
  b.getMap('files').set('README.md', new Y.Text('back\n'))
  a.getMap('files').set('new/dir/file.ts', new Y.Text('export {}\n'))
  a.getMap('files').delete('new/dir/file.ts')
})
session('real-concurrent', 2, (a, b) => {
  // Edits made while apart, merged afterwards: each side's updates reach the server as one.
  const sa = Y.encodeStateVector(a)
  const sb = Y.encodeStateVector(b)
  const a2 = new Y.Doc(); a2.clientID = 2000; Y.applyUpdate(a2, Y.encodeStateAsUpdate(a))
  const b2 = new Y.Doc(); b2.clientID = 2001; Y.applyUpdate(b2, Y.encodeStateAsUpdate(b))
  text(a2, 'main.py').insert(0, 'A side\n')
  text(b2, 'main.py').insert(0, 'B side\n')
  text(b2, 'main.py').delete(10, 5)
  Y.applyUpdate(a, Y.encodeStateAsUpdate(a2, sa))
  Y.applyUpdate(b, Y.encodeStateAsUpdate(b2, sb))
})

/// A bad case: a real session, then one update `bad` makes on a copy of the session's document.
function bad (name, make) {
  session(name, 1, (a) => {
    text(a, 'main.py').insert(0, '# typed\n')
    const copy = new Y.Doc()
    copy.clientID = 3000
    Y.applyUpdate(copy, Y.encodeStateAsUpdate(a))
    const before = Y.encodeStateVector(copy)
    make(copy)
    Y.applyUpdate(a, Y.encodeStateAsUpdate(copy, before))
  })
}

bad('bad-client-id-2-pow-53', (d) => {
  d.clientID = 2 ** 53
  text(d, 'main.py').insert(0, 'DIVERGE')
})
bad('bad-path-dotdot', (d) => d.getMap('files').set('../../x', new Y.Text('x')))
bad('bad-path-absolute', (d) => d.getMap('files').set('/etc/passwd', new Y.Text('x')))
bad('bad-file-number', (d) => d.getMap('files').set('main.py', 42))
bad('bad-file-map', (d) => d.getMap('files').set('main.py', new Y.Map()))
bad('bad-new-file-string', (d) => d.getMap('files').set('n.py', 'plain string'))
bad('bad-unknown-root', (d) => d.getText('other').insert(0, 'x'.repeat(100)))
bad('bad-format', (d) => text(d, 'main.py').format(0, 3, { bold: true }))
bad('bad-embed', (d) => text(d, 'main.py').insertEmbed(0, { image: 'x' }))
bad('bad-subdocument', (d) => d.getMap('files').set('sub', new Y.Doc()))
bad('bad-nested-type-in-text', (d) => text(d, 'main.py').insertEmbed(0, new Y.Map()))
