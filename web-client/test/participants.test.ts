import { describe, expect, it } from 'vitest'
import { nameColor } from '../src/lib/color'
import { participantsOf } from '../src/room/participants'

describe('participantsOf', () => {
  it('lists named users by role, self first within a role, skipping states without a user', () => {
    const states = new Map<number, Record<string, unknown>>([
      [5, { user: { name: 'Olive', role: 'observer', color: '#123456' } }],
      [2, { user: { name: 'Cara', role: 'candidate', color: '#abcdef' } }],
      [9, { cursor: {} }],
      [1, { user: { name: 'Ian', role: 'interviewer' } }],
      [7, { user: { name: 'Bo', role: 'observer', color: '#000000' } }],
    ])
    const out = participantsOf(states, 5)
    expect(out.map((p) => `${p.name}:${p.role}${p.self ? '*' : ''}`)).toEqual(['Ian:interviewer', 'Cara:candidate', 'Olive:observer*', 'Bo:observer'])
    expect(out[0]!.color).toBe(nameColor('Ian').color)
    expect(out[1]!.color).toBe(nameColor('Cara').color)
  })

  it('never hands a peer\'s colour to CSS: everyone gets the colour of their name', () => {
    const evil = 'red; background-image:url(https://attacker.example/x)'
    const states = new Map<number, Record<string, unknown>>([[3, { user: { name: 'Mallory', role: 'candidate', color: evil } }]])
    expect(participantsOf(states, 1)[0]!.color).toBe(nameColor('Mallory').color)
  })
})
