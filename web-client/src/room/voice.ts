// This browser's side of voice: one RTCPeerConnection to the server's SFU, negotiated over the room's
// WebSocket (extension message 101). The server always offers, this side always answers, so there is no
// glare; every signal is handled in arrival order on one promise chain. A dropped WebSocket loses the
// server's member (and its PeerConnection), so voice closes its side and joins again once the socket is
// back, if the person had joined.

import type { Connection } from './connection'
import {
  encodeVoiceSignal,
  fromWireCandidate,
  parseServerSignal,
  toRtcIceServers,
  toWireCandidate,
  uplinkMids,
  voiceSignalFits,
  type ClientSignal,
  type MemberLevel,
  type ServerSignal,
  type VoiceParticipant,
} from '../lib/voice-signal'
import { errorText, type VoicePhase } from '../lib/voice-view'

/** ICE still checking after this long: the page says UDP may be blocked (the browser keeps trying). */
export const ICE_CONNECT_TIMEOUT_MS = 10_000
/** ICE `disconnected` this long (no recovery on its own): ask the server for an ICE restart. */
export const ICE_DISCONNECTED_GRACE_MS = 3000
/** The first ICE restart after a failure waits this long; each further one twice as long … */
export const ICE_RESTART_FIRST_MS = 1000
/**
 * … up to this: a blocked network is retried at this pace for as long as the person stays in voice
 * (and a connection the server gave up on is opened afresh after this long).
 */
export const ICE_RESTART_MAX_MS = 30_000

/** Error codes that refuse a join outright: trying again at once would be refused the same way. */
const REFUSALS = ['voice_off', 'room_ended', 'too_many', 'voice_on_other_node']

/** `VoiceListener.stream`'s member when every stream goes at once. */
export const ALL_MEMBERS = '*'

export interface VoiceListener {
  phase(phase: VoicePhase, detail?: string): void
  /** Who is in voice (sent to every member, joined or not) and which member this connection is. */
  state(you: string, participants: VoiceParticipant[]): void
  levels(levels: MemberLevel[]): void
  /** A participant's audio arrived (`stream` set) or went (`null`); keyed by stream id = member id. */
  stream(member: string, stream: MediaStream | null): void
  /** A passing message (the interviewer muted you, …). */
  notice(text: string): void
}

export class VoiceSession {
  /** The live PeerConnection, for getStats in tests and debugging. */
  pc: RTCPeerConnection | null = null
  /** The person chose to be in voice (survives a WebSocket drop; cleared by leave or a refusal). */
  wanted = false
  muted = false
  you: string | null = null
  phase: VoicePhase = 'off'
  private mic: MediaStream | null = null
  private iceServers: RTCIceServer[] = []
  private chain: Promise<void> = Promise.resolve()
  private restarts = 0
  private iceTimer: ReturnType<typeof setTimeout> | null = null
  private readonly conn: Connection
  private readonly listener: VoiceListener

  constructor(conn: Connection, listener: VoiceListener) {
    this.conn = conn
    this.listener = listener
    conn.onVoiceSignal = (json) => {
      const signal = parseServerSignal(json)
      if (signal === null) return
      // One after another: an offer's answer is set before the next candidate or offer is looked at.
      this.chain = this.chain.then(() => this.handle(signal)).catch((e: unknown) => this.listener.notice(`Voice error: ${e instanceof Error ? e.message : String(e)}`))
    }
    conn.onOpen = () => {
      if (this.wanted) this.sendJoin()
    }
    conn.onDrop = () => {
      if (this.pc === null && this.phase !== 'joining') return
      this.closePc()
      if (this.wanted) this.setPhase('reconnecting')
    }
  }

  /** Joins with `mic` (null: listen only, as an observer does). */
  join(mic: MediaStream | null): void {
    this.mic = mic
    this.wanted = true
    this.restarts = 0
    for (const t of mic?.getAudioTracks() ?? []) t.enabled = !this.muted
    this.sendJoin()
  }

  leave(): void {
    this.wanted = false
    this.send({ type: 'leave' })
    this.closePc()
    this.releaseMic()
    this.setPhase('off')
  }

  /** Mutes or unmutes this browser: the track stops sending and the server stops forwarding. */
  setMuted(muted: boolean): void {
    this.muted = muted
    for (const t of this.mic?.getAudioTracks() ?? []) t.enabled = !muted
    if (this.wanted) this.send({ type: 'mute', muted })
  }

  /** The interviewer mutes or unmutes another participant. */
  muteMember(member: string, muted: boolean): void {
    this.send({ type: 'mute_member', member, muted })
  }

  /** Closes everything (the room page is going away). */
  destroy(): void {
    if (this.wanted) this.send({ type: 'leave' })
    this.wanted = false
    this.closePc()
    this.releaseMic()
  }

  private send(signal: ClientSignal): boolean {
    if (!voiceSignalFits(signal)) {
      // The server would close the room's socket (the editor's too): better no voice than that.
      this.listener.notice('Voice could not be set up: this browser\'s answer is too long for the server.')
      return false
    }
    return this.conn.sendFrame(encodeVoiceSignal(signal))
  }

  private sendJoin(): void {
    this.setPhase(this.send({ type: 'join' }) ? 'joining' : 'reconnecting')
  }

  private setPhase(phase: VoicePhase, detail = ''): void {
    this.phase = phase
    this.listener.phase(phase, detail)
  }

  private async handle(signal: ServerSignal): Promise<void> {
    switch (signal.type) {
      case 'state':
        this.you = signal.you
        this.listener.state(signal.you, signal.participants)
        // A listener (no microphone) is offered only once someone speaks: being listed is being in.
        if (this.phase === 'joining' && this.mic === null && this.pc === null && signal.participants.some((p) => p.member === signal.you)) {
          this.setPhase('connected')
        }
        return
      case 'levels':
        this.listener.levels(signal.levels)
        return
      case 'config':
        this.iceServers = toRtcIceServers(signal.ice_servers)
        return
      case 'offer':
        return this.answer(signal.sdp)
      case 'candidate':
        if (this.pc === null || this.pc.remoteDescription === null) return
        // null: the server has no more candidates (an empty candidate says so to the browser).
        await this.pc.addIceCandidate(signal.candidate === null ? { candidate: '', sdpMid: null, sdpMLineIndex: 0 } : fromWireCandidate(signal.candidate)).catch(() => {})
        return
      case 'error':
        return this.onError(signal.code, signal.message)
      case 'left':
        this.closePc()
        if (signal.reason === 'server_shutdown' && this.wanted) {
          // The socket goes too; voice rejoins with it.
          this.setPhase('reconnecting')
          return
        }
        if (signal.reason === 'failed' && this.wanted) {
          // The server gave up on the connection (ICE never came back): try a fresh one in a while.
          this.setPhase('blocked')
          this.rejoinLater()
          return
        }
        this.wanted = false
        this.releaseMic()
        this.setPhase('off')
        this.listener.notice(signal.reason === 'room_ended' ? 'Voice ended with the interview.' : 'Voice was opened in another tab or window.')
        return
    }
  }

  private onError(code: string, message: string): void {
    const text = errorText(code, message)
    // A join the server could not set up ends the attempt as surely as a refusal does.
    if (REFUSALS.includes(code) || (code === 'internal' && this.phase === 'joining')) {
      this.wanted = false
      this.closePc()
      this.releaseMic()
      this.setPhase('refused', text)
    } else {
      this.listener.notice(text)
    }
  }

  private async answer(sdp: string): Promise<void> {
    if (!this.wanted) return
    const first = this.pc === null
    const pc = this.pc ?? this.createPc()
    await pc.setRemoteDescription({ type: 'offer', sdp })
    const uplink = uplinkMids(sdp)
    const track = this.mic?.getAudioTracks()[0] ?? null
    for (const t of pc.getTransceivers()) {
      if (t.mid === null || !uplink.includes(t.mid) || track === null) continue
      if (t.sender.track !== track) {
        await t.sender.replaceTrack(track)
        if (this.mic) t.sender.setStreams(this.mic)
      }
      // The answer's direction is this ∩ the offer's, so a `recvonly` offer gets `sendonly`.
      t.direction = 'sendrecv'
    }
    await pc.setLocalDescription(await pc.createAnswer())
    const local = pc.localDescription
    if (local) this.send({ type: 'answer', sdp: local.sdp })
    if (first) {
      // A member who muted before a reconnect is a fresh member to the server: say so again.
      if (this.muted) this.send({ type: 'mute', muted: true })
      this.setPhase('connecting')
      this.watchConnect()
    }
  }

  private createPc(): RTCPeerConnection {
    const pc = new RTCPeerConnection({ iceServers: this.iceServers, bundlePolicy: 'max-bundle', rtcpMuxPolicy: 'require' })
    this.pc = pc
    pc.onicecandidate = (ev) => {
      if (this.pc !== pc) return
      const c = ev.candidate
      this.send({ type: 'candidate', candidate: c && c.candidate ? toWireCandidate(c) : null })
    }
    pc.ontrack = (ev) => {
      const stream = ev.streams[0]
      if (!stream || this.pc !== pc) return
      this.listener.stream(stream.id, stream)
      stream.onremovetrack = () => {
        if (stream.getTracks().length === 0) this.listener.stream(stream.id, null)
      }
    }
    pc.oniceconnectionstatechange = () => {
      if (this.pc !== pc) return
      this.onIceState(pc.iceConnectionState)
    }
    return pc
  }

  private onIceState(state: RTCIceConnectionState): void {
    this.clearIceTimer()
    if (state === 'connected' || state === 'completed') {
      this.restarts = 0
      this.setPhase('connected')
    } else if (state === 'failed') {
      this.setPhase('blocked')
      this.restartLater(Math.min(ICE_RESTART_MAX_MS, ICE_RESTART_FIRST_MS * 2 ** this.restarts))
    } else if (state === 'disconnected') {
      this.restartLater(ICE_DISCONNECTED_GRACE_MS)
    } else if (state === 'checking' || state === 'new') {
      this.watchConnect()
    }
  }

  /** Says "blocked" when ICE has not connected in time (the browser itself gives up much later). */
  private watchConnect(): void {
    this.clearIceTimer()
    this.iceTimer = setTimeout(() => {
      this.iceTimer = null
      if (this.pc !== null && this.phase === 'connecting') this.setPhase('blocked')
    }, ICE_CONNECT_TIMEOUT_MS)
  }

  private restartLater(ms: number): void {
    this.iceTimer = setTimeout(() => {
      this.iceTimer = null
      if (!this.wanted || this.pc === null) return
      this.restarts++
      this.send({ type: 'restart_ice' })
    }, ms)
  }

  private rejoinLater(): void {
    this.clearIceTimer()
    this.iceTimer = setTimeout(() => {
      this.iceTimer = null
      if (this.wanted && this.pc === null) this.sendJoin()
    }, ICE_RESTART_MAX_MS)
  }

  private clearIceTimer(): void {
    if (this.iceTimer !== null) clearTimeout(this.iceTimer)
    this.iceTimer = null
  }

  private closePc(): void {
    this.clearIceTimer()
    const pc = this.pc
    this.pc = null
    if (pc === null) return
    pc.close()
    // Every participant's audio went with it.
    this.listener.stream(ALL_MEMBERS, null)
  }

  private releaseMic(): void {
    for (const t of this.mic?.getTracks() ?? []) t.stop()
    this.mic = null
  }
}
