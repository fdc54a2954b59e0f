// "Download report": the room's interview report (`GET /api/v1/rooms/{id}/report`, a self-contained HTML
// page) saved as a file. The report needs the interviewer's bearer token, which a plain link cannot
// send, so the page is fetched and handed to the browser as a download.

import { errorFromBody, type Client } from '../lib/api'
import { h } from '../ui/dom'

/** The object URL outlives the click long enough for every browser to start the download. */
const REVOKE_AFTER_MS = 10_000

/** Fetches the report page's HTML with the caller's credential. */
export async function fetchReport(client: Client, roomId: string): Promise<string> {
  const headers: Record<string, string> = { accept: 'text/html' }
  if (client.credential) headers.authorization = `Bearer ${client.credential}`
  const doFetch = client.fetch ?? ((input: string, init?: RequestInit) => fetch(input, init))
  const res = await doFetch(`/api/v1/rooms/${encodeURIComponent(roomId)}/report`, { method: 'GET', headers })
  const text = await res.text()
  if (!res.ok) {
    let body: unknown = null
    try {
      body = JSON.parse(text)
    } catch {
      // Not the error contract: the status text says enough.
    }
    throw errorFromBody(res.status, res.statusText, body)
  }
  return text
}

/** The button; its title says what went wrong when the download fails. */
export function reportButton(client: Client, roomId: string, { small = true } = {}): HTMLButtonElement {
  const button = h('button', { type: 'button', class: small ? 'button small' : 'button', testid: 'download-report' }, 'Download report')
  button.addEventListener('click', () => {
    button.disabled = true
    fetchReport(client, roomId).then(
      (html) => {
        button.disabled = false
        button.title = ''
        const url = URL.createObjectURL(new Blob([html], { type: 'text/html' }))
        const a = h('a', { href: url, download: `interview-report-${roomId}.html`, hidden: true })
        document.body.append(a)
        a.click()
        a.remove()
        setTimeout(() => URL.revokeObjectURL(url), REVOKE_AFTER_MS)
      },
      (e: unknown) => {
        button.disabled = false
        button.title = `Could not download the report: ${e instanceof Error ? e.message : String(e)}`
      },
    )
  })
  return button
}
