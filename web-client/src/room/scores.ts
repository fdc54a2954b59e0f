// Live scores in the interviewer's panel: one row per rubric dimension with a button per point, and a
// form for any other dimension, optionally citing a moment of the session. Saved whole with PUT /scores.

import { api } from '../lib/api'
import { entryLabel, momentText, scoreEvidence, scoreLine, validateScore } from '../lib/record'
import { asyncScoreText, rubricRows, scoreChoices, setScore, type RubricRow } from '../lib/rubric'
import type { LiveScore, Scorecard } from '../lib/types'
import { h } from '../ui/dom'
import { NotesSaver } from './notes'
import type { RecordContext, TimelineStore } from './record'

export function scoresSection(
  ctx: RecordContext,
  store: TimelineStore,
  scorecard: Scorecard | null,
  initial: LiveScore[],
  loadTimeline: () => void,
): HTMLElement {
  let scores: LiveScore[] = initial.map((s) => ({ ...s, evidence: [...(s.evidence ?? [])] }))
  const status = h('span', { class: 'notes-status muted', role: 'status', 'aria-live': 'polite', testid: 'scores-status' })
  const list = h('ul', { class: 'live-scores', testid: 'live-scores' })
  const formError = h('p', { class: 'error-text', role: 'alert', testid: 'score-error', hidden: true })
  const dimension = h('input', { type: 'text', class: 'score-dimension', placeholder: 'Dimension', 'aria-label': 'Dimension', testid: 'score-dimension', maxlength: '200' })
  const score = h('input', { type: 'number', class: 'score-num', min: '0', step: 'any', placeholder: 'Score', 'aria-label': 'Score', testid: 'score-value' })
  const max = h('input', { type: 'number', class: 'score-num', min: '0', step: 'any', value: '4', 'aria-label': 'Out of', testid: 'score-max' })
  const cite = h('select', { class: 'score-cite', 'aria-label': 'Cite a moment', testid: 'score-cite' })
  const note = h('input', { type: 'text', class: 'score-note', placeholder: 'Note (optional)', 'aria-label': 'Evidence note', testid: 'score-note' })
  const add = h('button', { type: 'submit', class: 'button small', testid: 'score-add' }, 'Add score')
  const retry = h('button', { type: 'button', class: 'button small ghost', testid: 'scores-save', hidden: true }, 'Save again')

  const saver = new NotesSaver(
    (body) => api.saveScores(ctx.client, ctx.roomId, JSON.parse(body) as LiveScore[]).then(() => undefined),
    (s) => {
      status.dataset.state = s.state
      status.textContent = s.text
      retry.hidden = s.state !== 'error'
    },
    0,
  )
  const save = () => {
    saver.edit(JSON.stringify(scores))
    saver.flush()
  }
  retry.addEventListener('click', () => saver.flush())

  const renderCite = () => {
    const chosen = cite.value
    const edits = store.entries.filter((e) => e.kind === 'edit' && e.seq !== undefined)
    cite.replaceChildren(
      h('option', { value: '' }, store.startedAtMs === null ? 'No moment (the session is loading)' : 'No moment (note only)'),
      ...edits.map((e) => h('option', { value: String(e.seq) }, entryLabel(e))),
    )
    if ([...cite.options].some((o) => o.value === chosen)) cite.value = chosen
  }
  const rubric = h('div', { class: 'rubric-rows', testid: 'rubric-rows', role: 'group', 'aria-label': 'Score the rubric' })
  const give = (row: RubricRow, value: number) => {
    scores = setScore(scores, row.dimension, value, row.max)
    renderList()
    save()
  }
  const renderRubric = () => {
    const rows = rubricRows(scorecard, scores)
    rubric.replaceChildren(...rows.map((row) => rubricRow(row, (v) => give(row, v))))
    if (rows.length === 0) rubric.append(h('p', { class: 'muted' }, 'The submission has no rubric: add scores below.'))
  }
  const renderList = () => {
    renderRubric()
    list.replaceChildren(
      ...scores.map((s, i) =>
        h(
          'li',
          { class: 'live-score', testid: 'live-score', 'data-dimension': s.dimension },
          h('div', { class: 'live-score-head' }, h('strong', null, scoreLine(s)), h('button', { type: 'button', class: 'button small ghost', 'aria-label': `Remove ${s.dimension}`, testid: 'score-remove', on: { click: () => { scores.splice(i, 1); renderList(); save() } } }, 'Remove')),
          ...s.evidence.map((m) => h('div', { class: 'muted live-score-cite' }, momentText(m, store.startedAtMs))),
        ),
      ),
    )
    if (scores.length === 0) list.append(h('li', { class: 'muted' }, 'No live scores yet.'))
  }
  store.listen(() => {
    renderCite()
    renderList()
  })
  cite.addEventListener('focus', () => {
    if (store.startedAtMs === null) loadTimeline()
  })

  const form = h(
    'form',
    { class: 'score-form', testid: 'score-form' },
    h('div', { class: 'score-row' }, dimension, score, h('span', { class: 'muted' }, '/'), max),
    cite,
    note,
    h('div', { class: 'score-row' }, add, retry),
    formError,
  )
  form.addEventListener('submit', (ev) => {
    ev.preventDefault()
    const checked = validateScore({ dimension: dimension.value, score: score.value, max: max.value })
    if (!checked.ok) {
      formError.hidden = false
      formError.textContent = checked.message
      return
    }
    formError.hidden = true
    const entry = cite.value === '' ? null : store.bySeq(Number(cite.value))
    scores.push({ dimension: checked.dimension, score: checked.score, max: checked.max, evidence: scoreEvidence(entry, note.value) })
    dimension.value = ''
    score.value = ''
    note.value = ''
    cite.value = ''
    renderList()
    save()
  })

  renderCite()
  renderList()
  return h(
    'section',
    { class: 'panel-section', testid: 'live-scoring', 'aria-labelledby': 'live-scores-h' },
    h('div', { class: 'notes-head' }, h('h2', { id: 'live-scores-h' }, 'Live scores'), status),
    rubric,
    h('h3', { class: 'subhead' }, 'Scores and evidence'),
    list,
    h('details', { class: 'score-more' }, h('summary', { testid: 'score-more' }, 'Another dimension, or cite a moment'), form),
  )
}

/** One rubric dimension: its name, the async score for reference, and a button per point. */
function rubricRow(row: RubricRow, give: (score: number) => void): HTMLElement {
  const choices = scoreChoices(row.max)
  const label = `${row.dimension}`
  const controls = choices
    ? h(
        'div',
        { class: 'score-buttons', role: 'group', 'aria-label': `${label}, out of ${row.max}` },
        ...choices.map((n) =>
          h(
            'button',
            {
              type: 'button',
              class: 'score-button',
              'aria-pressed': String(row.score === n),
              'aria-label': `${label}: ${n} of ${row.max}`,
              testid: 'rubric-score',
              'data-score': n,
              on: { click: () => give(n) },
            },
            String(n),
          ),
        ),
      )
    : numberField(row, give)
  return h(
    'div',
    { class: 'rubric-row', testid: 'rubric-row', 'data-dimension': row.dimension, 'data-score': row.score ?? '' },
    h('div', { class: 'rubric-name' }, h('strong', null, row.dimension), h('span', { class: 'muted' }, asyncScoreText(row))),
    controls,
  )
}

function numberField(row: RubricRow, give: (score: number) => void): HTMLElement {
  const input = h('input', { type: 'number', class: 'score-num', min: '0', max: String(row.max), step: 'any', value: row.score ?? '', 'aria-label': `${row.dimension}, out of ${row.max}` })
  input.addEventListener('change', () => {
    const checked = validateScore({ dimension: row.dimension, score: input.value, max: String(row.max) })
    if (checked.ok) give(checked.score)
  })
  return h('div', { class: 'score-buttons' }, input, h('span', { class: 'muted' }, `/ ${row.max}`))
}
