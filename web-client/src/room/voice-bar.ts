// Voice in the room page: "Join voice" (after a microphone check), "Mute", "Leave voice" and what voice
// is doing in the top bar; who is in voice in the sidebar, with speaking rings, mute marks and the
// interviewer's mute-others control; one <audio> per participant heard, keyed by member id.

import { h } from '../ui/dom'
import type { Role } from '../lib/types'
import type { MemberLevel, VoiceParticipant } from '../lib/voice-signal'
import { LEVEL_STALE_MS, errorText, phaseLabel, phaseNeedsBanner, phaseText, speakingMembers, type VoicePhase } from '../lib/voice-view'
import type { Connection } from './connection'
import { micCheck } from './voice-check'
import { ALL_MEMBERS, VoiceSession } from './voice'

/** A passing notice (the interviewer muted you, …) stays this long. */
const NOTICE_MS = 6000

export interface VoiceControls {
  /** Status and buttons, for the top bar. */
  bar: HTMLElement
  /** What went wrong and what to do, or a passing notice: a banner under the top bar. */
  banner: HTMLElement
  /** Who is in voice, for the sidebar. */
  list: HTMLElement
  destroy(): void
}

export function voiceControls(conn: Connection, role: Role): VoiceControls {
  const status = h('span', { class: 'voice-status', role: 'status', 'aria-live': 'polite', testid: 'voice-status' })
  const alertText = h('span', { testid: 'voice-alert-text' })
  // Without a microphone one can still hear the others.
  const listenButton = h('button', { type: 'button', class: 'button small', testid: 'voice-listen-only', hidden: true }, 'Listen without microphone')
  const banner = h('p', { class: 'banner warn voice-alert', role: 'alert', testid: 'voice-alert', hidden: true }, alertText, ' ', listenButton)
  const joinButton = h('button', { type: 'button', class: 'button small voice-join', testid: 'voice-join' }, 'Join voice')
  const muteButton = h('button', { type: 'button', class: 'button small voice-mute', testid: 'voice-mute', 'aria-pressed': 'false', hidden: true }, 'Mute')
  const leaveButton = h('button', { type: 'button', class: 'button small ghost', testid: 'voice-leave', hidden: true }, 'Leave voice')
  const audios = h('div', { class: 'voice-audio', testid: 'voice-audio', hidden: true })
  const bar = h('span', { class: 'voice-bar', testid: 'voice-bar', 'data-phase': 'off' }, status, joinButton, muteButton, leaveButton, audios)
  const items = h('ul', { class: 'voice-people', testid: 'voice-people', 'aria-label': 'In voice' })
  // Titled like the room's list above it, and hidden (title too) while nobody is in voice.
  const list = h('div', { class: 'voice-people-wrap', hidden: true }, h('h2', { class: 'side-title' }, 'In voice'), items)

  let phase: VoicePhase = 'off'
  let detail = ''
  let notice = ''
  let noticeTimer: ReturnType<typeof setTimeout> | null = null
  let you = ''
  let people: VoiceParticipant[] = []
  const levels = new Map<string, { level: number; at: number }>()
  let ringTimer: ReturnType<typeof setInterval> | null = null

  const me = () => people.find((p) => p.member === you) ?? null
  const renderBar = () => {
    const joined = session.wanted
    bar.dataset.phase = phase
    status.textContent = phaseLabel(phase)
    status.hidden = status.textContent === ''
    alertText.textContent = notice || (phaseNeedsBanner(phase) ? (phaseText(phase, detail) ?? '') : '')
    banner.hidden = alertText.textContent === ''
    listenButton.hidden = notice !== '' || (phase !== 'mic-denied' && phase !== 'mic-missing')
    joinButton.hidden = joined
    joinButton.disabled = checking
    leaveButton.hidden = !joined
    const mine = me()
    const muted = session.muted || (mine?.muted_by_interviewer ?? false)
    muteButton.hidden = !joined || role === 'observer'
    muteButton.setAttribute('aria-pressed', String(muted))
    muteButton.dataset.byInterviewer = String(mine?.muted_by_interviewer ?? false)
    muteButton.title = mine?.muted_by_interviewer ? 'The interviewer muted you' : muted ? 'You are muted: press to unmute' : 'Press to mute your microphone'
  }

  const renderPeople = () => {
    const speaking = speakingMembers(levels, Date.now())
    items.replaceChildren(
      ...people.map((p) => {
        const muted = p.muted || p.muted_by_interviewer
        const mark = p.muted_by_interviewer ? 'muted by the interviewer' : p.muted ? 'muted' : speaking.has(p.member) ? 'speaking' : ''
        return h(
          'li',
          {
            class: 'voice-person',
            testid: 'voice-person',
            'data-member': p.member,
            'data-role': p.role,
            'data-speaking': String(speaking.has(p.member) && !muted),
            'data-muted': String(muted),
          },
          h('span', { class: 'voice-ring', 'aria-hidden': 'true' }, p.name.slice(0, 1).toUpperCase()),
          h('span', { class: 'pname' }, h('span', null, p.name, p.member === you ? h('span', { class: 'muted' }, ' (you)') : null), h('span', { class: `role ${p.role}` }, mark || p.role)),
          role === 'interviewer' && p.member !== you && p.role !== 'observer'
            ? h(
                'button',
                {
                  type: 'button',
                  class: 'button small ghost voice-mute-other',
                  testid: 'voice-mute-other',
                  'aria-pressed': String(p.muted_by_interviewer),
                  'aria-label': `${p.muted_by_interviewer ? 'Unmute' : 'Mute'} ${p.name}`,
                  on: { click: () => session.muteMember(p.member, !p.muted_by_interviewer) },
                },
                p.muted_by_interviewer ? 'Unmute' : 'Mute',
              )
            : null,
        )
      }),
    )
    list.hidden = people.length === 0
  }

  const setStream = (member: string, stream: MediaStream | null) => {
    for (const a of audios.querySelectorAll('audio')) {
      if (member === ALL_MEMBERS || a.dataset.member === member) {
        a.srcObject = null
        a.remove()
      }
    }
    if (stream === null) return
    const audio = h('audio', { autoplay: true, 'data-member': member, testid: 'voice-audio-el' })
    audio.srcObject = stream
    audios.append(audio)
    // The join was a click, so the browser lets this play; a refusal would leave the element paused.
    void audio.play().catch(() => {})
  }

  const session = new VoiceSession(conn, {
    phase: (p, d = '') => {
      phase = p
      detail = d
      if (p === 'off' || p === 'refused') levels.clear()
      renderBar()
      renderPeople()
    },
    state: (y, participants) => {
      you = y
      people = participants
      const present = new Set(participants.map((p) => p.member))
      for (const a of audios.querySelectorAll('audio')) if (a.dataset.member && !present.has(a.dataset.member)) setStream(a.dataset.member, null)
      renderBar()
      renderPeople()
    },
    levels: (ls: MemberLevel[]) => {
      const at = Date.now()
      for (const l of ls) levels.set(l.member, { level: l.level, at })
      renderPeople()
      // Levels stop coming when everyone is quiet: clear the rings once they are stale.
      if (ringTimer === null) {
        ringTimer = setInterval(() => {
          renderPeople()
          if (speakingMembers(levels, Date.now()).size === 0 && ringTimer !== null) {
            clearInterval(ringTimer)
            ringTimer = null
          }
        }, LEVEL_STALE_MS / 2)
      }
    },
    stream: setStream,
    notice: (text) => showNotice(text),
  })
  const showNotice = (text: string) => {
    notice = text
    if (noticeTimer !== null) clearTimeout(noticeTimer)
    noticeTimer = setTimeout(() => {
      notice = ''
      renderBar()
    }, NOTICE_MS)
    renderBar()
  }
  ;(window as unknown as { __handoffVoice: unknown }).__handoffVoice = session

  let checking = false
  joinButton.addEventListener('click', () => {
    if (role === 'observer') {
      // Observers listen only: no microphone to check.
      session.join(null)
      return
    }
    checking = true
    renderBar()
    void micCheck().then(({ stream, failure }) => {
      checking = false
      if (stream) session.join(stream)
      else if (failure) {
        phase = failure
        detail = ''
      }
      renderBar()
    })
  })
  muteButton.addEventListener('click', () => {
    // Muted by the interviewer: only they can unmute (the server would refuse anyway).
    if (me()?.muted_by_interviewer) return showNotice(errorText('muted_by_interviewer', ''))
    session.setMuted(!session.muted)
    renderBar()
  })
  leaveButton.addEventListener('click', () => session.leave())
  listenButton.addEventListener('click', () => session.join(null))

  renderBar()
  renderPeople()
  return {
    bar,
    banner,
    list,
    destroy: () => {
      if (ringTimer !== null) clearInterval(ringTimer)
      if (noticeTimer !== null) clearTimeout(noticeTimer)
      session.destroy()
      setStream(ALL_MEMBERS, null)
    },
  }
}
