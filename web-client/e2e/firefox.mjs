// Firefox smoke test of the web client against a running handoff server that serves the built dist/.
//
//   node e2e/firefox.mjs <base_url> <api_key> <screenshot_dir>
//
// Drives Debian's stock Firefox ESR (/usr/bin/firefox-esr) with puppeteer-core over WebDriver BiDi;
// nothing is downloaded. Posts a submission and promotes it, opens the candidate link, types a line with
// real key events and waits for the server's export to hold it; opens the interviewer link in a second
// context (live edit, private panel); signs in on the dashboard with the API key. Writes
// firefox-room.png and firefox-dashboard.png. Prints exactly one JSON line: {"ok":true,"checks":[…]} or
// {"ok":false,"error":"…","checks":[…]}, and exits 0 or 1.

import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import puppeteer from 'puppeteer-core'
import { STEP_TIMEOUT_MS, api, checks, docFiles, editorText, env, expect, pass, sameFiles, submitAndPromote, waitSynced } from './lib.mjs'

const GLOBAL_TIMEOUT_MS = 90_000
const FIREFOX = process.env.FIREFOX_PATH || '/usr/bin/firefox-esr'

const [baseArg, apiKey, shotDir] = process.argv.slice(2)
if (!baseArg || !apiKey || !shotDir) {
  console.log(JSON.stringify({ ok: false, error: 'usage: node e2e/firefox.mjs <base_url> <api_key> <screenshot_dir>', checks: [] }))
  process.exit(1)
}
const base = baseArg.replace(/\/+$/, '')
env.base = base
env.apiKey = apiKey

const CANDIDATE = 'Zoë Firefox-Candidate'
const INTERVIEWER = 'Grace Firefox-Interviewer'
const TYPED = `# firefox-edit-${Date.now().toString(36)}`

// Non-ASCII on purpose: accents, CJK, and characters outside the BMP (surrogate pairs in the browser's
// UTF-16 strings, single code points on the server).
const MAIN = `"""Greeting helpers — naïve Unicode handling, 日本語 included."""


def greet(name: str) -> str:
    return f"¡Hola, {name}! 👋"


def shout(text: str) -> str:
    # ß upper-cases to SS; 🐍 stays as it is.
    return text.upper() + " 🐍"


if __name__ == "__main__":
    print(greet("Zoë"))
    print(shout("straße"))
`

const FILES = [
  { path: 'main.py', content: MAIN },
  { path: 'README.md', content: '# Greeter\n\nRun `python main.py`. Ünïcödé is fine.\n' },
  { path: 'tests/test_main.py', content: 'from main import greet\n\n\ndef test_greet():\n    assert greet("Zoë") == "¡Hola, Zoë! 👋"\n' },
]

const SUBMISSION = {
  candidate: { name: CANDIDATE, email: 'zoe@example.com' },
  exercise: { title: 'Greeter (firefox smoke)', language: 'python' },
  files: FILES,
}

// Puppeteer's Firefox defaults already turn off updates, telemetry and first-run pages; these keep the
// headless run quiet and independent of the machine's GPU.
const LAUNCH = {
  browser: 'firefox',
  executablePath: FIREFOX,
  headless: true,
  protocol: 'webDriverBiDi',
  defaultViewport: { width: 1280, height: 720 },
  args: ['--width=1280', '--height=720'],
  extraPrefsFirefox: {
    'browser.shell.checkDefaultBrowser': false,
    'datareporting.policy.dataSubmissionEnabled': false,
    'gfx.webrender.software': true,
    'layers.acceleration.disabled': true,
    'media.hardware-video-decoding.enabled': false,
  },
  timeout: 30_000,
}

/** Uncaught errors in any page; a Firefox-only exception fails the run. */
const pageErrors = []

/** Content-Security-Policy violations in any page: the server's policy must let Firefox work too. */
const cspViolations = []

async function newPage(context, name) {
  const page = await context.newPage()
  page.setDefaultTimeout(STEP_TIMEOUT_MS)
  page.on('pageerror', (e) => {
    const msg = e instanceof Error ? e.message : String(e)
    pageErrors.push(`[${name}] ${msg}`)
    process.stderr.write(`[${name}] page error: ${msg}\n`)
  })
  // Firefox's own CSP reports stay in its web console; the event is what the page can see.
  await page.evaluateOnNewDocument(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      console.error(`CSP violation: ${e.effectiveDirective} blocked ${e.blockedURI || 'inline'} (${e.sourceFile}:${e.lineNumber})`)
    })
  })
  page.on('console', (m) => {
    if (m.text().startsWith('CSP violation')) cspViolations.push(`[${name}] ${m.text()}`)
  })
  return page
}

/** Polls the room's export (API key) until `path` contains `text`; returns the file's content. */
async function waitExportIncludes(roomId, path, text) {
  const deadline = Date.now() + STEP_TIMEOUT_MS
  let last = ''
  for (;;) {
    const res = await api('GET', `/api/v1/rooms/${roomId}/export`)
    const file = res.json?.files?.find((f) => f.path === path)
    if (res.status === 200 && file?.content.includes(text)) return file.content
    last = `${res.status} ${file ? JSON.stringify(file.content.slice(-80)) : 'no such file'}`
    if (Date.now() > deadline) throw new Error(`export_has_typed_line: ${path} never contained the typed line (last: ${last})`)
    await new Promise((r) => setTimeout(r, 200)) // poll interval, not a synchronisation sleep
  }
}

async function run(browser) {
  mkdirSync(shotDir, { recursive: true })
  const version = await browser.version()
  expect('firefox_launched', /firefox/i.test(version), version)

  // 1. The platform posts a submission; it is promoted to a live room.
  const { subId, links, roomId } = await submitAndPromote(SUBMISSION, INTERVIEWER)
  pass('submission_promoted')

  // 2. The candidate opens their link and sees exactly the preloaded Python file.
  const candCtx = await browser.createBrowserContext()
  const cand = await newPage(candCtx, 'candidate')
  await cand.goto(links.candidate)
  await waitSynced(cand)
  const active = await cand.evaluate(() => window.__handoff?.activePath ?? null)
  const shown = await editorText(cand)
  expect('candidate_sees_preloaded_file', active === 'main.py' && shown === MAIN, `${active}: ${JSON.stringify(shown?.slice(0, 80))}`)
  expect('candidate_doc_has_all_files', sameFiles(await docFiles(cand), FILES), 'shared doc differs from the submission')
  expect('token_dropped_from_address_bar', !cand.url().includes('#token='), cand.url())
  expect('candidate_has_no_private_panel', (await cand.$('[data-testid="private-panel"]')) === null)

  // 3. The interviewer opens their link in a separate context (own storage) before the candidate types,
  //    so the line has to arrive live over the socket.
  const ivCtx = await browser.createBrowserContext()
  const iv = await newPage(ivCtx, 'interviewer')
  await iv.goto(links.interviewer)
  await waitSynced(iv)
  expect('interviewer_sees_preloaded_file', (await editorText(iv)) === MAIN, 'interviewer editor differs')
  await iv.waitForSelector('[data-testid="private-panel"]')
  pass('interviewer_private_panel')

  // 4. The candidate types a line with real key events at the end of the file. Every context's page is a
  //    tab of one Firefox window, and only the selected tab's document has focus; y-codemirror.next
  //    publishes the cursor only while document.hasFocus(), so select the candidate's tab first.
  await cand.bringToFront()
  await cand.click('[data-testid="editor"] .cm-content')
  await cand.waitForFunction(() => document.hasFocus() && document.activeElement?.classList.contains('cm-content'))
  await cand.keyboard.down('Control')
  await cand.keyboard.press('End')
  await cand.keyboard.up('Control')
  await cand.keyboard.press('Enter')
  await cand.keyboard.type(TYPED)
  await cand.waitForFunction((t) => window.__handoff?.view?.state.doc.toString().endsWith(`\n${t}`), {}, TYPED)
  const typed = await editorText(cand)
  expect('candidate_typing_lands_in_editor', typed === `${MAIN}\n${TYPED}`, JSON.stringify(typed.slice(-80)))

  // 5. The interviewer sees it live; the server has it.
  await iv.waitForFunction((t) => window.__handoff?.view?.state.doc.toString().includes(t), {}, TYPED)
  pass('interviewer_sees_candidate_line_live')
  await iv.waitForFunction(
    (n) => [...document.querySelectorAll('.cm-ySelectionInfo')].some((e) => e.textContent.includes(n)),
    {},
    CANDIDATE,
  )
  pass('interviewer_sees_candidate_cursor')
  const exported = await waitExportIncludes(roomId, 'main.py', TYPED)
  expect('export_has_typed_line', exported === `${MAIN}\n${TYPED}`, JSON.stringify(exported.slice(-120)))
  await iv.screenshot({ path: join(shotDir, 'firefox-room.png') })

  // 6. The dashboard renders in Firefox after signing in with the API key.
  const dashCtx = await browser.createBrowserContext()
  const dash = await newPage(dashCtx, 'dashboard')
  await dash.goto(`${base}/`)
  await dash.waitForSelector('[data-testid="signin-form"]')
  await dash.type('[data-testid="signin-key"]', apiKey)
  await dash.click('[data-testid="signin-submit"]')
  const row = await dash.waitForSelector(`[data-testid="dashboard"] [data-testid="submission-row"][data-id="${subId}"]`)
  const rowText = await row.evaluate((r) => r.textContent)
  expect('dashboard_lists_submission', rowText.includes(CANDIDATE) && rowText.includes('live'), JSON.stringify(rowText))
  await dash.screenshot({ path: join(shotDir, 'firefox-dashboard.png') })

  expect('no_page_errors', pageErrors.length === 0, pageErrors.join('; '))
  expect('no_csp_violations', cspViolations.length === 0, cspViolations.join('; '))
}

let browser = null
const launching = puppeteer.launch(LAUNCH).then((b) => (browser = b))
let timer
const timeout = new Promise((_, reject) => {
  timer = setTimeout(() => reject(new Error(`global timeout after ${GLOBAL_TIMEOUT_MS / 1000} s`)), GLOBAL_TIMEOUT_MS)
})

let result
try {
  await Promise.race([launching.then(run), timeout])
  result = { ok: true, checks }
} catch (e) {
  result = { ok: false, error: e instanceof Error ? e.message.split('\n')[0] : String(e), checks }
} finally {
  clearTimeout(timer)
  // A launch still under way when the global timeout fired gets a moment to finish, so it can be closed.
  await Promise.race([launching.catch(() => {}), new Promise((r) => setTimeout(r, 5_000))])
  if (browser) {
    const proc = browser.process()
    await Promise.race([browser.close().catch(() => {}), new Promise((r) => setTimeout(r, 10_000))])
    if (proc && proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL')
  }
}
console.log(JSON.stringify(result))
process.exit(result.ok ? 0 : 1)
