// The interviewer dashboard: credential handling and navigation between the list and a submission.

import { ApiError, type Client } from '../lib/api'
import { parseRoute } from '../lib/route'
import { DASHBOARD_KEY, takeCredential } from '../lib/token'
import { clear, h } from '../ui/dom'
import { renderDetail } from './detail'
import { renderList, type ListContext } from './list'
import { signInForm } from './signin'
import { prefsControls } from '../ui/prefs'

export function startDashboard(root: HTMLElement): void {
  const taken = takeCredential(location.hash, 'dashboard', sessionStorage, DASHBOARD_KEY)
  if (taken.fromFragment) history.replaceState(history.state, '', location.pathname + location.search)
  const client: Client = { credential: taken.value }

  const signIn = (message?: string) => {
    clear(root)
    document.title = 'Sign in · handoff'
    root.append(
      signInForm((key) => {
        sessionStorage.setItem(DASHBOARD_KEY, key)
        client.credential = key
        show()
      }, message),
    )
  }

  const signOut = () => {
    sessionStorage.removeItem(DASHBOARD_KEY)
    client.credential = null
    signIn()
  }

  const ctx: ListContext = {
    client,
    navigate: (path) => {
      history.pushState(null, '', path)
      show()
    },
    fail: (e, where) => {
      if (e instanceof ApiError && e.status === 401) {
        sessionStorage.removeItem(DASHBOARD_KEY)
        client.credential = null
        signIn('That key was not accepted (or the dashboard link expired). Paste the API key.')
        return
      }
      const text = e instanceof Error ? e.message : String(e)
      if (!where.classList.contains('import-status')) {
        where.replaceChildren(h('p', { class: 'error-text', role: 'alert', testid: 'error' }, text))
      }
    },
  }

  const show = () => {
    if (!client.credential) return signIn()
    const route = parseRoute(location.pathname)
    clear(root)
    document.title = 'Submissions · handoff'
    const content =
      route.kind === 'submission'
        ? renderDetail(ctx, route.id)
        : route.kind === 'dashboard'
          ? renderList(ctx)
          : h('section', { class: 'page', testid: 'not-found' }, h('h1', null, 'Page not found'), h('a', { href: '/' }, 'Go to the dashboard'))
    root.append(
      h(
        'div',
        { class: 'app dashboard-app' },
        h(
          'header',
          { class: 'topbar' },
          h('a', { class: 'brand', href: '/', on: { click: (ev) => { ev.preventDefault(); ctx.navigate('/') } } }, 'handoff'),
          h('span', { class: 'topbar-title' }, 'Interviewer dashboard'),
          h('span', { class: 'spacer' }),
          prefsControls(),
          h('button', { type: 'button', class: 'button ghost', testid: 'sign-out', on: { click: signOut } }, 'Sign out'),
        ),
        h('main', { class: 'content' }, content),
        // Integrators find the REST API's OpenAPI document here (README "REST API").
        h(
          'footer',
          { class: 'app-footer' },
          h('a', { href: '/api/v1/openapi.json', testid: 'openapi-link', target: '_blank', rel: 'noopener' }, 'REST API (OpenAPI 3.1)'),
        ),
      ),
    )
  }

  window.addEventListener('popstate', show)
  show()
}
