// The sign-in form: shown when the dashboard has no credential or the server refused it (401).

import { h } from '../ui/dom'

export function signInForm(onSubmit: (key: string) => void, message?: string): HTMLElement {
  const input = h('input', {
    id: 'signin-key',
    type: 'password',
    autocomplete: 'current-password',
    required: true,
    spellcheck: 'false',
    testid: 'signin-key',
  })
  const form = h(
    'form',
    {
      class: 'message-card signin',
      testid: 'signin-form',
      on: {
        submit: (ev) => {
          ev.preventDefault()
          const key = input.value.trim()
          if (key) onSubmit(key)
        },
      },
    },
    h('div', { class: 'brand small' }, 'handoff'),
    h('h1', null, 'Sign in to the dashboard'),
    message ? h('p', { class: 'error-text', role: 'alert', testid: 'signin-error' }, message) : null,
    h(
      'p',
      { class: 'muted' },
      'Paste the API key, or open the dashboard link the server printed at startup.',
    ),
    h('label', { for: 'signin-key' }, 'API key'),
    input,
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'button primary', testid: 'signin-submit' }, 'Sign in')),
  )
  queueMicrotask(() => input.focus())
  return h('main', { class: 'message-page' }, form)
}
