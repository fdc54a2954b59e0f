// Voice signalling on the room's WebSocket (extension message 101): the JSON messages of
// docs/voice-spec (`{"type": …}`, snake_case), their frame (byte 101, then the JSON as a y-protocols
// var-string), and the small conversions between the wire's shapes and the browser's WebRTC ones.
// Pure, so it is unit-tested; the PeerConnection lives in room/voice.ts.

import * as decoding from 'lib0/decoding'
import * as encoding from 'lib0/encoding'

/** The extension message number of voice signalling (`EXT_VOICE_SIGNAL`). */
export const MSG_VOICE_SIGNAL = 101
/** Mirrors `MAX_VOICE_SIGNAL_BYTES` in protocol/src/voice.rs (the server closes the socket on more). */
export const MAX_VOICE_SIGNAL_BYTES = 16_384
/** The name this client announces in the WebSocket URL's `ext` list to receive voice signalling. */
export const VOICE_EXTENSION = 'voice'

/** A trickled ICE candidate as the wire spells it; null on the wire means "gathering is complete". */
export interface WireCandidate {
  candidate: string
  sdp_mid?: string | null
  sdp_mline_index?: number | null
}

export interface WireIceServer {
  urls: string[] | string
  username?: string
  credential?: string
}

export interface VoiceParticipant {
  member: string
  name: string
  role: string
  muted: boolean
  muted_by_interviewer: boolean
}

export interface MemberLevel {
  member: string
  level: number
}

export type ClientSignal =
  | { type: 'join' }
  | { type: 'leave' }
  | { type: 'answer'; sdp: string }
  | { type: 'candidate'; candidate: WireCandidate | null }
  | { type: 'mute'; muted: boolean }
  | { type: 'mute_member'; member: string; muted: boolean }
  | { type: 'restart_ice' }

export type ServerSignal =
  | { type: 'config'; ice_servers: WireIceServer[] }
  | { type: 'offer'; sdp: string }
  | { type: 'candidate'; candidate: WireCandidate | null }
  | { type: 'state'; you: string; participants: VoiceParticipant[] }
  | { type: 'levels'; levels: MemberLevel[] }
  | { type: 'error'; code: string; message: string }
  | { type: 'left'; reason: string }

/** Frame 101 carrying `signal`, ready for the WebSocket. */
export function encodeVoiceSignal(signal: ClientSignal): Uint8Array {
  const enc = encoding.createEncoder()
  encoding.writeVarUint(enc, MSG_VOICE_SIGNAL)
  encoding.writeVarString(enc, JSON.stringify(signal))
  return encoding.toUint8Array(enc)
}

/** Whether `signal`'s JSON fits the server's limit; a longer one would cost the whole room connection. */
export function voiceSignalFits(signal: ClientSignal): boolean {
  return new TextEncoder().encode(JSON.stringify(signal)).length <= MAX_VOICE_SIGNAL_BYTES
}

/** The JSON of a whole frame 101, or null when the frame is another message. */
export function decodeVoiceFrame(frame: Uint8Array): string | null {
  const dec = decoding.createDecoder(frame)
  if (decoding.readVarUint(dec) !== MSG_VOICE_SIGNAL) return null
  return decoding.readVarString(dec)
}

const isObj = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v)
const str = (v: unknown): v is string => typeof v === 'string'

function candidateOf(v: unknown): WireCandidate | null | undefined {
  if (v === null) return null
  if (!isObj(v) || !str(v.candidate)) return undefined
  return {
    candidate: v.candidate,
    sdp_mid: str(v.sdp_mid) ? v.sdp_mid : null,
    sdp_mline_index: typeof v.sdp_mline_index === 'number' ? v.sdp_mline_index : null,
  }
}

function participantOf(v: unknown): VoiceParticipant | null {
  if (!isObj(v) || !str(v.member)) return null
  return {
    member: v.member,
    name: str(v.name) ? v.name : 'Someone',
    role: str(v.role) ? v.role : 'participant',
    muted: v.muted === true,
    muted_by_interviewer: v.muted_by_interviewer === true,
  }
}

function iceServerOf(v: unknown): WireIceServer | null {
  if (!isObj(v)) return null
  const urls = str(v.urls) ? [v.urls] : Array.isArray(v.urls) ? v.urls.filter(str) : []
  if (urls.length === 0) return null
  return { urls, ...(str(v.username) ? { username: v.username } : {}), ...(str(v.credential) ? { credential: v.credential } : {}) }
}

/**
 * A server message from its JSON, checked field by field; null for anything malformed or of a type this
 * client does not know (a newer server's message is ignored, never a crash).
 */
export function parseServerSignal(json: string): ServerSignal | null {
  let v: unknown
  try {
    v = JSON.parse(json)
  } catch {
    return null
  }
  if (!isObj(v) || !str(v.type)) return null
  switch (v.type) {
    case 'config':
      return { type: 'config', ice_servers: Array.isArray(v.ice_servers) ? v.ice_servers.map(iceServerOf).filter((s) => s !== null) : [] }
    case 'offer':
      return str(v.sdp) ? { type: 'offer', sdp: v.sdp } : null
    case 'candidate': {
      const c = candidateOf(v.candidate)
      return c === undefined ? null : { type: 'candidate', candidate: c }
    }
    case 'state':
      if (!str(v.you) || !Array.isArray(v.participants)) return null
      return { type: 'state', you: v.you, participants: v.participants.map(participantOf).filter((p) => p !== null) }
    case 'levels':
      if (!Array.isArray(v.levels)) return null
      return {
        type: 'levels',
        levels: v.levels
          .filter((l): l is { member: string; level: number } => isObj(l) && str(l.member) && typeof l.level === 'number')
          .map((l) => ({ member: l.member, level: Math.min(1, Math.max(0, l.level)) })),
      }
    case 'error':
      return { type: 'error', code: str(v.code) ? v.code : 'unknown', message: str(v.message) ? v.message : '' }
    case 'left':
      return { type: 'left', reason: str(v.reason) ? v.reason : 'unknown' }
    default:
      return null
  }
}

/** The browser's candidate as the wire wants it. */
export function toWireCandidate(c: { candidate: string; sdpMid?: string | null; sdpMLineIndex?: number | null }): WireCandidate {
  return { candidate: c.candidate, sdp_mid: c.sdpMid ?? null, sdp_mline_index: c.sdpMLineIndex ?? null }
}

/** The wire's candidate as `RTCPeerConnection.addIceCandidate` takes it. */
export function fromWireCandidate(c: WireCandidate): RTCIceCandidateInit {
  return { candidate: c.candidate, sdpMid: c.sdp_mid ?? null, sdpMLineIndex: c.sdp_mline_index ?? null }
}

export function toRtcIceServers(servers: WireIceServer[]): RTCIceServer[] {
  return servers.map((s) => ({ urls: s.urls, ...(s.username !== undefined ? { username: s.username } : {}), ...(s.credential !== undefined ? { credential: s.credential } : {}) }))
}

/**
 * The mids of the offer's audio sections the server receives on (its direction `recvonly` or
 * `sendrecv`): the uplink, where this browser sends its microphone. Every other section carries
 * someone's voice to us. An observer's offer has none.
 */
export function uplinkMids(sdp: string): string[] {
  const out: string[] = []
  const sections = sdp.split(/\r?\nm=/).slice(1)
  for (const section of sections) {
    if (!section.startsWith('audio')) continue
    const lines = section.split(/\r?\n/)
    const mid = lines.find((l) => l.startsWith('a=mid:'))?.slice('a=mid:'.length).trim()
    const receives = lines.some((l) => l === 'a=recvonly' || l === 'a=sendrecv')
    // A port of 0 is a rejected or stopped section.
    const port = lines[0].split(' ')[1]
    if (mid !== undefined && receives && port !== '0') out.push(mid)
  }
  return out
}
