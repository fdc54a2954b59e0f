// The async context an interviewer reads: integrity summary and flags, the scorecard with its cited
// moments, the event timeline. Used by the dashboard's detail page and the room's private panel; every
// item that cites a file (and lines) is a button that jumps there.

import {
  compactTimeline,
  flagKindLabel,
  formatClock,
  integrityStats,
  locationLabel,
  scoreRatio,
  scoreText,
  scorecardTotal,
} from '../lib/format'
import type { AsyncEvent, IntegritySummary, Scorecard } from '../lib/types'
import { h } from './dom'

export type Jump = (file: string, lines?: [number, number]) => void

export interface JumpTarget {
  jump: Jump
  /** Whether the file exists where the jump would land (only then is the citation a button). */
  has: (file: string) => boolean
}

function citation(target: JumpTarget, file: string | undefined, lines: [number, number] | undefined, testid: string, ...content: Array<Node | string>): HTMLElement {
  if (file && target.has(file)) {
    return h(
      'button',
      {
        type: 'button',
        class: 'cite',
        testid,
        'data-file': file,
        'data-lines': lines ? lines.join('-') : undefined,
        title: `Open ${locationLabel(file, lines)}`,
        on: { click: () => target.jump(file, lines) },
      },
      ...content,
    )
  }
  return h('div', { class: 'cite static', testid }, ...content)
}

export function integritySection(summary: IntegritySummary | undefined, platform: unknown, target: JumpTarget): HTMLElement {
  const section = h('section', { class: 'panel-section', testid: 'integrity', 'aria-labelledby': 'integrity-h' })
  section.append(h('h2', { id: 'integrity-h' }, 'Integrity'))
  if (!summary) {
    section.append(h('p', { class: 'muted' }, 'No integrity summary.'))
    return section
  }
  section.append(
    h('dl', { class: 'stats' }, integrityStats(summary).flatMap(([k, v]) => [h('dt', null, k), h('dd', null, v)])),
  )
  if (summary.flags.length === 0) {
    section.append(h('p', { class: 'muted' }, 'No flags.'))
  } else {
    section.append(
      h(
        'ol',
        { class: 'flags' },
        summary.flags.map((f) =>
          h(
            'li',
            // The rule behind the flag, shown when asked (hover, long-press, a screen reader's description).
            { title: f.threshold },
            citation(
              target,
              f.file,
              f.lines,
              'flag',
              h('span', { class: `flag-kind ${f.kind}` }, flagKindLabel(f.kind)),
              h('span', { class: 'when' }, formatClock(f.at_ms)),
              h('span', { class: 'what' }, f.detail),
              f.file ? h('span', { class: 'where' }, locationLabel(f.file, f.lines)) : '',
            ),
          ),
        ),
      ),
    )
  }
  if (platform !== null && platform !== undefined) {
    section.append(
      h(
        'details',
        { class: 'raw' },
        h('summary', null, "The platform's integrity data"),
        h('pre', null, JSON.stringify(platform, null, 2)),
      ),
    )
  }
  return section
}

export function scorecardSection(card: Scorecard | null | undefined, target: JumpTarget): HTMLElement {
  const section = h('section', { class: 'panel-section', testid: 'scorecard', 'aria-labelledby': 'scorecard-h' })
  if (!card) {
    section.append(h('h2', { id: 'scorecard-h' }, 'Scorecard'), h('p', { class: 'muted' }, 'No scorecard.'))
    return section
  }
  const total = scorecardTotal(card)
  section.append(
    h('h2', { id: 'scorecard-h' }, 'Scorecard ', h('span', { class: 'total' }, scoreText(total.score, total.max))),
  )
  if (card.summary) section.append(h('p', { class: 'summary' }, card.summary))
  for (const item of card.rubric) {
    const evidence = item.evidence ?? []
    section.append(
      h(
        'div',
        { class: 'rubric', testid: 'rubric-item' },
        h(
          'div',
          { class: 'rubric-head' },
          h('span', { class: 'dimension' }, item.dimension),
          h('span', { class: 'score' }, scoreText(item.score, item.max)),
        ),
        h('div', { class: 'bar', 'aria-hidden': 'true' }, h('span', { style: `width: ${Math.round(scoreRatio(item) * 100)}%` })),
        evidence.length === 0
          ? null
          : h(
              'ul',
              { class: 'evidence' },
              evidence.map((e) =>
                h(
                  'li',
                  null,
                  citation(
                    target,
                    e.file,
                    e.lines,
                    'evidence',
                    e.at_ms !== undefined ? h('span', { class: 'when' }, formatClock(e.at_ms)) : '',
                    e.file ? h('span', { class: 'where' }, locationLabel(e.file, e.lines)) : '',
                    h('span', { class: 'what' }, e.note),
                  ),
                ),
              ),
            ),
      ),
    )
  }
  return section
}

export function timelineSection(events: readonly AsyncEvent[] | undefined, target: JumpTarget): HTMLElement {
  const section = h('section', { class: 'panel-section', testid: 'timeline', 'aria-labelledby': 'timeline-h' })
  section.append(h('h2', { id: 'timeline-h' }, 'Async timeline'))
  if (!events || events.length === 0) {
    section.append(h('p', { class: 'muted' }, 'No events were recorded.'))
    return section
  }
  const { entries, hidden } = compactTimeline(events)
  section.append(
    h(
      'ol',
      { class: 'timeline' },
      entries.map((e) =>
        h(
          'li',
          { class: `event ${e.kind}` },
          citation(
            target,
            e.file,
            e.lines,
            'event',
            h('span', { class: 'when' }, formatClock(e.at_ms)),
            h('span', { class: 'what' }, e.text),
          ),
        ),
      ),
    ),
  )
  if (hidden > 0) section.append(h('p', { class: 'muted' }, `… and ${hidden} more entries.`))
  return section
}
