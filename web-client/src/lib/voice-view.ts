// Voice as the page shows it, in numbers and words: the microphone meter's level, who is speaking, what
// a failure means to the person in front of it. Pure, so it is unit-tested.

/**
 * A participant whose server-reported level is at least this shows a speaking ring. Levels run linearly
 * from -70 dBov (0) to full scale (1), so this is about -52 dBov: above a quiet room's noise, below speech.
 */
export const SPEAKING_LEVEL = 0.25
/**
 * The server sends levels only while someone speaks; a level older than this is silence, so rings clear
 * when the messages stop.
 */
export const LEVEL_STALE_MS = 1000
/** The microphone check's meter shows the RMS scaled by this, so ordinary speech fills most of it. */
const METER_GAIN = 4

/** Where this browser's voice stands. */
export type VoicePhase =
  /** Not in voice. */
  | 'off'
  /** Join sent; waiting for the server's offer. */
  | 'joining'
  /** Negotiated; ICE is checking. */
  | 'connecting'
  | 'connected'
  /** The room's WebSocket is down; voice rejoins once it is back. */
  | 'reconnecting'
  /** ICE failed: most often a network that blocks UDP. Restarts keep being tried. */
  | 'blocked'
  /** The browser refused the microphone. */
  | 'mic-denied'
  /** No microphone exists, or the chosen one is gone. */
  | 'mic-missing'
  /** The server refused to join (voice off, room ended, full). */
  | 'refused'

/** The microphone check meter's value (0..1) from one block of samples in -1..1. */
export function meterLevel(samples: ArrayLike<number>): number {
  if (samples.length === 0) return 0
  let sum = 0
  for (let i = 0; i < samples.length; i++) sum += samples[i] * samples[i]
  return Math.min(1, Math.sqrt(sum / samples.length) * METER_GAIN)
}

/** Who speaks now: members whose last level, received at `at`, is loud enough and fresh at `nowMs`. */
export function speakingMembers(levels: ReadonlyMap<string, { level: number; at: number }>, nowMs: number): Set<string> {
  const out = new Set<string>()
  for (const [member, { level, at }] of levels) if (level >= SPEAKING_LEVEL && nowMs - at < LEVEL_STALE_MS) out.add(member)
  return out
}

/** The phase a failed `getUserMedia` leaves (by the DOMException's name). */
export function micFailure(errorName: string): 'mic-denied' | 'mic-missing' {
  return errorName === 'NotFoundError' || errorName === 'OverconstrainedError' || errorName === 'NotReadableError' ? 'mic-missing' : 'mic-denied'
}

/** The top bar's few words for each phase (the buttons say the rest). */
export function phaseLabel(phase: VoicePhase): string {
  const labels: Record<VoicePhase, string> = {
    off: '',
    joining: 'Joining voice…',
    connecting: 'Connecting voice…',
    connected: 'In voice',
    reconnecting: 'Voice reconnecting…',
    blocked: 'Voice blocked',
    'mic-denied': 'Microphone blocked',
    'mic-missing': 'No microphone',
    refused: 'No voice',
  }
  return labels[phase]
}

/** Phases that need the person to know more than a label says: the banner explains them. */
export function phaseNeedsBanner(phase: VoicePhase): boolean {
  return phase === 'blocked' || phase === 'mic-denied' || phase === 'mic-missing' || phase === 'refused'
}

/** The whole sentence for a phase (the banner's, the microphone check's); null where a label is enough. */
export function phaseText(phase: VoicePhase, detail = ''): string | null {
  switch (phase) {
    case 'off':
      return null
    case 'joining':
      return 'Joining voice…'
    case 'connecting':
      return 'Connecting voice…'
    case 'connected':
      return 'In voice'
    case 'reconnecting':
      return 'Voice paused: reconnecting to the room…'
    case 'blocked':
      return 'Voice cannot get through this network (UDP may be blocked). Still trying; the code editor works as before.'
    case 'mic-denied':
      return 'The browser blocked the microphone. Allow it in the site settings (the icon in the address bar), then try again.'
    case 'mic-missing':
      return 'No microphone was found. Connect one, then try again.'
    case 'refused':
      return detail ? `Voice is not available: ${detail}` : 'Voice is not available in this room.'
  }
}

/** Words for a server `error` code. */
export function errorText(code: string, message: string): string {
  switch (code) {
    case 'voice_off':
      return 'voice is off for this room.'
    case 'room_ended':
      return 'the interview has ended.'
    case 'too_many':
      return 'voice is full.'
    case 'voice_on_other_node':
      return 'voice for this room is running on another server, which this page is not connected to. Ask the others in voice to reload their page, then try again.'
    case 'internal':
      return 'the server could not open voice now; try again in a moment.'
    case 'muted_by_interviewer':
      return 'The interviewer muted you; they can unmute you.'
    case 'forbidden':
      return 'Only the interviewer can mute others.'
    default:
      return message || code
  }
}
