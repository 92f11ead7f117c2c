// A reference graphql-ws client (the protocol's own implementation) for the
// Go end-to-end tests: it subscribes at URL with QUERY over
// graphql-transport-ws and prints each result as one JSON line, then exits
// after COUNT results, or with status 1 on an error or after TIMEOUT ms.
//
//   node test/subscribe.mjs ws://127.0.0.1:8080/graphql 'subscription { ... }' 1 30000 ['{"Authorization":"Bearer x"}']
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

const [url, query, count = '1', timeout = '30000', params = '{}'] = process.argv.slice(2);
let left = Number(count);
const client = createClient({
  url,
  webSocketImpl: WebSocket,
  connectionParams: JSON.parse(params),
  retryAttempts: 0,
  on: { connected: () => console.log(JSON.stringify({ connected: true })) },
});
const timer = setTimeout(() => { console.error('timeout'); process.exit(1); }, Number(timeout));
client.subscribe({ query }, {
  next: (result) => {
    console.log(JSON.stringify(result));
    if (--left <= 0) { clearTimeout(timer); client.dispose(); process.exit(0); }
  },
  error: (err) => { console.error(JSON.stringify(err, Object.getOwnPropertyNames(err))); process.exit(1); },
  complete: () => { console.error('complete before enough results'); process.exit(1); },
});
