// The Content-Security-Policy as an attacker meets it (issue 18, finding 4): a style injected into a
// room page, `background-image:url(…)` pointing at another origin, must not fetch anything. A
// listener on 127.0.0.1 stands in for the attacker's server and counts what reaches it.

import { createServer } from 'node:http'
import { STEP_TIMEOUT_MS, expect, newPage, waitSynced } from './lib.mjs'

/** Opens `roomLink` in a fresh page, injects the style into a visible element and checks it is blocked. */
export async function cspBlocksInjectedStyle(roomLink) {
  const hits = []
  const listener = createServer((req, res) => {
    hits.push(req.url)
    res.writeHead(200, { 'content-type': 'image/png' }).end()
  })
  await new Promise((resolve) => listener.listen(0, '127.0.0.1', resolve))
  const leakUrl = `http://127.0.0.1:${listener.address().port}/leak`
  try {
    const page = await newPage('csp-probe', { expectViolations: true })
    await page.goto(roomLink)
    await waitSynced(page)
    await page.waitForSelector('[data-testid="participant"] .swatch')
    // The page reports the violation; a request reaching the listener first means the style loaded.
    const reached = new Promise((resolve) => listener.once('request', () => resolve({ reached: true })))
    const blocked = page.evaluate(
      (url) =>
        new Promise((resolve) => {
          // The image's fetch is refused (img-src), or, under a policy without inline styles, the
          // style attribute itself (style-src-attr): either way a violation, and nothing leaves.
          document.addEventListener('securitypolicyviolation', (e) => {
            if (e.blockedURI.includes('/leak') || e.effectiveDirective.startsWith('style-src')) {
              resolve({ directive: e.effectiveDirective, blocked: e.blockedURI })
            }
          })
          const swatch = document.querySelector('[data-testid="participant"] .swatch')
          swatch.setAttribute('style', `background: red; background-image: url(${url})`)
        }),
      leakUrl,
    )
    // A bound on failure (neither event came), never a wait for success.
    let timer
    const neither = new Promise((resolve) => {
      timer = setTimeout(() => resolve({ neither: 'no violation and no request' }), STEP_TIMEOUT_MS)
    })
    const outcome = await Promise.race([blocked, reached, neither])
    clearTimeout(timer)
    expect(
      'csp_blocks_injected_background_image',
      typeof outcome.directive === 'string' && hits.length === 0,
      `${JSON.stringify(outcome)}; requests that reached the listener: ${JSON.stringify(hits)}`,
    )
    await page.context().close()
  } finally {
    await new Promise((resolve) => listener.close(resolve))
  }
}
