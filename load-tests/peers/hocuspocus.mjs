// Hocuspocus as a load-test peer: no extensions, no persistence, no auth hook (the load tool still sends
// the auth message every Hocuspocus provider sends). Port and address from the environment.
import { Server } from '@hocuspocus/server'

const server = new Server({
  address: process.env.HOST ?? '127.0.0.1',
  port: Number(process.env.PORT ?? 1234),
  quiet: true,
})
await server.listen()
console.log(`hocuspocus listening on ${process.env.HOST ?? '127.0.0.1'}:${process.env.PORT ?? 1234}`)
