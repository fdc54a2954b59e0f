// Whole-page messages: errors, the ended interview, loading. A page is never left blank.

import { clear, h } from './dom'

export interface MessagePage {
  title: string
  body: string
  testid: string
  tone?: 'info' | 'error'
  actions?: HTMLElement[]
}

export function showMessagePage(root: HTMLElement, page: MessagePage): void {
  clear(root)
  document.title = `${page.title} · handoff`
  root.append(
    h(
      'main',
      { class: `message-page ${page.tone ?? 'info'}`, testid: page.testid },
      h(
        'section',
        { class: 'message-card', role: page.tone === 'error' ? 'alert' : 'status' },
        h('div', { class: 'brand small' }, 'handoff'),
        h('h1', null, page.title),
        h('p', null, page.body),
        page.actions && page.actions.length > 0 ? h('div', { class: 'actions' }, page.actions) : null,
      ),
    ),
  )
}

export function showEnded(root: HTMLElement, isInterviewer: boolean): void {
  showMessagePage(root, {
    title: 'This interview has ended',
    body: isInterviewer
      ? 'The room is closed and its record is kept. You can return to the dashboard.'
      : 'Thank you for your time. The room is closed; you can close this tab.',
    testid: 'ended',
    actions: isInterviewer ? [h('a', { class: 'button', href: '/' }, 'Back to dashboard')] : [],
  })
}

export function showLoading(root: HTMLElement, what: string): void {
  clear(root)
  root.append(h('main', { class: 'message-page', testid: 'loading' }, h('p', { class: 'loading', role: 'status' }, what)))
}

export function retryButton(): HTMLElement {
  return h('button', { type: 'button', class: 'button', on: { click: () => location.reload() } }, 'Try again')
}
