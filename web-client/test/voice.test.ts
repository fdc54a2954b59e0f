import { describe, expect, it } from 'vitest'
import * as encoding from 'lib0/encoding'
import {
  MSG_VOICE_SIGNAL,
  decodeVoiceFrame,
  encodeVoiceSignal,
  fromWireCandidate,
  parseServerSignal,
  toRtcIceServers,
  toWireCandidate,
  uplinkMids,
  voiceSignalFits,
  MAX_VOICE_SIGNAL_BYTES,
} from '../src/lib/voice-signal'
import { LEVEL_STALE_MS, meterLevel, micFailure, phaseLabel, phaseNeedsBanner, phaseText, speakingMembers } from '../src/lib/voice-view'

describe('the voice frame', () => {
  it('is byte 101 then the JSON as a var-string', () => {
    const frame = encodeVoiceSignal({ type: 'join' })
    const json = '{"type":"join"}'
    expect(frame[0]).toBe(MSG_VOICE_SIGNAL)
    expect(frame[1]).toBe(json.length)
    expect(new TextDecoder().decode(frame.slice(2))).toBe(json)
    expect(decodeVoiceFrame(frame)).toBe(json)
  })
  it('spells every client message in snake_case with its type', () => {
    const round = (s: Parameters<typeof encodeVoiceSignal>[0]) => JSON.parse(decodeVoiceFrame(encodeVoiceSignal(s)) ?? 'null')
    expect(round({ type: 'mute_member', member: 'm7', muted: true })).toEqual({ type: 'mute_member', member: 'm7', muted: true })
    expect(round({ type: 'candidate', candidate: null })).toEqual({ type: 'candidate', candidate: null })
    expect(round({ type: 'candidate', candidate: toWireCandidate({ candidate: 'candidate:1 1 udp 1 127.0.0.1 5000 typ host', sdpMid: '0', sdpMLineIndex: 0 }) })).toEqual({
      type: 'candidate',
      candidate: { candidate: 'candidate:1 1 udp 1 127.0.0.1 5000 typ host', sdp_mid: '0', sdp_mline_index: 0 },
    })
  })
  it('carries long SDP (a multi-byte length) and non-ASCII text intact', () => {
    const sdp = 'v=0\r\n' + 'a=x:é\r\n'.repeat(2000)
    expect(JSON.parse(decodeVoiceFrame(encodeVoiceSignal({ type: 'answer', sdp })) ?? '').sdp).toBe(sdp)
  })
  it('is never longer than the server takes', () => {
    const room = MAX_VOICE_SIGNAL_BYTES - JSON.stringify({ type: 'answer', sdp: '' }).length
    expect(voiceSignalFits({ type: 'answer', sdp: 'a'.repeat(room) })).toBe(true)
    expect(voiceSignalFits({ type: 'answer', sdp: 'a'.repeat(room + 1) })).toBe(false)
    // Bytes, not characters.
    expect(voiceSignalFits({ type: 'answer', sdp: 'é'.repeat(room / 2 + 1) })).toBe(false)
  })
  it('is not read from another message', () => {
    const enc = encoding.createEncoder()
    encoding.writeVarUint(enc, 100)
    encoding.writeVarString(enc, '{"type":"join"}')
    expect(decodeVoiceFrame(encoding.toUint8Array(enc))).toBeNull()
  })
})

describe('server messages', () => {
  it('parses each type', () => {
    expect(parseServerSignal('{"type":"config","ice_servers":[{"urls":["stun:a:3478"]},{"urls":"turn:b","username":"u","credential":"c"},{"urls":[]}]}')).toEqual({
      type: 'config',
      ice_servers: [{ urls: ['stun:a:3478'] }, { urls: ['turn:b'], username: 'u', credential: 'c' }],
    })
    expect(parseServerSignal('{"type":"offer","sdp":"v=0"}')).toEqual({ type: 'offer', sdp: 'v=0' })
    expect(parseServerSignal('{"type":"candidate","candidate":null}')).toEqual({ type: 'candidate', candidate: null })
    expect(parseServerSignal('{"type":"candidate","candidate":{"candidate":"c","sdp_mid":"1","sdp_mline_index":1}}')).toEqual({
      type: 'candidate',
      candidate: { candidate: 'c', sdp_mid: '1', sdp_mline_index: 1 },
    })
    expect(
      parseServerSignal('{"type":"state","you":"3","participants":[{"member":"3","name":"Ada","role":"candidate","muted":false,"muted_by_interviewer":true},{"nope":1}]}'),
    ).toEqual({ type: 'state', you: '3', participants: [{ member: '3', name: 'Ada', role: 'candidate', muted: false, muted_by_interviewer: true }] })
    expect(parseServerSignal('{"type":"levels","levels":[{"member":"3","level":0.5},{"member":"4","level":7},{"member":5}]}')).toEqual({
      type: 'levels',
      levels: [
        { member: '3', level: 0.5 },
        { member: '4', level: 1 },
      ],
    })
    expect(parseServerSignal('{"type":"error","code":"voice_off","message":"no"}')).toEqual({ type: 'error', code: 'voice_off', message: 'no' })
    expect(parseServerSignal('{"type":"left","reason":"room_ended"}')).toEqual({ type: 'left', reason: 'room_ended' })
  })
  it('ignores what it cannot read instead of failing', () => {
    for (const bad of ['', 'nope', '[]', '{"type":1}', '{"type":"offer"}', '{"type":"state","you":"1"}', '{"type":"candidate","candidate":{}}', '{"type":"future_thing"}']) {
      expect(parseServerSignal(bad)).toBeNull()
    }
  })
  it('converts candidates and ICE servers to the browser shapes', () => {
    expect(fromWireCandidate({ candidate: 'c', sdp_mid: '0', sdp_mline_index: 0 })).toEqual({ candidate: 'c', sdpMid: '0', sdpMLineIndex: 0 })
    expect(fromWireCandidate({ candidate: 'c' })).toEqual({ candidate: 'c', sdpMid: null, sdpMLineIndex: null })
    expect(toRtcIceServers([{ urls: ['stun:x'] }, { urls: ['turn:y'], username: 'u', credential: 'p' }])).toEqual([
      { urls: ['stun:x'] },
      { urls: ['turn:y'], username: 'u', credential: 'p' },
    ])
  })
})

describe('the uplink in an offer', () => {
  const offer = (...sections: string[]) => ['v=0', 'o=- 1 2 IN IP4 127.0.0.1', 's=-', 't=0 0', ...sections].join('\r\n') + '\r\n'
  const audio = (mid: string, dir: string, port = 9) => `m=audio ${port} UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=mid:${mid}\r\na=${dir}`

  it('is the section the server receives on', () => {
    expect(uplinkMids(offer(audio('0', 'recvonly'), audio('1', 'sendonly'), audio('2', 'sendonly')))).toEqual(['0'])
    expect(uplinkMids(offer(audio('0', 'sendonly'), audio('1', 'sendrecv')))).toEqual(['1'])
  })
  it('is absent from a listener-only offer, and a stopped section never counts', () => {
    expect(uplinkMids(offer(audio('0', 'sendonly')))).toEqual([])
    expect(uplinkMids(offer(audio('0', 'recvonly', 0)))).toEqual([])
    expect(uplinkMids(offer('m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\na=mid:0\r\na=sendrecv'))).toEqual([])
  })
  it('reads offers with bare newlines', () => {
    expect(uplinkMids(offer(audio('a', 'recvonly')).replace(/\r\n/g, '\n'))).toEqual(['a'])
  })
})

describe('levels and words', () => {
  it('meters silence as 0 and a loud block near full', () => {
    expect(meterLevel(new Float32Array(128))).toBe(0)
    expect(meterLevel([])).toBe(0)
    expect(meterLevel(Array.from({ length: 128 }, (_, i) => (i % 2 ? 0.5 : -0.5)))).toBe(1)
    const quiet = meterLevel(Array.from({ length: 128 }, (_, i) => (i % 2 ? 0.01 : -0.01)))
    expect(quiet).toBeGreaterThan(0)
    expect(quiet).toBeLessThan(0.1)
  })
  it('rings only loud, fresh levels', () => {
    const levels = new Map([
      ['a', { level: 0.8, at: 1000 }],
      ['b', { level: 0.01, at: 1000 }],
      ['c', { level: 0.9, at: 1000 - LEVEL_STALE_MS }],
    ])
    expect([...speakingMembers(levels, 1000)]).toEqual(['a'])
    expect([...speakingMembers(levels, 1000 + LEVEL_STALE_MS)]).toEqual([])
  })
  it('tells a blocked microphone from a missing one', () => {
    expect(micFailure('NotAllowedError')).toBe('mic-denied')
    expect(micFailure('SecurityError')).toBe('mic-denied')
    expect(micFailure('NotFoundError')).toBe('mic-missing')
  })
  it('says what blocked UDP means and what to do about a blocked microphone', () => {
    expect(phaseText('off')).toBeNull()
    expect(phaseText('blocked')).toMatch(/UDP/)
    expect(phaseText('mic-denied')).toMatch(/blocked the microphone/)
    expect(phaseText('refused', 'voice is off for this room.')).toContain('voice is off')
  })
})

describe('phase labels', () => {
  it('gives every phase a short label and sends only problems to the banner', () => {
    expect(phaseLabel('connected')).toBe('In voice')
    expect(phaseLabel('off')).toBe('')
    expect(phaseNeedsBanner('blocked')).toBe(true)
    expect(phaseNeedsBanner('mic-denied')).toBe(true)
    expect(phaseNeedsBanner('connecting')).toBe(false)
  })
})
