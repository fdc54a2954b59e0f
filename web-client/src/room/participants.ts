// Who is in the room, from awareness: name, role and colour. Also the room's connection badge.

import type { Awareness } from 'y-protocols/awareness'
import type { ConnectionState } from './connection'
import { h } from '../ui/dom'
import { safeColor, scrubUserColors } from '../lib/color'

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
      color: safeColor(user.color, '#888888'),
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
 * Scrubs every peer's colours as its state arrives (see `scrubUserColors`). Listeners run in the order
 * they subscribed, so once this is registered before y-codemirror's remote-cursor plugin (the room's
 * connection does it first), the plugin never reads a colour that could inject CSS.
 */
export function guardRemoteColors(awareness: Pick<Awareness, 'clientID' | 'getStates' | 'on'>): void {
  awareness.on('change', ({ added, updated }: { added: number[]; updated: number[] }) => {
    for (const id of [...added, ...updated]) if (id !== awareness.clientID) scrubUserColors(awareness.getStates().get(id))
  })
}

export function participantsList(awareness: Awareness): HTMLElement {
  const list = h('ul', { class: 'participants', testid: 'participants', 'aria-label': 'Participants' })
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
  awareness.on('change', render)
  render()
  return list
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
