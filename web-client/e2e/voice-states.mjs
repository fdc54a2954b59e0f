// The voice states a person must be able to read: the browser refused the microphone, and the network
// lets no voice through. Both are provoked in pages of their own (fresh contexts of an already launched
// browser): getUserMedia rejected as a denial does, and a PeerConnection allowed relay candidates only
// with no TURN server, which leaves ICE nothing to connect over, as a network that blocks UDP does.

import { STEP_TIMEOUT_MS, expect, waitSynced } from './lib.mjs'

/** The client says "blocked" after ICE_CONNECT_TIMEOUT_MS (10 s); the wait allows for a slow machine. */
const BLOCKED_DEADLINE_MS = 40_000

async function freshPage(browser, init) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 720 } })
  const page = await context.newPage()
  page.setDefaultTimeout(STEP_TIMEOUT_MS)
  await page.addInitScript(init)
  return { page, context }
}

export async function voiceStateChecks(browser, links) {
  // 1. The microphone is denied: the check closes, the bar says how to allow it, Join voice is back.
  const denied = await freshPage(browser, () => {
    navigator.mediaDevices.getUserMedia = () => Promise.reject(new DOMException('Permission denied', 'NotAllowedError'))
  })
  await denied.page.goto(links.candidate)
  await waitSynced(denied.page)
  await denied.page.getByRole('button', { name: 'Join voice', exact: true }).click()
  await denied.page.waitForSelector('[data-testid="voice-bar"][data-phase="mic-denied"]')
  const deniedText = await denied.page.locator('[data-testid="voice-alert"]').innerText()
  const joinAgain = await denied.page.getByRole('button', { name: 'Join voice', exact: true }).isVisible()
  const dialogGone = (await denied.page.locator('[data-testid="voice-check"]').count()) === 0
  expect('mic_denied_state', /blocked the microphone/.test(deniedText) && joinAgain && dialogGone, `${deniedText}; join again ${joinAgain}`)
  // Still able to hear: listen without a microphone.
  await denied.page.getByRole('button', { name: 'Listen without microphone', exact: true }).click()
  await denied.page.waitForSelector('[data-testid="voice-bar"][data-phase="connected"]', { timeout: 30_000 })
  await denied.page.waitForSelector('[data-testid="voice-audio-el"]', { state: 'attached' })
  const listening = await denied.page.evaluate(() => window.__handoffVoice.pc !== null && window.__handoffVoice.pc.getSenders().every((s) => s.track === null))
  expect('listen_without_microphone', listening, 'a PeerConnection that sends nothing')
  await denied.context.close()

  // 2. Nothing gets through (an observer listening while someone speaks): the bar says UDP may be blocked.
  const blocked = await freshPage(browser, () => {
    const Native = window.RTCPeerConnection
    window.RTCPeerConnection = function (config) {
      return new Native({ ...config, iceServers: [], iceTransportPolicy: 'relay' })
    }
    window.RTCPeerConnection.prototype = Native.prototype
  })
  await blocked.page.goto(links.observer)
  await waitSynced(blocked.page)
  await blocked.page.getByRole('button', { name: 'Join voice', exact: true }).click()
  await blocked.page.waitForSelector('[data-testid="voice-bar"][data-phase="blocked"]', { timeout: BLOCKED_DEADLINE_MS })
  const blockedText = await blocked.page.locator('[data-testid="voice-alert"]').innerText()
  const editorThere = await blocked.page.locator('[data-testid="editor"]').isVisible()
  expect('udp_blocked_state', /UDP/.test(blockedText) && editorThere, blockedText)
  await blocked.context.close()
}
