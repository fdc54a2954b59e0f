// A submission whose follow-up room ended: the dashboard says so, with until when it can be reopened,
// and offers, in words, to open its review, to download its report, to reopen that room, or to start a
// new follow-up. The promote call says which (`on_ended`), and its answer says which happened
// (`outcome`).

import type { Client } from '../lib/api'
import { formatDateTime } from '../lib/format'
import { promoteOnEnded, reopenable, roomStateText, type PromotedWithOutcome, type RoomState } from '../lib/interview'
import type { PromoteOptions, Submission } from '../lib/types'
import { reportButton } from '../room/report'
import { h } from '../ui/dom'

/** The room's state on a badge: "ended", "ended · reopenable until 2025-11-22 14:05". */
export function endedLabel(room: RoomState | { id: string; status: string }): string {
  const state = room as RoomState
  return reopenable(state, Date.now()) && state.reopen_until_ms !== undefined ? `ended · reopenable until ${formatDateTime(state.reopen_until_ms)}` : 'ended'
}

/** The choices for a submission whose room ended; null when its room is live or it was never promoted. */
export function endedRoomControls(
  client: Client,
  s: Submission,
  name: () => string,
  options: () => PromoteOptions,
  done: (p: PromotedWithOutcome) => void,
  fail: (e: unknown) => void,
): HTMLElement | null {
  const room = s.room as RoomState | null | undefined
  if (!room || room.status !== 'ended') return null
  const now = Date.now()
  const choose = (onEnded: 'reopen' | 'new', button: HTMLButtonElement) => {
    let chosen: PromoteOptions | undefined
    try {
      // A reopened room keeps its own options; a new one takes the form's.
      chosen = onEnded === 'new' ? options() : undefined
    } catch (e) {
      fail(e)
      return
    }
    button.disabled = true
    promoteOnEnded(client, s.id, name(), onEnded, chosen)
      .then(done, fail)
      .finally(() => {
        button.disabled = false
      })
  }
  const reopen = h('button', { type: 'button', class: 'button primary', testid: 'promote-reopen' }, 'Reopen that room')
  reopen.addEventListener('click', () => choose('reopen', reopen))
  const fresh = h('button', { type: 'button', class: 'button', testid: 'promote-new' }, 'Start a new follow-up')
  fresh.addEventListener('click', () => choose('new', fresh))
  const canReopen = reopenable(room, now)
  return h(
    'div',
    { class: 'ended-room', testid: 'ended-room' },
    h(
      'p',
      { class: 'muted small', testid: 'ended-room-text' },
      `The live follow-up ${room.ended_at_ms !== undefined ? `ended ${formatDateTime(room.ended_at_ms)}` : 'has ended'}. `,
      canReopen
        ? `${roomStateText(room, now, formatDateTime).replace('Ended · c', 'C')}: reopen it to continue with the same code, notes and links, or start a new follow-up from the submission.`
        : 'It can no longer be reopened; you can start a new follow-up from the submission.',
    ),
    h(
      'div',
      { class: 'promote-row' },
      h('a', { class: 'button', href: `/room/${encodeURIComponent(room.id)}`, testid: 'open-review' }, 'Open review'),
      reportButton(client, room.id),
      canReopen ? reopen : null,
      fresh,
    ),
  )
}
