// The room's live connection: a stock y-websocket provider plus what the stock one cannot tell us —
// that the room ended (close code 4403, or an upgrade refused with HTTP 403, which browsers report only
// as a failed socket, so we ask the session endpoint why).

import * as decoding from 'lib0/decoding'
import { WebsocketProvider } from 'y-websocket'
import * as Y from 'yjs'
import { api, roomRefusal, type Client } from '../lib/api'
import { nameColor } from '../lib/color'
import { guardRemoteColors } from './participants'
import type { RoomSession } from '../lib/types'
import { MSG_VOICE_SIGNAL, VOICE_EXTENSION } from '../lib/voice-signal'

/** The server's close code for "this interview has ended" (4400–4499: do not reconnect). */
export const CLOSE_ROOM_ENDED = 4403
/**
 * The extension messages this client understands, announced in the WebSocket URL's `ext` parameter: the
 * server sends an extension message (numbers 100–119) only to a client that announced it. Voice only
 * where the room has it, so a room without voice sends no voice state at all.
 */
export function extensions(voice: boolean): string[] {
  return voice ? ['events', VOICE_EXTENSION] : ['events']
}
/** Room events (extension message 100): a JSON event as a length-prefixed string (a pushed question, …). */
const MSG_ROOM_EVENT = 100
/** Ask the server why at most this often while the socket keeps failing. */
const CHECK_EVERY_MS = 4000

export type ConnectionState = 'connecting' | 'syncing' | 'synced' | 'reconnecting' | 'stopped'

export interface ConnectionEvents {
  state(state: ConnectionState): void
  /** Fired once, on the first full sync: the files are in the doc. */
  firstSync(): void
  ended(): void
  refused(kind: 'unauthorized' | 'forbidden' | 'not-found', message: string): void
  permissionDenied(reason: string): void
}

export interface AwarenessUser {
  name: string
  color: string
  colorLight: string
  role: string
}

export class Connection {
  readonly doc = new Y.Doc()
  readonly provider: WebsocketProvider
  private everSynced = false
  private stopped = false
  private lastCheck = 0
  private readonly events: ConnectionEvents
  private readonly client: Client
  private readonly roomId: string
  /** A room event's JSON, as the server sent it. */
  onRoomEvent: (json: string) => void = () => {}
  /** A voice signal's JSON, as the server sent it. */
  onVoiceSignal: (json: string) => void = () => {}
  /** The socket opened (first time or again after a drop): a new server-side member. */
  onOpen: () => void = () => {}
  /** The socket closed or failed: whatever the server held for the last member is gone. */
  onDrop: () => void = () => {}

  constructor(session: RoomSession, client: Client, events: ConnectionEvents) {
    this.events = events
    this.client = client
    this.roomId = session.room.id
    this.provider = new WebsocketProvider(session.ws_url, session.room.id, this.doc, {
      params: { token: client.credential ?? '', ext: extensions(session.voice).join(',') },
      connect: false,
      // Tabs of one browser would otherwise sync with each other directly, and an observer tab could
      // feed edits to an interviewer tab that forwards them: only the server may relay.
      disableBc: true,
    })
    const user: AwarenessUser = { name: session.you.name, role: session.you.role, ...nameColor(session.you.name) }
    this.provider.awareness.setLocalStateField('user', user)
    // Before the editor's remote-cursor plugin subscribes: no peer's colour reaches a style unchecked.
    guardRemoteColors(this.provider.awareness)

    // y-protocols' auth message: the server tells an observer its writes are dropped.
    this.provider.messageHandlers[2] = (_enc, dec) => {
      // After the message type: varuint 0 = permission denied, then the reason as a varstring.
      if (decoding.readVarUint(dec) === 0) this.events.permissionDenied(decoding.readVarString(dec))
    }

    // Announced in `ext`, so the server may send it; y-websocket would log one it has no handler for.
    this.provider.messageHandlers[MSG_ROOM_EVENT] = (_enc, dec) => this.onRoomEvent(decoding.readVarString(dec))
    this.provider.messageHandlers[MSG_VOICE_SIGNAL] = (_enc, dec) => this.onVoiceSignal(decoding.readVarString(dec))

    this.provider.on('status', ({ status }) => {
      if (this.stopped) return
      if (status === 'connected') {
        this.events.state('syncing')
        this.onOpen()
      } else {
        this.events.state(this.everSynced ? 'reconnecting' : 'connecting')
        this.onDrop()
      }
    })
    this.provider.on('sync', (synced: boolean) => {
      if (this.stopped || !synced) return
      this.events.state('synced')
      if (!this.everSynced) {
        this.everSynced = true
        this.events.firstSync()
      }
    })
    this.provider.on('connection-close', (event) => {
      if (this.stopped) return
      if (event && event.code === CLOSE_ROOM_ENDED) {
        this.stop()
        this.events.ended()
        return
      }
      // Any other close may hide a refusal (HTTP 401/403/404 before the upgrade): ask, politely.
      this.checkWhy(event !== null && event.code >= 4400 && event.code < 4500)
    })
    this.provider.on('connection-error', () => this.checkWhy(false))
    this.provider.connect()
  }

  private checkWhy(force: boolean): void {
    const now = Date.now()
    if (!force && now - this.lastCheck < CHECK_EVERY_MS) return
    this.lastCheck = now
    api.session(this.client, this.roomId).then(
      (s) => {
        if (s.room.status === 'ended') {
          this.stop()
          this.events.ended()
        } else if (force && !this.provider.shouldConnect && !this.stopped) {
          // The server closed with a "do not reconnect" code but the room is fine: try again.
          this.provider.connect()
        }
      },
      (e: unknown) => {
        if (this.stopped) return
        const why = roomRefusal(e)
        if (why === 'ended') {
          this.stop()
          this.events.ended()
        } else if (why !== null) {
          this.stop()
          this.events.refused(why, e instanceof Error ? e.message : String(e))
        }
        // Otherwise the server is unreachable: the provider keeps retrying, the badge says so.
      },
    )
  }

  /** Sends a whole frame on the open socket; false (nothing sent) while it is not open. */
  sendFrame(frame: Uint8Array): boolean {
    const ws = this.provider.ws
    if (this.stopped || !ws || ws.readyState !== WebSocket.OPEN) return false
    ws.send(frame)
    return true
  }

  get awareness() {
    return this.provider.awareness
  }

  get files(): Y.Map<Y.Text> {
    return this.doc.getMap<Y.Text>('files')
  }

  stop(): void {
    if (this.stopped) return
    this.stopped = true
    this.provider.shouldConnect = false
    this.provider.disconnect()
    this.events.state('stopped')
  }

  destroy(): void {
    this.stop()
    this.provider.destroy()
    this.doc.destroy()
  }
}
