// Cluster check: stock y-websocket clients, each on its own node of one room, type at once; every
// client must end with the same text holding every client's edits, and see the others' awareness.
//
// Usage: node cluster.mjs <config.json>
//   config.json: {"ws_urls": ["ws://127.0.0.1:PORT/ws", …] (one client per URL), "room": "<room id>",
//                 "token": "<a token that may edit>", "file": "<path of a file in the room>",
//                 "edits": <edits per client>}
//
// Prints exactly one JSON line on stdout: {"ok":true,"text":"…"} (exit 0) or {"ok":false,"error":"…"}
// (exit 1). Every wait has a timeout, so it never hangs.

import { readFileSync } from 'node:fs'
import WebSocket from 'ws'
import * as Y from 'yjs'
import { WebsocketProvider } from 'y-websocket'

const WAIT_TIMEOUT_MS = 30_000
const POLL_MS = 20
const TYPE_PAUSE_MS = 3

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
const entries = []

function finish (line, code) {
  for (const { provider, doc } of entries) {
    provider.destroy()
    doc.destroy()
  }
  process.stdout.write(JSON.stringify(line) + '\n', () => process.exit(code))
}

async function waitFor (what, pred, detail) {
  const deadline = Date.now() + WAIT_TIMEOUT_MS
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${detail ? `: ${detail()}` : ''}`)
    await sleep(POLL_MS)
  }
}

async function main () {
  const config = JSON.parse(readFileSync(process.argv[2], 'utf8'))
  config.ws_urls.forEach((url, i) => {
    const doc = new Y.Doc()
    const provider = new WebsocketProvider(url, config.room, doc, {
      params: { token: config.token },
      WebSocketPolyfill: WebSocket,
      disableBc: true
    })
    entries.push({ provider, doc, i })
  })
  for (const e of entries) await waitFor(`client ${e.i} to sync`, () => e.provider.synced)
  // Set once everyone is connected: a node shows a joiner the states of its own members at once, and
  // those of other nodes' members when they next renew them (every 15 s).
  for (const e of entries) e.provider.awareness.setLocalState({ user: { name: `client-${e.i}` } })
  const text = (e) => e.doc.getMap('files').get(config.file)?.toString()
  await waitFor('the file on every client', () => entries.every((e) => text(e) !== undefined))
  // Every client types its own markers at once, each at a place of its choosing.
  await Promise.all(entries.map(async (e) => {
    for (let k = 0; k < config.edits; k++) {
      const t = e.doc.getMap('files').get(config.file)
      // At either end, never inside another marker (an insert stays whole, but could split another).
      const at = (k + e.i) % 2 === 0 ? 0 : t.length
      t.insert(at, `<${e.i}:${k}>`)
      await sleep(TYPE_PAUSE_MS)
    }
  }))
  const markers = entries.flatMap((e) => [...Array(config.edits).keys()].map((k) => `<${e.i}:${k}>`))
  await waitFor('every client to hold every edit and the same text', () => {
    const first = text(entries[0])
    return entries.every((e) => text(e) === first) && markers.every((m) => first.includes(m))
  }, () => entries.map((e) => `${e.i}: ${text(e)?.length}`).join(', '))
  // Presence crosses nodes too: each client sees every other client's name.
  // (The server shows the token's name in every state, so clients are told apart by their client id.)
  await waitFor('every client to see the others', () => entries.every((e) => {
    const states = e.provider.awareness.getStates()
    return entries.every((o) => states.has(o.doc.clientID))
  }))
  finish({ ok: true, text: text(entries[0]) }, 0)
}

main().catch((e) => finish({ ok: false, error: String(e?.message ?? e) }, 1))
