// Remote cursors' name labels show while their person is typing or moving, and on hover; otherwise they
// hide, so a label never sits over someone's code for long. y-codemirror.next draws the labels and keeps
// no per-person hook, so this marks the label elements of whoever's awareness changed last.

import type { Awareness } from 'y-protocols/awareness'

/** A label stays up this long after its person's last cursor move or edit. */
export const LABEL_SHOW_MS = 2000

export function cursorLabels(awareness: Awareness, host: HTMLElement): void {
  const activeUntil = new Map<string, number>()
  let frame = 0
  let timer: ReturnType<typeof setTimeout> | null = null
  const paint = () => {
    frame = 0
    const now = Date.now()
    let next = Infinity
    for (const label of host.querySelectorAll<HTMLElement>('.cm-ySelectionInfo')) {
      const until = activeUntil.get(label.textContent ?? '') ?? 0
      label.classList.toggle('active', until > now)
      if (until > now) next = Math.min(next, until)
    }
    if (timer !== null) clearTimeout(timer)
    timer = next === Infinity ? null : setTimeout(schedule, next - now + 20)
  }
  const schedule = () => {
    if (frame === 0) frame = requestAnimationFrame(paint)
  }
  awareness.on('change', ({ added, updated }: { added: number[]; updated: number[] }) => {
    const states = awareness.getStates()
    for (const id of [...added, ...updated]) {
      if (id === awareness.clientID) continue
      const user = (states.get(id) as { user?: { name?: unknown } } | undefined)?.user
      if (typeof user?.name === 'string') activeUntil.set(user.name, Date.now() + LABEL_SHOW_MS)
    }
    schedule()
  })
  // The editor redraws carets (a new label element loses the mark): mark again after each redraw.
  new MutationObserver(schedule).observe(host, { childList: true, subtree: true })
}
