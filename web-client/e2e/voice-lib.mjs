// Reading what a page hears, for the voice run: inbound audio from the voice PeerConnection's getStats
// (window.__handoffVoice.pc), and the loudest frequency of a participant's <audio>. Every wait is on a
// condition with a generous deadline; the polling interval only paces the reads.

/** How long a condition on what is heard may take to hold. */
const HEAR_DEADLINE_MS = 20_000
/** Reads are this far apart. */
const POLL_MS = 250
/** Energy is judged over at least this much received audio (seconds of samples). */
const ENERGY_WINDOW_S = 1
/** "Packets grow" means at least this many more arrived. */
const MIN_NEW_PACKETS = 25

const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

/** Inbound audio totals over every receiver: packets, bytes, energy (sum of level² × s), seconds. */
export const inbound = (page) =>
  page.evaluate(async () => {
    const pc = window.__handoffVoice?.pc
    const t = { packets: 0, bytes: 0, energy: 0, duration: 0, streams: 0, byStream: {} }
    if (!pc) return t
    for (const s of (await pc.getStats()).values()) {
      if (s.type !== 'inbound-rtp' || s.kind !== 'audio') continue
      t.streams++
      t.byStream[s.id] = { packets: s.packetsReceived ?? 0, bytes: s.bytesReceived ?? 0 }
      t.packets += s.packetsReceived ?? 0
      t.bytes += s.bytesReceived ?? 0
      t.energy += s.totalAudioEnergy ?? 0
      t.duration = Math.max(t.duration, s.totalSamplesDuration ?? 0)
    }
    return t
  })

/**
 * Waits until some receiver's packets (at least `min` more) and bytes grow past what it had at `from`
 * (default: now); a receiver that was not there then starts from 0. Per receiver, because a speaker who
 * left takes their receiver's statistics with them.
 */
export async function untilGrows(page, from = null, min = MIN_NEW_PACKETS) {
  const start = from ?? (await inbound(page))
  const deadline = Date.now() + HEAR_DEADLINE_MS
  let now = start
  const grew = (id) => {
    const was = start.byStream[id] ?? { packets: 0, bytes: 0 }
    return now.byStream[id].packets >= was.packets + min && now.byStream[id].bytes > was.bytes
  }
  while (Date.now() < deadline) {
    await sleep(POLL_MS)
    now = await inbound(page)
    if (Object.keys(now.byStream).some(grew)) return { ok: true, from: start, to: now }
  }
  return { ok: false, from: start, to: now }
}

/**
 * Waits until the energy received per second of audio, over a sliding window of ENERGY_WINDOW_S, meets
 * `holds` (a tone at our fake microphones' amplitude gives about 0.07; silence 0).
 */
export async function untilEnergy(page, holds) {
  const deadline = Date.now() + HEAR_DEADLINE_MS
  let from = await inbound(page)
  const rates = []
  while (Date.now() < deadline) {
    await sleep(POLL_MS)
    const now = await inbound(page)
    const seconds = now.duration - from.duration
    if (seconds < ENERGY_WINDOW_S) continue
    const rate = (now.energy - from.energy) / seconds
    rates.push(Number(rate.toFixed(5)))
    if (holds(rate)) return { ok: true, rate, rates: rates.slice(-5) }
    from = now
  }
  return { ok: false, rates: rates.slice(-5) }
}

/** Waits until the loudest frequency of `member`'s audio is within 30 Hz of `want`. */
export async function peakHz(page, member, want) {
  const deadline = Date.now() + HEAR_DEADLINE_MS
  const seen = []
  while (Date.now() < deadline) {
    const hz = await page.evaluate(async (m) => {
      const a = document.querySelector(`[data-testid="voice-audio-el"][data-member="${m}"]`)
      if (!a || !a.srcObject) return null
      window.__voiceProbe ??= {}
      let probe = window.__voiceProbe[m]
      if (!probe) {
        const ctx = new AudioContext()
        const analyser = ctx.createAnalyser()
        analyser.fftSize = 8192
        ctx.createMediaStreamSource(a.srcObject).connect(analyser)
        probe = window.__voiceProbe[m] = { ctx, analyser }
      }
      const bins = new Float32Array(probe.analyser.frequencyBinCount)
      probe.analyser.getFloatFrequencyData(bins)
      let best = 1
      for (let i = 2; i < bins.length; i++) if (bins[i] > bins[best]) best = i
      return bins[best] > -90 ? (best * probe.ctx.sampleRate) / probe.analyser.fftSize : null
    }, member)
    seen.push(hz === null ? null : Math.round(hz))
    if (hz !== null && Math.abs(hz - want) < 30) return { ok: true, hz: Math.round(hz), want }
    await sleep(POLL_MS)
  }
  return { ok: false, want, seen: seen.slice(-5) }
}
