// The JSON shapes of the server contract (protocol/src/api.rs and protocol/src/integrity.rs).

export type Role = 'interviewer' | 'candidate' | 'observer'
export type RoomStatus = 'live' | 'ended'

export interface RoomSummary {
  id: string
  status: RoomStatus
}

export interface FileEntry {
  path: string
  content: string
}

export interface AsyncEvent {
  at_ms: number
  kind: string
  file?: string
  [field: string]: unknown
}

export interface Evidence {
  at_ms?: number
  file?: string
  lines?: [number, number]
  note: string
}

export interface RubricItem {
  dimension: string
  score: number
  max: number
  evidence?: Evidence[]
}

export interface Scorecard {
  rubric: RubricItem[]
  summary?: string
}

export type FlagKind = 'paste' | 'focus_lost' | 'burst'

export interface Flag {
  kind: FlagKind | string
  at_ms: number
  file?: string
  lines?: [number, number]
  detail: string
}

export interface IntegritySummary {
  flags: Flag[]
  pastes: { count: number; largest: number; total_chars: number }
  focus: { losses: number; away_ms: number; longest_away_ms: number }
  first_keystroke_ms: number | null
  bursts: number
}

export interface SubmissionListItem {
  id: string
  created_at_ms: number
  candidate: { name: string; email?: string }
  exercise: { title: string; language?: string }
  file_count: number
  integrity_flags: number
  scorecard?: { score: number; max: number; summary?: string } | null
  room?: RoomSummary | null
}

export interface Submission {
  id: string
  created_at_ms: number
  candidate: { name: string; email?: string }
  exercise: { title: string; language?: string }
  files: FileEntry[]
  events?: AsyncEvent[]
  integrity?: unknown
  scorecard?: Scorecard | null
  room?: RoomSummary | null
  integrity_summary?: IntegritySummary
}

export interface Promoted {
  room: RoomSummary
  ws_url: string
  tokens: Record<Role, string>
  links: Record<Role, string>
  expires_at_ms: number
}

export interface RoomSession {
  room: RoomSummary
  you: { role: Role; name: string }
  exercise: { title: string; language?: string }
  candidate: { name: string }
  submission_files: FileEntry[]
  voice: boolean
  ws_url: string
}

export interface PrivatePanel {
  integrity: unknown
  integrity_summary: IntegritySummary
  scorecard: Scorecard | null
  events: AsyncEvent[]
  notes: string
}
