// reconnect_keeps_offline_edits: the candidate's connection drops, the candidate keeps typing, and the
// edit reaches the interviewer once the connection is back.

import { docFiles, expect, waitEditorIncludes } from './lib.mjs'

const OFFLINE_LINE = '# typed-while-offline-5e1d'

const participantRoles = (page) =>
  page.locator('[data-testid="participant"]').evaluateAll((els) => els.map((e) => e.dataset.role).sort())

/**
 * `iv` and `cand` are the interviewer's and the candidate's pages, both synced in the same room, each in
 * its own browser context.
 */
export async function reconnectKeepsOfflineEdits(iv, cand) {
  const context = cand.context()
  await context.setOffline(true)
  // Chromium's offline emulation (setOffline, or CDP Network.emulateNetworkConditions offline:true)
  // refuses new connections but leaves an established WebSocket open. So drop the open socket the way a
  // network failure would: close it under the stock provider, whose reconnect logic stays in charge
  // (it retries with backoff, and each retry fails while the context is offline).
  await cand.evaluate(() => {
    const provider = window.__handoff?.provider
    if (provider?.ws && provider.wsconnected) provider.ws.close()
  })
  await cand.waitForSelector('[data-testid="connection-status"][data-state="reconnecting"]')
  await cand.locator('[data-testid="reconnecting-banner"]').waitFor({ state: 'visible' })
  // The server saw the drop too: the candidate left the interviewer's participant list.
  await iv.waitForFunction(() => ![...document.querySelectorAll('[data-testid="participant"]')].some((e) => e.dataset.role === 'candidate'))
  const down = await cand.evaluate(() => ({ connected: window.__handoff.provider.wsconnected, text: document.querySelector('[data-testid="connection-status"]').textContent }))
  expect('reconnect_socket_dropped', !down.connected && down.text === 'Reconnecting…', JSON.stringify(down))

  // Type while offline: the edit lands in the candidate's doc only.
  await cand.click('[data-testid="editor"] .cm-content')
  await cand.keyboard.press('Control+End')
  await cand.keyboard.type(`\n${OFFLINE_LINE}`)
  await waitEditorIncludes(cand, OFFLINE_LINE)
  const stillDown = await cand.getAttribute('[data-testid="connection-status"]', 'data-state')
  const ivText = await iv.evaluate(() => window.__handoff.view.state.doc.toString())
  expect('reconnect_edit_made_offline', stillDown === 'reconnecting' && !ivText.includes(OFFLINE_LINE), `state ${stillDown}`)

  // Back online: the provider reconnects by itself, the badge returns to live, the edit arrives once.
  await context.setOffline(false)
  await cand.waitForSelector('[data-testid="connection-status"][data-state="synced"]')
  await cand.locator('[data-testid="reconnecting-banner"]').waitFor({ state: 'hidden' })
  await waitEditorIncludes(iv, OFFLINE_LINE)
  await iv.waitForFunction(() => [...document.querySelectorAll('[data-testid="participant"]')].some((e) => e.dataset.role === 'candidate'))
  const live = await cand.locator('[data-testid="connection-status"]').innerText()
  const [a, b, roles] = [await docFiles(iv), await docFiles(cand), await participantRoles(iv)]
  const file = Object.keys(a ?? {}).find((k) => a[k].includes(OFFLINE_LINE))
  const once = file !== undefined && a[file].split(OFFLINE_LINE).length === 2
  expect(
    'reconnect_keeps_offline_edits',
    live === 'Live' && once && sorted(a) === sorted(b) && roles.includes('candidate'),
    `badge ${live}, file ${file}, same docs ${sorted(a) === sorted(b)}, roles ${roles}`,
  )
}

const sorted = (files) => JSON.stringify(Object.entries(files ?? {}).sort(([x], [y]) => x.localeCompare(y)))
