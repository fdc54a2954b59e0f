// The microphone check before joining voice: the browser asks for the microphone, the person picks a
// device and sees a live level meter, then joins (or cancels). Nothing reaches the server until they
// choose to join.

import { h } from '../ui/dom'
import { meterLevel, micFailure, phaseText } from '../lib/voice-view'

/** The meter reads this many samples per frame. */
const METER_FFT_SIZE = 1024

export interface MicCheckResult {
  /** The chosen microphone's stream, or the reason there is none. */
  stream: MediaStream | null
  failure: 'mic-denied' | 'mic-missing' | null
}

/**
 * Opens the check as a modal dialog; resolves with the stream when the person joins, with null stream and
 * a failure when the microphone is refused or missing, and with neither when they cancel.
 */
export function micCheck(): Promise<MicCheckResult> {
  return new Promise((resolve) => {
    const select = h('select', { id: 'voice-mic', testid: 'voice-mic' })
    const meter = h('meter', { min: '0', max: '1', value: '0', low: '0.15', high: '0.9', optimum: '0.5', class: 'voice-meter', testid: 'voice-meter', 'aria-label': 'Microphone level' })
    const status = h('p', { class: 'muted', role: 'status', testid: 'voice-check-status' }, 'Asking the browser for the microphone…')
    const join = h('button', { type: 'button', class: 'button primary', testid: 'voice-check-join', disabled: true }, 'Join with this microphone')
    const cancel = h('button', { type: 'button', class: 'button ghost', testid: 'voice-check-cancel' }, 'Cancel')
    const dialog = h(
      'dialog',
      { class: 'voice-check', testid: 'voice-check', 'aria-labelledby': 'voice-check-h' },
      h('h2', { id: 'voice-check-h' }, 'Check your microphone'),
      h('p', null, 'Speak and watch the meter move. Pick another microphone if it stays still.'),
      h('label', { for: 'voice-mic' }, 'Microphone'),
      select,
      meter,
      status,
      h('div', { class: 'voice-check-actions' }, cancel, join),
    )
    let stream: MediaStream | null = null
    let audio: AudioContext | null = null
    let frame = 0
    let done = false

    const stopMeter = () => {
      cancelAnimationFrame(frame)
      void audio?.close().catch(() => {})
      audio = null
    }
    const finish = (result: MicCheckResult) => {
      if (done) return
      done = true
      stopMeter()
      if (result.stream === null) for (const t of stream?.getTracks() ?? []) t.stop()
      dialog.close()
      dialog.remove()
      resolve(result)
    }
    const fail = (e: unknown) => {
      const kind = micFailure(e instanceof DOMException || e instanceof Error ? e.name : '')
      status.textContent = phaseText(kind)
      finish({ stream: null, failure: kind })
    }

    const open = async (deviceId: string | null) => {
      stopMeter()
      for (const t of stream?.getTracks() ?? []) t.stop()
      stream = null
      join.disabled = true
      const got = await navigator.mediaDevices.getUserMedia({ audio: deviceId ? { deviceId: { exact: deviceId } } : true })
      if (done) {
        for (const t of got.getTracks()) t.stop()
        return
      }
      stream = got
      // Labels are readable only once the microphone is allowed: list the devices now.
      const inputs = (await navigator.mediaDevices.enumerateDevices()).filter((d) => d.kind === 'audioinput')
      const current = got.getAudioTracks()[0]?.getSettings().deviceId ?? ''
      select.replaceChildren(...inputs.map((d, i) => h('option', { value: d.deviceId, selected: d.deviceId === current }, d.label || `Microphone ${i + 1}`)))
      status.textContent = 'Microphone on. Nobody hears you until you join.'
      join.disabled = false
      audio = new AudioContext()
      const analyser = audio.createAnalyser()
      analyser.fftSize = METER_FFT_SIZE
      audio.createMediaStreamSource(got).connect(analyser)
      const samples = new Float32Array(analyser.fftSize)
      const draw = () => {
        analyser.getFloatTimeDomainData(samples)
        meter.value = meterLevel(samples)
        frame = requestAnimationFrame(draw)
      }
      draw()
    }

    select.addEventListener('change', () => void open(select.value).catch(fail))
    join.addEventListener('click', () => finish({ stream, failure: null }))
    cancel.addEventListener('click', () => finish({ stream: null, failure: null }))
    // Escape closes a modal dialog: treat it as cancel.
    dialog.addEventListener('cancel', (ev) => {
      ev.preventDefault()
      finish({ stream: null, failure: null })
    })
    document.body.append(dialog)
    dialog.showModal()
    if (!navigator.mediaDevices?.getUserMedia) fail(new DOMException('no media devices', 'NotFoundError'))
    else void open(null).catch(fail)
  })
}
