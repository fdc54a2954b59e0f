// Writes the seed corpora of the frame, awareness and update targets from real yjs documents: the
// messages a stock y-websocket client sends while typing, pasting, deleting, opening files and moving
// its cursor. Run from the repository root: node fuzz/tools/seeds.mjs (needs web-client's npm ci).
import { createRequire } from 'node:module'
import { writeFileSync, mkdirSync } from 'node:fs'
const require = createRequire(new URL('../../web-client/package.json', import.meta.url))
const Y = require('yjs')
const encoding = require('lib0/encoding')
const awarenessProtocol = require('y-protocols/awareness')
const syncProtocol = require('y-protocols/sync')

const out = (dir, name, bytes) => {
  mkdirSync(`fuzz/corpus/${dir}`, { recursive: true })
  writeFileSync(`fuzz/corpus/${dir}/${name}`, Buffer.from(bytes))
}
const frame = (write) => {
  const e = encoding.createEncoder()
  write(e)
  return encoding.toUint8Array(e)
}

const doc = new Y.Doc()
const files = doc.getMap('files')
const updates = []
doc.on('update', (u) => updates.push(u))
doc.transact(() => {
  const t = new Y.Text()
  t.insert(0, 'def main():\n    pass\n')
  files.set('main.py', t)
})
files.get('main.py').insert(4, 'x')
files.get('main.py').delete(0, 3)
files.get('main.py').insert(10, 'é😀 unicode ✓\n'.repeat(3))
doc.transact(() => {
  const t = new Y.Text()
  t.insert(0, 'export const a = 1\n'.repeat(40))
  files.set('src/lib/a.ts', t)
})
files.delete('src/lib/a.ts')
updates.forEach((u, i) => {
  out('update', `yjs-${i}`, u)
  out('frame', `update-${i}`, frame((e) => { encoding.writeVarUint(e, 0); syncProtocol.writeUpdate(e, u) }))
})
out('update', 'yjs-whole', Y.encodeStateAsUpdate(doc))
out('frame', 'step1', frame((e) => { encoding.writeVarUint(e, 0); syncProtocol.writeSyncStep1(e, new Y.Doc()) }))
out('frame', 'step2', frame((e) => { encoding.writeVarUint(e, 0); syncProtocol.writeSyncStep2(e, doc) }))
out('frame', 'query-awareness', [3])
out('frame', 'auth-denied', frame((e) => { encoding.writeVarUint(e, 2); encoding.writeVarUint(e, 0); encoding.writeVarString(e, 'no') }))

const awareness = new awarenessProtocol.Awareness(doc)
awareness.setLocalStateField('user', { name: 'Ada', color: '#30bced', colorLight: '#30bced33' })
awareness.setLocalStateField('cursor', { anchor: { type: null, tname: null, item: { client: 1, clock: 4 }, assoc: 0 } })
const state = awarenessProtocol.encodeAwarenessUpdate(awareness, [doc.clientID])
out('awareness', 'state', state)
out('frame', 'awareness', frame((e) => { encoding.writeVarUint(e, 1); encoding.writeVarUint8Array(e, state) }))
awareness.setLocalState(null)
out('awareness', 'withdrawn', awarenessProtocol.encodeAwarenessUpdate(awareness, [doc.clientID]))
awareness.destroy()
