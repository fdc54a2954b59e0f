// Who is in the room, from awareness: name, role and colour. Also the room's connection badge.

import type { Awareness } from 'y-protocols/awareness'
import type { ConnectionState } from './connection'
import { h } from '../ui/dom'
import { colorByName, nameColor } from '../lib/color'
import { presenceAnnouncements, type Present } from '../lib/presence'

export interface Participant {
  clientId: number
  name: string
  role: string
  color: string
  self: boolean
}

const ROLE_ORDER: Record<string, number> = { interviewer: 0, candidate: 1, observer: 2 }

/** Participants from awareness states, ordered interviewer, candidate, observers, then by name. */
export function participantsOf(states: Map<number, Record<string, unknown>>, selfId: number): Participant[] {
  const out: Participant[] = []
  for (const [clientId, state] of states) {
    const user = state.user as Partial<Record<string, unknown>> | undefined
    if (!user || typeof user.name !== 'string') continue
    out.push({
      clientId,
      name: user.name,
      role: typeof user.role === 'string' ? user.role : 'participant',
      // The colour of the name, never the peer's own: one colour per person on every screen.
      color: nameColor(user.name).color,
      self: clientId === selfId,
    })
  }
  return out.sort(
    (a, b) =>
      (ROLE_ORDER[a.role] ?? 9) - (ROLE_ORDER[b.role] ?? 9) ||
      Number(b.self) - Number(a.self) ||
      a.name.localeCompare(b.name),
  )
}

/**
 * Gives every peer the colour of their name as its state arrives (see `colorByName`). Listeners run in
 * the order they subscribed, so once this is registered before y-codemirror's remote-cursor plugin (the
 * room's connection does it first), the plugin never reads a colour that could inject CSS, and a
 * person's cursor has the colour of their avatar and their authorship tint.
 */
export function guardRemoteColors(awareness: Pick<Awareness, 'clientID' | 'getStates' | 'on'>): void {
  awareness.on('change', ({ added, updated }: { added: number[]; updated: number[] }) => {
    for (const id of [...added, ...updated]) if (id !== awareness.clientID) colorByName(awareness.getStates().get(id))
  })
}

/** Who is present, per client id (for the join/leave announcements). */
function presentOf(states: Map<number, Record<string, unknown>>, selfId: number): Map<number, Present> {
  const out = new Map<number, Present>()
  for (const p of participantsOf(states, selfId)) if (!p.self) out.set(p.clientId, { name: p.name, role: p.role })
  return out
}

export function participantsList(awareness: Awareness): HTMLElement {
  const list = h('ul', { class: 'participants', testid: 'participants', 'aria-label': 'Participants' })
  // Screen readers hear joins and leaves; the list itself changes silently.
  const live = h('p', { class: 'visually-hidden', 'aria-live': 'polite', role: 'status', testid: 'presence-live' })
  const states = () => awareness.getStates() as Map<number, Record<string, unknown>>
  let present = presentOf(states(), awareness.clientID)
  const announce = () => {
    const next = presentOf(states(), awareness.clientID)
    const said = presenceAnnouncements(present, next)
    present = next
    if (said.length > 0) live.textContent = said.join(' ')
  }
  const render = () => {
    list.replaceChildren(
      ...participantsOf(awareness.getStates() as Map<number, Record<string, unknown>>, awareness.clientID).map((p) =>
        h(
          'li',
          { class: 'participant', testid: 'participant', 'data-role': p.role, title: `${p.name} (${p.role})` },
          h('span', { class: 'swatch', style: `background: ${p.color}`, 'aria-hidden': 'true' }, p.name.slice(0, 1).toUpperCase()),
          h(
            'span',
            { class: 'pname' },
            h('span', null, p.name, p.self ? h('span', { class: 'muted' }, ' (you)') : null),
            h('span', { class: `role ${p.role}` }, p.role),
          ),
        ),
      ),
    )
  }
  awareness.on('change', () => {
    render()
    announce()
  })
  render()
  return h('div', { class: 'participants-wrap' }, list, live)
}

const STATE_TEXT: Record<ConnectionState, string> = {
  connecting: 'Connecting…',
  syncing: 'Syncing…',
  synced: 'Live',
  reconnecting: 'Reconnecting…',
  stopped: 'Disconnected',
}

export function connectionBadge(): { el: HTMLElement; set(state: ConnectionState): void } {
  const el = h('span', { class: 'conn', role: 'status', 'aria-live': 'polite', testid: 'connection-status' })
  const set = (state: ConnectionState) => {
    el.dataset.state = state
    el.textContent = STATE_TEXT[state]
  }
  set('connecting')
  return { el, set }
}
