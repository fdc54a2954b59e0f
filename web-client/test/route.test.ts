import { describe, expect, it } from 'vitest'
import { parseRoute, submissionPath } from '../src/lib/route'

describe('parseRoute', () => {
  it('routes the dashboard, submissions and rooms', () => {
    expect(parseRoute('/')).toEqual({ kind: 'dashboard' })
    expect(parseRoute('')).toEqual({ kind: 'dashboard' })
    expect(parseRoute('/room/room_abc')).toEqual({ kind: 'room', roomId: 'room_abc' })
    expect(parseRoute('/room/room_abc/')).toEqual({ kind: 'room', roomId: 'room_abc' })
    expect(parseRoute(submissionPath('sub 1'))).toEqual({ kind: 'submission', id: 'sub 1' })
  })
  it('does not guess at anything else', () => {
    expect(parseRoute('/room')).toEqual({ kind: 'not-found' })
    expect(parseRoute('/room/a/b')).toEqual({ kind: 'not-found' })
    expect(parseRoute('/elsewhere/x')).toEqual({ kind: 'not-found' })
    expect(parseRoute('/room/%E0%A4%A')).toEqual({ kind: 'not-found' })
  })
})
