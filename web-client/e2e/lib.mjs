// Shared pieces of the end-to-end run: the recorded checks, the API client, browser pages and the
// helpers that read the room's editor through its test hook (`window.__handoff`).

export const STEP_TIMEOUT_MS = 15_000
/** How long a browser gets to close before the run exits anyway. */
const BROWSER_CLOSE_MS = 10_000

/** Set once by e2e.mjs: the server, its API key and the launched browser. */
export const env = { base: '', apiKey: '', browser: null }

/** Names of the checks that passed, in order. */
export const checks = []

export function pass(name) {
  checks.push(name)
}

export function expect(name, cond, detail = '') {
  if (!cond) throw new Error(`${name}: ${detail}`)
  pass(name)
}

export async function api(method, path, body, token = env.apiKey) {
  const res = await fetch(`${env.base}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  })
  const text = await res.text()
  let json = null
  try {
    json = text ? JSON.parse(text) : null
  } catch {
    json = { unparsed: text.slice(0, 200) }
  }
  return { status: res.status, json }
}

export const LAUNCH = {
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-background-networking', '--disable-gpu', '--disable-component-update', '--no-first-run', '--disable-sync'],
}

/**
 * Content-Security-Policy violations seen on any page (except those opened with `expectViolations`):
 * the server's policy must let every page work, so the run fails on any of them.
 */
export const cspViolations = []

/** Reports every `securitypolicyviolation` event to the console, where `newPage` collects it. */
function reportViolations() {
  document.addEventListener('securitypolicyviolation', (e) => {
    console.error(`CSP violation: ${e.effectiveDirective} blocked ${e.blockedURI || 'inline'} (${e.sourceFile}:${e.lineNumber})`)
  })
}

/**
 * A page in its own browser context (its own storage, like a separate person's browser). Its CSP
 * violations (the event, and Chromium's own console report) go to `cspViolations`, unless the page is
 * a probe that provokes them on purpose (`expectViolations`).
 */
export async function newPage(name, { expectViolations = false } = {}) {
  const context = await env.browser.newContext({ viewport: { width: 1280, height: 720 } })
  const page = await context.newPage()
  page.setDefaultTimeout(STEP_TIMEOUT_MS)
  page.on('pageerror', (e) => process.stderr.write(`[${name}] page error: ${e.message}\n`))
  if (!expectViolations) {
    await page.addInitScript(reportViolations)
    page.on('console', (m) => {
      if (/CSP violation|Content Security Policy/.test(m.text())) cspViolations.push(`[${name}] ${m.text()}`)
    })
  }
  return page
}

/** The open editor's text, via the handle the room exposes for tests. */
export const editorText = (page) => page.evaluate(() => window.__handoff?.view?.state.doc.toString() ?? null)

/** Every file in the shared doc. */
export const docFiles = (page) =>
  page.evaluate(() => {
    const files = window.__handoff?.doc?.getMap('files')
    return files ? Object.fromEntries([...files.entries()].map(([k, v]) => [k, v.toString()])) : null
  })

/** Whether the shared doc's files are exactly `files` ({path, content} list), no more, no fewer. */
export function sameFiles(got, files) {
  if (!got) return false
  const want = Object.fromEntries(files.map((f) => [f.path, f.content]))
  return JSON.stringify(Object.keys(got).sort()) === JSON.stringify(Object.keys(want).sort()) && Object.keys(want).every((k) => got[k] === want[k])
}

/** Waits until the open editor's text includes `text`. */
export const waitEditorIncludes = (page, text) =>
  page.waitForFunction((t) => window.__handoff?.view?.state.doc.toString().includes(t), text)

export async function waitSynced(page) {
  await page.waitForSelector('[data-testid="connection-status"][data-state="synced"]')
  await page.waitForFunction(() => (window.__handoff?.view?.state.doc.length ?? 0) > 0)
}

/** Posts a submission and promotes it; returns the submission id and the per-role links. */
export async function submitAndPromote(submission, interviewer) {
  const created = await api('POST', '/api/v1/submissions', submission)
  if (created.status !== 201 || !created.json?.id) throw new Error(`POST /submissions → ${created.status} ${JSON.stringify(created.json)}`)
  const promoted = await api('POST', `/api/v1/submissions/${created.json.id}/promote`, { interviewer: { name: interviewer } })
  if (promoted.status !== 200 || !promoted.json?.links) throw new Error(`promote → ${promoted.status} ${JSON.stringify(promoted.json)}`)
  return { subId: created.json.id, links: promoted.json.links, roomId: promoted.json.room.id }
}

/** Runs `run` within `timeoutMs`, closes the browser, prints the JSON result and exits (0 when every check passed). */
export async function runAndReport(run, timeoutMs) {
  let timer
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`global timeout after ${timeoutMs / 1000} s`)), timeoutMs)
  })
  let result
  try {
    await Promise.race([run(), timeout])
    result = { ok: true, checks }
  } catch (e) {
    result = { ok: false, error: e instanceof Error ? e.message.split('\n')[0] : String(e), checks }
  } finally {
    clearTimeout(timer)
    if (env.browser) await Promise.race([env.browser.close().catch(() => {}), new Promise((r) => setTimeout(r, BROWSER_CLOSE_MS))])
  }
  console.log(JSON.stringify(result))
  process.exit(result.ok ? 0 : 1)
}
