// Interop check: drives a running handoff server with the stock y-websocket client (WebsocketProvider).
//
// Usage: node interop.mjs <config.json>
//   config.json: {"ws_url": "ws://127.0.0.1:PORT/ws", "room": "<room id>",
//                 "tokens": {"interviewer": "…", "candidate": "…", "observer": "…"},
//                 "files": {"<path>": "<content>", …}}
//
// Prints exactly one JSON line on stdout: {"ok":true,"checks":[…]} (exit 0) or
// {"ok":false,"error":"…","checks":[…passed so far…]} (exit 1). Diagnostics go to stderr.
// Every wait has a timeout and the whole run has a global one, so it never hangs.

import { readFileSync } from 'node:fs'
import WebSocket from 'ws'
import * as Y from 'yjs'
import { WebsocketProvider } from 'y-websocket'
import * as encoding from 'lib0/encoding'
import * as decoding from 'lib0/decoding'
import * as authProtocol from 'y-protocols/auth'
import * as syncProtocol from 'y-protocols/sync'

const GLOBAL_TIMEOUT_MS = 60_000
const WAIT_TIMEOUT_MS = 10_000
const POLL_MS = 10
const BIG_BYTES = 200 * 1024

const checks = []
const providers = new Set()
let finished = false

function pass (name) {
  checks.push(name)
  process.stderr.write(`interop: ok ${name}\n`)
}

class CheckFailed extends Error {}

function fail (message) {
  throw new CheckFailed(message)
}

function finish (ok, error) {
  if (finished) return
  finished = true
  for (const { provider, doc } of providers) {
    try {
      provider.destroy()
      doc.destroy() // also destroys the provider's Awareness (and its interval timer)
    } catch (e) {
      process.stderr.write(`interop: error while destroying a provider: ${e}\n`)
    }
  }
  const line = ok ? { ok: true, checks } : { ok: false, error: String(error), checks }
  process.stdout.write(JSON.stringify(line) + '\n', () => process.exit(ok ? 0 : 1))
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

/** Polls `pred` until it returns true; on timeout fails with `what` (and `detail()` if given). */
async function waitFor (what, pred, { timeoutMs = WAIT_TIMEOUT_MS, detail } = {}) {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (pred()) return
    if (Date.now() > deadline) {
      fail(`timed out after ${timeoutMs} ms waiting for ${what}${detail ? `: ${detail()}` : ''}`)
    }
    await sleep(POLL_MS)
  }
}

/** A readable description of how two strings differ, or null if they are equal. */
function stringDiff (got, want) {
  if (got === want) return null
  let i = 0
  while (i < got.length && i < want.length && got[i] === want[i]) i++
  const from = Math.max(0, i - 20)
  const show = (s) => JSON.stringify(s.slice(from, i + 40))
  return `first difference at UTF-16 index ${i} (got ${got.length} units, want ${want.length}); ` +
    `got …${show(got)}…, want …${show(want)}…`
}

/** The `files` root of a doc as a plain Map path → string. */
function filesOf (doc) {
  const out = new Map()
  for (const [path, value] of doc.getMap('files').entries()) {
    out.set(path, value instanceof Y.Text ? value.toString() : `<not a Y.Text: ${value?.constructor?.name ?? typeof value}>`)
  }
  return out
}

/** Fails unless `doc`'s files are exactly `expected` (a Map path → content). */
function assertFiles (label, doc, expected) {
  const got = filesOf(doc)
  const gotPaths = [...got.keys()].sort()
  const wantPaths = [...expected.keys()].sort()
  if (JSON.stringify(gotPaths) !== JSON.stringify(wantPaths)) {
    const missing = wantPaths.filter((p) => !got.has(p))
    const extra = gotPaths.filter((p) => !expected.has(p))
    fail(`${label}: file set differs; missing ${JSON.stringify(missing)}, unexpected ${JSON.stringify(extra)}`)
  }
  for (const path of wantPaths) {
    const diff = stringDiff(got.get(path), expected.get(path))
    if (diff) fail(`${label}: ${path}: ${diff}`)
  }
}

/** Whether `doc`'s files are exactly `expected` (no throwing; for polling). */
function filesEqual (doc, expected) {
  const got = filesOf(doc)
  if (got.size !== expected.size) return false
  for (const [path, content] of expected) {
    if (got.get(path) !== content) return false
  }
  return true
}

/**
 * Creates a provider for `role` with awareness state `{user: {name}}`. It connects only after the
 * optional `setup(provider)` ran, so per-instance message handlers can be wrapped first.
 */
function connect (config, label, role, name, setup) {
  const token = config.tokens?.[role]
  if (typeof token !== 'string') fail(`config.tokens.${role} is missing`)
  const doc = new Y.Doc()
  const provider = new WebsocketProvider(config.ws_url, config.room, doc, {
    connect: false,
    params: { token },
    WebSocketPolyfill: WebSocket,
    disableBc: true
  })
  const entry = { label, provider, doc, lastClose: null }
  providers.add(entry)
  provider.on('connection-close', (event) => {
    entry.lastClose = event ? `${event.code} ${JSON.stringify(event.reason ?? '')}` : 'closed locally'
  })
  provider.on('connection-error', (event) => {
    entry.lastClose = `connection error: ${event?.message ?? event?.error ?? event}`
  })
  if (name !== undefined) provider.awareness.setLocalState({ user: { name } })
  if (setup) setup(provider)
  provider.connect()
  return entry
}

async function waitSynced (entry) {
  await waitFor(`${entry.label} to sync`, () => entry.provider.synced, {
    detail: () => `last close: ${entry.lastClose ?? 'none'}`
  })
}

/** The user names in a provider's awareness states, its own included. */
function awarenessNames (provider) {
  return [...provider.awareness.getStates().values()].map((s) => s?.user?.name)
}

/** Deterministic text of exactly `bytes` UTF-8 bytes with multi-byte characters (2- and 4-byte). */
function bigText (bytes) {
  const parts = []
  let size = 0
  for (let i = 0; ; i++) {
    const line = `${String(i).padStart(6, '0')} café naïve résumé 🙂 ${(i * 7919) % 10007} ünïcödé ✓\n`
    const n = Buffer.byteLength(line)
    if (size + n > bytes) break
    parts.push(line)
    size += n
  }
  parts.push('x'.repeat(bytes - size))
  return parts.join('')
}

async function main () {
  const configPath = process.argv[2]
  if (!configPath) fail('usage: node interop.mjs <config.json>')
  const config = JSON.parse(readFileSync(configPath, 'utf8'))
  for (const key of ['ws_url', 'room']) {
    if (typeof config[key] !== 'string') fail(`config.${key} is missing`)
  }
  const expected = new Map(Object.entries(config.files ?? {}))
  const paths = [...expected.keys()].sort()
  if (paths.length === 0) fail('config.files is empty; the checks need at least one file')
  if (expected.has('big.txt')) fail('config.files must not contain big.txt (the paste check creates it)')

  // 1. Interviewer A and candidate B connect and sync.
  const a = connect(config, 'A (interviewer)', 'interviewer', 'Ivy Interviewer')
  const b = connect(config, 'B (candidate)', 'candidate', 'Cam Candidate')
  await Promise.all([waitSynced(a), waitSynced(b)])
  pass('connect_and_sync')

  // 2. Both see exactly the room's files.
  assertFiles('A after sync', a.doc, expected)
  assertFiles('B after sync', b.doc, expected)
  pass('initial_files')

  // 3. Concurrent edits in the same tick: A prepends to the first file, B appends to it.
  const first = paths[0]
  const original = expected.get(first)
  const textA = a.doc.getMap('files').get(first)
  const textB = b.doc.getMap('files').get(first)
  textA.insert(0, '# interviewer\n')
  textB.insert(textB.length, '# candidate\n')
  // With non-empty content the merge is unique; in an empty file both land at offset 0 and their
  // order depends on the client ids.
  const merged = original.length > 0
    ? ['# interviewer\n' + original + '# candidate\n']
    : ['# interviewer\n# candidate\n', '# candidate\n# interviewer\n']
  const mergedOk = (doc) => merged.includes(filesOf(doc).get(first))
  await waitFor(`both docs to converge on ${first}`, () => mergedOk(a.doc) && mergedOk(b.doc) &&
    filesOf(a.doc).get(first) === filesOf(b.doc).get(first), {
    detail: () => `A: ${stringDiff(filesOf(a.doc).get(first), merged[0]) ?? 'as expected'}; ` +
      `B: ${stringDiff(filesOf(b.doc).get(first), merged[0]) ?? 'as expected'}`
  })
  expected.set(first, filesOf(a.doc).get(first))
  assertFiles('A after concurrent edits', a.doc, expected)
  assertFiles('B after concurrent edits', b.doc, expected)
  pass('concurrent_edits_converge')

  // 4. Awareness: each sees the other; when B drops, A sees B leave.
  await waitFor('A and B to see each other\'s awareness',
    () => awarenessNames(a.provider).includes('Cam Candidate') &&
      awarenessNames(b.provider).includes('Ivy Interviewer'), {
      detail: () => `A sees ${JSON.stringify(awarenessNames(a.provider))}, B sees ${JSON.stringify(awarenessNames(b.provider))}`
    })
  pass('awareness_visible')
  // Drop B's socket abruptly instead of calling destroy() first: a clean destroy() makes the client
  // itself broadcast a null awareness state, which would hide whether the server announces the
  // departure. With the socket gone, only the server can tell A (A's own 30 s awareness timeout is
  // far beyond the wait below).
  b.provider.shouldConnect = false
  const bClosed = new Promise((resolve) => b.provider.once('connection-close', resolve))
  b.provider.ws?.terminate()
  await Promise.race([bClosed, sleep(2_000)])
  b.provider.destroy()
  await waitFor('A to see Cam Candidate leave', () => !awarenessNames(a.provider).includes('Cam Candidate'), {
    detail: () => `A still sees ${JSON.stringify(awarenessNames(a.provider))}`
  })
  pass('awareness_removed_on_disconnect')

  // 5. Observer C syncs, sees the edits, and cannot write.
  const observed = { step2: 0, denied: [] }
  const c = connect(config, 'C (observer)', 'observer', 'Oli Observer', (provider) => {
    // Count sync step 2 answers (used as a barrier below) and record permission-denied messages
    // instead of letting y-websocket console.warn them. Both wrap the stock handlers.
    const syncHandler = provider.messageHandlers[0]
    provider.messageHandlers[0] = (encoder, decoder, prov, emitSynced, type) => {
      const syncType = decoding.peekVarUint(decoder)
      syncHandler(encoder, decoder, prov, emitSynced, type)
      if (syncType === syncProtocol.messageYjsSyncStep2) observed.step2++
    }
    provider.messageHandlers[2] = (_encoder, decoder, prov) => {
      authProtocol.readAuthMessage(decoder, prov.doc, (_doc, reason) => observed.denied.push(reason))
    }
  })
  await waitSynced(c)
  assertFiles('C after sync', c.doc, expected)
  pass('observer_sync')

  const observerText = '# observer edit that must not spread\n'
  const textC = c.doc.getMap('files').get(first)
  textC.insert(textC.length, observerText)
  // Barrier: send a sync step 1 on C's socket after the edit and wait for its step 2. The server
  // handles one connection's frames in order, so once that answer arrives it has processed (and
  // dropped) C's update.
  const step2Before = observed.step2
  if (c.provider.ws?.readyState !== WebSocket.OPEN) {
    fail(`C's connection is not open after its edit (last close: ${c.lastClose ?? 'none'}); ` +
      'an observer\'s writes should be dropped, not answered by closing')
  }
  const enc = encoding.createEncoder()
  encoding.writeVarUint(enc, 0)
  syncProtocol.writeSyncStep1(enc, c.doc)
  c.provider.ws.send(encoding.toUint8Array(enc))
  await waitFor('the server to answer C\'s sync step 1', () => observed.step2 > step2Before)
  // Then a marker edit from A: once C sees it, anything the server would have relayed from C has had
  // the same path back to A. This is a negative check, so it can only show that C's text has not
  // arrived by then; the barrier above makes that meaningful.
  const marker = `marker-${process.pid}-${Date.now()}`
  a.doc.getMap('files').set('marker.txt', new Y.Text(marker))
  await waitFor('C to see A\'s marker', () => filesOf(c.doc).get('marker.txt') === marker)
  if (filesOf(a.doc).get(first).includes(observerText.trim())) {
    fail(`A received the observer's edit: ${JSON.stringify(filesOf(a.doc).get(first))}`)
  }
  if (filesOf(a.doc).get(first) !== expected.get(first)) {
    fail(`A's ${first} changed after the observer's edit: ${stringDiff(filesOf(a.doc).get(first), expected.get(first))}`)
  }
  pass('observer_writes_dropped')
  // DESIGN §4.3: the server drops an observer's writes "and tells it so" (y-protocols permission denied).
  await waitFor('C to be told it is read-only (permission denied)', () => observed.denied.length > 0)
  pass('observer_told_read_only')
  expected.set('marker.txt', marker)

  // 6. A 200 KiB paste reaches a client that joins afterwards, exactly.
  const big = bigText(BIG_BYTES)
  a.doc.transact(() => {
    a.doc.getMap('files').set('big.txt', new Y.Text(big))
  })
  expected.set('big.txt', big)
  // C is still connected: once it has the paste, the server has it too.
  await waitFor('C to receive big.txt', () => filesOf(c.doc).get('big.txt') === big, {
    detail: () => stringDiff(filesOf(c.doc).get('big.txt') ?? '', big)
  })
  const d = connect(config, 'D (candidate, late joiner)', 'candidate', 'Cam Again')
  await waitSynced(d)
  assertFiles('D after sync', d.doc, expected)
  assertFiles('A at the end', a.doc, expected)
  pass('large_paste_late_joiner')
}

process.on('unhandledRejection', (e) => finish(false, `unhandled rejection: ${e?.stack ?? e}`))
process.on('uncaughtException', (e) => finish(false, `uncaught exception: ${e?.stack ?? e}`))
setTimeout(() => finish(false, `global timeout after ${GLOBAL_TIMEOUT_MS} ms (passed: ${checks.join(', ') || 'none'})`), GLOBAL_TIMEOUT_MS)

main().then(
  () => finish(true),
  (e) => finish(false, e instanceof CheckFailed ? e.message : (e?.stack ?? e))
)
