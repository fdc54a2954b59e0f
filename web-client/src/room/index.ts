// The live room, for every role: takes the link's token, asks the server who we are, then connects.

import { api, roomRefusal, type Client } from '../lib/api'
import { DASHBOARD_KEY, jwtClaims, roomTokenKey, takeCredential } from '../lib/token'
import { clear, h } from '../ui/dom'
import { retryButton, showEnded, showLoading, showMessagePage } from '../ui/pages'
import { candidateBanner, type InterviewSession } from '../lib/interview'
import { Connection } from './connection'
import { interviewExtras } from './interview'
import { connectionBadge, participantsList } from './participants'
import { privatePanel } from './private'
import { prefsControls } from '../ui/prefs'
import { showReview } from './review'
import { Workspace } from './workspace'
import { voiceControls } from './voice-bar'

export function startRoom(root: HTMLElement, roomId: string): void {
  // The token rides in the fragment; keep it for reloads, then drop it from the address bar.
  const taken = takeCredential(location.hash, 'token', sessionStorage, roomTokenKey(roomId))
  if (taken.fromFragment) history.replaceState(history.state, '', location.pathname + location.search)
  // From the dashboard (same tab), its credential opens the room as the interviewer would.
  const token = taken.value ?? sessionStorage.getItem(DASHBOARD_KEY)
  if (!token) {
    showMessagePage(root, {
      title: 'This link is incomplete',
      body: 'The room link is missing its access token. Open the full link you were sent, or ask the interviewer for a new one.',
      testid: 'link-error',
      tone: 'error',
    })
    return
  }
  const client: Client = { credential: token }
  const claimedRole = jwtClaims(token)?.role
  showLoading(root, 'Opening the interview room…')
  api.session(client, roomId).then(
    (session) => {
      if (session.room.status === 'ended') {
        if (session.you.role === 'interviewer') showReview(root, client, session, () => startRoom(root, roomId))
        else showEnded(root, false)
      } else if (taken.value === null) {
        // The dashboard's credential reads the room but cannot join its socket: that takes a room link.
        showMessagePage(root, {
          title: 'This interview is live',
          body: 'Open it with the interviewer link: on the dashboard, open the submission and choose "Show live room links".',
          testid: 'live-needs-link',
          actions: [h('a', { class: 'button', href: '/' }, 'Back to dashboard')],
        })
      } else mount(root, client, session, () => startRoom(root, roomId))
    },
    (e: unknown) => {
      const why = roomRefusal(e)
      if (why === 'ended') return showEnded(root, claimedRole === 'interviewer')
      refusedPage(root, why, e)
    },
  )
}

function refusedPage(root: HTMLElement, why: ReturnType<typeof roomRefusal>, e: unknown): void {
  const detail = e instanceof Error ? e.message : String(e)
  if (why === 'unauthorized') {
    showMessagePage(root, {
      title: 'This link has expired or is not valid',
      body: 'Ask the interviewer to send you a fresh link.',
      testid: 'link-error',
      tone: 'error',
    })
  } else if (why === 'not-found') {
    showMessagePage(root, { title: 'No such interview room', body: 'Check that the link is complete.', testid: 'link-error', tone: 'error' })
  } else if (why === 'forbidden') {
    showMessagePage(root, { title: 'You cannot open this room', body: detail, testid: 'link-error', tone: 'error' })
  } else {
    showMessagePage(root, {
      title: 'Could not open the room',
      body: `${detail} Check your connection and try again.`,
      testid: 'room-error',
      tone: 'error',
      actions: [retryButton()],
    })
  }
}

function mount(root: HTMLElement, client: Client, session: InterviewSession, reload: () => void): void {
  const role = session.you.role
  document.title = `${session.exercise.title} · live follow-up · handoff`
  const badge = connectionBadge()
  let workspace: Workspace | null = null
  let done = false
  const finish = (show: () => void) => {
    if (done) return
    done = true
    voice?.destroy()
    conn.destroy()
    extras.stop()
    show()
  }
  const readOnlyBadge = h(
    'span',
    { class: 'badge readonly', testid: 'readonly-badge', title: 'Observers can watch but not edit.', hidden: role !== 'observer' },
    'Read-only',
  )
  const lost = h(
    'p',
    { class: 'banner warn', role: 'status', testid: 'reconnecting-banner', hidden: true },
    'Connection lost. Reconnecting… Your edits are kept and sync when the connection is back.',
  )
  const conn = new Connection(session, client, {
    state: (s) => {
      badge.set(s)
      lost.hidden = s !== 'reconnecting'
    },
    firstSync: () => workspace?.ready(),
    // The interviewer goes on to the review; everyone else is told the interview ended.
    ended: () => finish(() => (role === 'interviewer' ? reload() : showEnded(root, false))),
    refused: (why, message) => finish(() => refusedPage(root, why, new Error(message))),
    permissionDenied: (reason) => {
      readOnlyBadge.hidden = false
      readOnlyBadge.title = reason
    },
  })
  // The socket opens asynchronously, so voice listens before any voice state can arrive.
  const voice = session.voice ? voiceControls(conn, role) : null
  workspace = new Workspace(
    conn,
    session,
    role === 'interviewer'
      ? {
          loadAuthorship: () =>
            api.exportRoom(client, session.room.id).then((x) => new Map(x.files.map((f) => [f.path, f.authorship]))),
        }
      : null,
  )

  const sidebarId = 'room-sidebar'
  const toggle = h('button', { type: 'button', class: 'button ghost sidebar-toggle', 'aria-expanded': 'true', 'aria-controls': sidebarId }, 'Files')
  const sidebar = h(
    'aside',
    { class: 'sidebar', id: sidebarId },
    h('h2', { class: 'side-title' }, 'Files'),
    workspace.tree.el,
    h('h2', { class: 'side-title' }, 'In the room'),
    participantsList(conn.awareness),
    voice?.list ?? null,
  )
  toggle.addEventListener('click', () => {
    const open = sidebar.classList.toggle('collapsed') === false
    toggle.setAttribute('aria-expanded', String(open))
  })

  const ws = workspace
  const body = h('div', { class: `room-body${role === 'interviewer' ? ' with-private' : ''}` }, sidebar, ws.el)
  if (role === 'interviewer') {
    body.append(
      privatePanel({
        client,
        roomId: session.room.id,
        target: { jump: (file, lines) => ws.jump(file, lines), has: (file) => ws.has(file) },
        record: ws,
        caret: () => ws.caret(),
        ended: () => finish(reload),
      }),
    )
  }
  const extras = interviewExtras(session, client, conn)

  clear(root)
  root.append(
    h(
      'div',
      { class: `app room-app role-${role}`, testid: 'room', 'data-role': role },
      h(
        'header',
        { class: 'topbar' },
        h('span', { class: 'brand' }, 'handoff'),
        h(
          'span',
          { class: 'topbar-title' },
          h('strong', null, session.exercise.title),
          h('span', { class: 'muted' }, ` · ${session.candidate.name}`),
        ),
        toggle,
        extras.topbar,
        h('span', { class: 'spacer' }),
        voice?.bar ?? null,
        readOnlyBadge,
        prefsControls(),
        h('span', { class: 'you', testid: 'you' }, `${session.you.name} · ${role}`),
        badge.el,
      ),
      role === 'candidate' ? h('p', { class: 'banner', role: 'note', testid: 'candidate-banner' }, candidateBanner(session.voice, session.record_voice ?? session.voice)) : null,
      lost,
      voice?.banner ?? null,
      extras.strip,
      body,
    ),
  )
}
