// The room's clock: time since the room opened and, when promote gave a length, the time left. It runs
// on the server's clock (the session says what time the server had), so a browser whose clock is off
// still shows the right time.

import { clockText, type InterviewSession } from '../lib/interview'
import { h } from '../ui/dom'

/** How often the clock redraws. */
export const CLOCK_TICK_MS = 1000

export function roomClock(session: InterviewSession): { el: HTMLElement; stop(): void } | null {
  const started = session.state?.started_at_ms
  if (started === undefined) return null
  // What to add to this browser's clock to read the server's.
  const offset = session.now_ms === undefined ? 0 : session.now_ms - Date.now()
  const elapsed = h('span', { class: 'clock-elapsed', testid: 'clock-elapsed' })
  const left = h('span', { class: 'clock-left', testid: 'clock-left', hidden: session.duration_min === undefined })
  const el = h('span', { class: 'room-clock', testid: 'room-clock', role: 'timer', 'aria-label': 'Interview clock' }, elapsed, left)
  const draw = () => {
    const t = clockText(started, Date.now() + offset, session.duration_min)
    elapsed.textContent = `Elapsed ${t.elapsed}`
    if (t.left !== null) {
      left.textContent = ` · ${t.left}`
      left.classList.toggle('over', t.over)
    }
  }
  draw()
  const timer = window.setInterval(draw, CLOCK_TICK_MS)
  return { el, stop: () => window.clearInterval(timer) }
}
