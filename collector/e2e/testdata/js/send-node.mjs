// Sends one event of each call with @segment/analytics-node to the
// collector at argv[2] with write key argv[3]; argv[4] makes the IDs
// unique. Exits 1 with the reasons when a delivery failed.
import { Analytics } from '@segment/analytics-node'

const [host, writeKey, run] = process.argv.slice(2)
const analytics = new Analytics({ writeKey, host, flushAt: 3, flushInterval: 100, maxRetries: 2 })
const failures = []
analytics.on('error', (err) => failures.push(String(err?.reason ?? err?.code ?? err)))
const responses = []
analytics.on('http_response', (r) => responses.push(r.status))

const anon = `node-anon-${run}`
const user = `node-user-${run}`
const context = {
  ip: '203.0.113.50',
  userAgent: 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1',
}
analytics.page({ messageId: `node-${run}-1`, anonymousId: anon, name: 'Pricing', properties: { url: 'https://shop.example/pricing?utm_source=node', path: '/pricing' }, context })
analytics.track({ messageId: `node-${run}-2`, anonymousId: anon, event: 'Signed Up', properties: { plan: 'pro', seats: 3, trial: true }, context })
analytics.identify({ messageId: `node-${run}-3`, userId: user, anonymousId: anon, traits: { plan: 'pro', company: { size: 12 } }, context })
analytics.screen({ messageId: `node-${run}-4`, userId: user, name: 'Settings', context })
analytics.alias({ messageId: `node-${run}-5`, userId: user, previousId: `node-old-${run}`, context })
analytics.track({ messageId: `node-${run}-6`, anonymousId: `node-old-${run}`, event: 'Signed In', context })
await analytics.closeAndFlush({ timeout: 30000 })
if (failures.length > 0) {
  console.error(`delivery failed: ${failures.join('; ')} (responses: ${responses.join(', ')})`)
  process.exit(1)
}
console.log(JSON.stringify({ sent: 6, responses }))
