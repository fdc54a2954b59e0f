import { describe, expect, it } from 'vitest'
import { Awareness, applyAwarenessUpdate, encodeAwarenessUpdate } from 'y-protocols/awareness'
import * as Y from 'yjs'
import { nameColor, safeColor, scrubUserColors } from '../src/lib/color'
import { guardRemoteColors } from '../src/room/participants'

const EVIL = 'red; background-image:url(https://attacker.example/x)'

describe('safeColor', () => {
  it('keeps hex colours', () => {
    for (const c of ['#abc', '#A1B2C3', '#12ab5633']) expect(safeColor(c, '#888888')).toBe(c)
  })
  it('refuses anything else', () => {
    for (const c of [EVIL, 'red', '#abcd', '#12345', '#fff;', 'url(x)', '', 42, null, undefined, { a: 1 }]) {
      expect(safeColor(c, '#888888')).toBe('#888888')
    }
  })
})

describe('remote colours never reach CSS unchecked', () => {
  it('scrubUserColors drops bad colour fields in place and keeps good ones', () => {
    const state = { user: { name: 'M', color: EVIL, colorLight: '#12345633' }, cursor: 1 }
    scrubUserColors(state)
    expect(state).toEqual({ user: { name: 'M', colorLight: '#12345633' }, cursor: 1 })
    for (const odd of [null, 5, 'x', { user: null }, { user: 'x' }]) expect(() => scrubUserColors(odd)).not.toThrow()
  })

  it('guardRemoteColors replaces a received state’s colours before later listeners read it', () => {
    const peer = new Awareness(new Y.Doc())
    peer.setLocalState({ user: { name: 'Mallory', color: EVIL, colorLight: EVIL } })
    const mine = new Awareness(new Y.Doc())
    guardRemoteColors(mine)
    const seen: unknown[] = []
    mine.on('change', () => seen.push(structuredClone(mine.getStates().get(peer.clientID))))
    applyAwarenessUpdate(mine, encodeAwarenessUpdate(peer, [peer.clientID]), 'remote')
    // The peer's colour never reaches a listener; the colour of their name does.
    expect(seen).toEqual([{ user: { name: 'Mallory', ...nameColor('Mallory') } }])
    peer.destroy()
    mine.destroy()
  })
})
