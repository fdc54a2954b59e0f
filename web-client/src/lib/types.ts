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

export type FlagKind = 'paste' | 'focus_lost' | 'burst' | 'insertion'

export interface Flag {
  kind: FlagKind | string
  at_ms: number
  file?: string
  lines?: [number, number]
  detail: string
  /** The rule that raised the flag, in words. */
  threshold?: string
}

export interface IntegritySummary {
  flags: Flag[]
  pastes: { count: number; largest: number; total_chars: number }
  focus: { losses: number; away_ms: number; longest_away_ms: number }
  first_keystroke_ms: number | null
  bursts: number
  insertions?: number
  /** Edit and paste events in the stream; 0 means typing was not recorded. */
  key_events?: number
  /** Focus events in the stream; 0 means focus was not recorded. */
  focus_events?: number
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

/** The room's options in a promote body (`POST /api/v1/submissions/{id}/promote`). */
export interface PromoteOptions {
  voice: boolean
  record_voice: boolean
  candidate_sees_integrity: boolean
  duration_min?: number
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
  /** Whether voice is recorded; older servers leave it out, and then it follows `voice`. */
  record_voice?: boolean
  ws_url: string
}

export interface PrivatePanel {
  integrity: unknown
  integrity_summary: IntegritySummary
  scorecard: Scorecard | null
  events: AsyncEvent[]
  notes: string
  /** The interviewer's live rubric scores (absent from older servers). */
  live_scores?: LiveScore[]
}

/** Who wrote a piece of live text (protocol/src/record.rs `Source`). */
export type Source = 'submission' | 'candidate' | 'interviewer'

/** One attributed change of the live session (`GET /rooms/{id}/timeline`, `edits`). */
export interface LiveEdit {
  seq: number
  /** Server time, ms since the Unix epoch. */
  at_ms: number
  author: string
  source: Source
  file: string
  /** UTF-16 offset before the change. */
  position: number
  inserted: string
  deleted: string
}

export interface PresenceEvent {
  at_ms: number
  kind: 'join' | 'leave' | string
  name: string
  role: Role
  conn_id: number
}

export interface Timeline {
  room: RoomSummary
  started_at_ms: number
  edits: LiveEdit[]
  presence: PresenceEvent[]
}

export interface Replay {
  at_ms: number
  files: Record<string, string>
}

/** A range of a final file and who wrote it: UTF-16 offsets, end exclusive. */
export interface Authored {
  start: number
  end: number
  lines: [number, number]
  source: Source
  author: string
}

export interface ExportFile {
  path: string
  content: string
  change: 'added' | 'modified' | 'unchanged' | 'deleted' | string
  diff: string
  authorship: Authored[]
}

/** A moment a live score cites: a live edit (`seq`, `at_ms`), an async moment, code. */
export interface Moment {
  seq?: number
  at_ms?: number
  async_at_ms?: number
  file?: string
  lines?: [number, number]
  note: string
}

export interface LiveScore {
  dimension: string
  score: number
  max: number
  evidence: Moment[]
}

export interface RoomExport {
  room: RoomSummary
  started_at_ms: number
  files: ExportFile[]
  timeline: LiveEdit[]
  notes: string
  live_scores: LiveScore[]
  /** One voice recording per speaker and track (absent where the room recorded none). */
  recordings?: Recording[]
}

/** A voice recording of the room: an Ogg/Opus file whose first sample sits at `started_at_ms` (room clock). */
export interface Recording {
  id: string
  participant: string
  role: Role | string
  /** Ms since the Unix epoch, the clock of `started_at_ms` of the room and of every `at_ms`. */
  started_at_ms: number
  duration_ms: number
  /** Where the file downloads (the interviewer's credential or the API key). */
  url: string
  /**
   * Room-clock moments tied to file positions (48 kHz samples), oldest first: between two, the file runs
   * at the room clock's pace; a later one absorbs a gap (mute, silence) or drift. Older servers: none.
   */
  anchors?: Array<{ at_ms: number; sample: number }>
}
