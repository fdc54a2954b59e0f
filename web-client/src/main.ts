// Entry point: picks the page from the path (the server serves this app for every non-API GET).

import './styles/theme.css'
import './styles/base.css'
import './styles/dashboard.css'
import './styles/room.css'
import './styles/record.css'
import './styles/insights.css'
import './styles/panel.css'
import './styles/interview.css'
import './styles/voice.css'
import './styles/narrow.css'
import { startDashboard } from './dashboard'
import { parseRoute } from './lib/route'
import { startRoom } from './room'
import { showMessagePage } from './ui/pages'
import { applyStoredPrefs } from './ui/prefs'

const root = document.getElementById('app')
if (!root) throw new Error('index.html has no #app')

applyStoredPrefs()
const route = parseRoute(location.pathname)
try {
  if (route.kind === 'room') startRoom(root, route.roomId)
  else startDashboard(root)
} catch (e) {
  showMessagePage(root, {
    title: 'Something went wrong',
    body: e instanceof Error ? e.message : String(e),
    testid: 'crash',
    tone: 'error',
  })
}
