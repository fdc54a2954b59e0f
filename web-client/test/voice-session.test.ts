import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { decodeVoiceFrame } from '../src/lib/voice-signal'
import { ICE_CONNECT_TIMEOUT_MS, ICE_RESTART_FIRST_MS, VoiceSession, type VoiceListener } from '../src/room/voice'
import type { Connection } from '../src/room/connection'

/** Just enough of RTCPeerConnection for the session: records what it was asked to do. */
class FakePC {
  static all: FakePC[] = []
  config: RTCConfiguration
  remote: string | null = null
  closed = false
  candidates: RTCIceCandidateInit[] = []
  transceivers: Array<{ mid: string; direction: string; sender: { track: unknown; replaceTrack(t: unknown): Promise<void>; setStreams(): void } }> = []
  iceConnectionState = 'new'
  onicecandidate: ((ev: { candidate: unknown }) => void) | null = null
  ontrack: ((ev: unknown) => void) | null = null
  oniceconnectionstatechange: (() => void) | null = null

  constructor(config: RTCConfiguration) {
    this.config = config
    FakePC.all.push(this)
  }
  get remoteDescription() {
    return this.remote === null ? null : { sdp: this.remote }
  }
  localDescription: { sdp: string } | null = null
  async setRemoteDescription(d: { sdp: string }) {
    this.remote = d.sdp
    // One transceiver per audio section, as the browser creates them from an offer.
    this.transceivers = [...d.sdp.matchAll(/a=mid:(\S+)/g)].map((m) => {
      const sender = { track: null as unknown, replaceTrack: async (t: unknown) => void (sender.track = t), setStreams: () => {} }
      return { mid: m[1], direction: 'recvonly', sender }
    })
  }
  getTransceivers() {
    return this.transceivers
  }
  async createAnswer() {
    return { type: 'answer', sdp: `answer to ${this.remote?.length}` }
  }
  async setLocalDescription(d: { sdp: string }) {
    this.localDescription = d
  }
  async addIceCandidate(c: RTCIceCandidateInit) {
    this.candidates.push(c)
  }
  close() {
    this.closed = true
  }
  ice(state: string) {
    this.iceConnectionState = state
    this.oniceconnectionstatechange?.()
  }
}

const OFFER = 'v=0\r\ns=-\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\na=recvonly\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:1\r\na=sendonly\r\n'

function setup() {
  const sent: Array<Record<string, unknown>> = []
  let open = true
  const conn = {
    onVoiceSignal: (_json: string) => {},
    onOpen: () => {},
    onDrop: () => {},
    sendFrame(frame: Uint8Array) {
      if (!open) return false
      sent.push(JSON.parse(decodeVoiceFrame(frame) ?? 'null'))
      return true
    },
  }
  const phases: string[] = []
  const details: (string | undefined)[] = []
  const listener: VoiceListener = { phase: (p, d) => (phases.push(p), details.push(d)), state: () => {}, levels: () => {}, stream: () => {}, notice: () => {} }
  const session = new VoiceSession(conn as unknown as Connection, listener)
  const track = { enabled: true, stopped: false, stop() { this.stopped = true } }
  const mic = { getAudioTracks: () => [track], getTracks: () => [track] } as unknown as MediaStream
  // Signals are handled on a promise chain: let it run.
  const server = async (msg: object) => {
    conn.onVoiceSignal(JSON.stringify(msg))
    for (let i = 0; i < 20; i++) await Promise.resolve()
  }
  const types = () => sent.map((m) => m.type)
  return { conn, session, sent, types, phases, details, track, mic, server, setOpen: (o: boolean) => (open = o) }
}

describe('the voice session', () => {
  beforeEach(() => {
    FakePC.all = []
    vi.stubGlobal('RTCPeerConnection', FakePC)
    vi.useFakeTimers()
  })
  afterEach(() => {
    vi.useRealTimers()
    vi.unstubAllGlobals()
  })

  it('joins, answers the offer with the microphone on the uplink only, and trickles candidates', async () => {
    const t = setup()
    t.session.join(t.mic)
    expect(t.types()).toEqual(['join'])
    await t.server({ type: 'config', ice_servers: [{ urls: ['stun:s:3478'] }] })
    await t.server({ type: 'offer', sdp: OFFER })
    const pc = FakePC.all[0]
    expect(pc.config.iceServers).toEqual([{ urls: ['stun:s:3478'] }])
    expect(t.sent[1]).toEqual({ type: 'answer', sdp: `answer to ${OFFER.length}` })
    expect(pc.transceivers.map((x) => [x.mid, x.direction, x.sender.track !== null])).toEqual([
      ['0', 'sendrecv', true],
      ['1', 'recvonly', false],
    ])
    await t.server({ type: 'candidate', candidate: { candidate: 'candidate:1', sdp_mid: '0', sdp_mline_index: 0 } })
    expect(pc.candidates).toEqual([{ candidate: 'candidate:1', sdpMid: '0', sdpMLineIndex: 0 }])
    pc.onicecandidate?.({ candidate: { candidate: 'candidate:2', sdpMid: '0', sdpMLineIndex: 0 } })
    pc.onicecandidate?.({ candidate: null })
    expect(t.sent.slice(-2)).toEqual([
      { type: 'candidate', candidate: { candidate: 'candidate:2', sdp_mid: '0', sdp_mline_index: 0 } },
      { type: 'candidate', candidate: null },
    ])
    pc.ice('connected')
    expect(t.phases).toEqual(['joining', 'connecting', 'connected'])
  })

  it('rejoins by itself after the socket comes back, muted if it was', async () => {
    const t = setup()
    t.session.join(t.mic)
    await t.server({ type: 'offer', sdp: OFFER })
    t.session.setMuted(true)
    expect(t.track.enabled).toBe(false)
    t.setOpen(false)
    t.conn.onDrop()
    expect(FakePC.all[0].closed).toBe(true)
    expect(t.phases.at(-1)).toBe('reconnecting')
    t.setOpen(true)
    t.sent.length = 0
    t.conn.onOpen()
    expect(t.types()).toEqual(['join'])
    await t.server({ type: 'offer', sdp: OFFER })
    expect(FakePC.all).toHaveLength(2)
    expect(t.types()).toEqual(['join', 'answer', 'mute'])
    expect(t.sent[2]).toEqual({ type: 'mute', muted: true })
  })

  it('does not rejoin after leaving, and releases the microphone', async () => {
    const t = setup()
    t.session.join(t.mic)
    await t.server({ type: 'offer', sdp: OFFER })
    t.session.leave()
    expect(t.track.stopped).toBe(true)
    t.sent.length = 0
    t.conn.onDrop()
    t.conn.onOpen()
    expect(t.sent).toEqual([])
    expect(t.phases.at(-1)).toBe('off')
  })

  it('stops on a refusal and ignores candidates without an offer', async () => {
    const t = setup()
    t.session.join(t.mic)
    await t.server({ type: 'candidate', candidate: { candidate: 'candidate:1' } })
    await t.server({ type: 'error', code: 'voice_off', message: 'this room has no voice' })
    expect(t.phases.at(-1)).toBe('refused')
    expect(t.session.wanted).toBe(false)
    expect(t.track.stopped).toBe(true)
    expect(FakePC.all).toHaveLength(0)
  })

  it('stops, saying why in plain words, when the room\'s voice runs on another server', async () => {
    const t = setup()
    t.session.join(t.mic)
    await t.server({ type: 'error', code: 'voice_on_other_node', message: 'voice in this room runs on another server' })
    expect(t.phases.at(-1)).toBe('refused')
    expect(t.details.at(-1)).toMatch(/another server/)
    expect(t.details.at(-1)).toMatch(/reload their page/)
    expect(t.session.wanted).toBe(false)
    expect(t.track.stopped).toBe(true)
  })

  it('asks for an ICE restart when ICE fails, and says blocked when it never connects', async () => {
    const t = setup()
    t.session.join(t.mic)
    await t.server({ type: 'offer', sdp: OFFER })
    vi.advanceTimersByTime(ICE_CONNECT_TIMEOUT_MS)
    expect(t.phases.at(-1)).toBe('blocked')
    FakePC.all[0].ice('failed')
    expect(t.types()).not.toContain('restart_ice')
    vi.advanceTimersByTime(ICE_RESTART_FIRST_MS)
    expect(t.types()).toContain('restart_ice')
    FakePC.all[0].ice('connected')
    expect(t.phases.at(-1)).toBe('connected')
  })

  it('ends with the room, and keeps wanting voice through a server restart', async () => {
    const t = setup()
    t.session.join(t.mic)
    await t.server({ type: 'offer', sdp: OFFER })
    await t.server({ type: 'left', reason: 'server_shutdown' })
    expect([t.phases.at(-1), t.session.wanted]).toEqual(['reconnecting', true])
    await t.server({ type: 'left', reason: 'room_ended' })
    expect([t.phases.at(-1), t.session.wanted, t.track.stopped]).toEqual(['off', false, true])
  })
})
