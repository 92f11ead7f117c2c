// The page helmgraph serves at /: GraphiQL over /graphql, with subscriptions
// over graphql-transport-ws on the same path. Everything it loads is bundled
// here, so it works without any network but the helmgraph server's.
import React from 'react';
import { createRoot } from 'react-dom/client';
import { GraphiQL } from 'graphiql';
import { createGraphiQLFetcher } from '@graphiql/toolkit';
import { createClient } from 'graphql-ws';
import 'graphiql/style.css';
import './page.css';

const defaultQuery = `# helmgraph: one graph over every cluster's Helm releases.
# Press Ctrl+Enter (or the run button) to run. The docs are in the book icon.
query Fleet {
  clusters { name driver serverVersion reachable releaseCount lastError }
  releases(first: 20, orderBy: {field: UPDATED, direction: DESC}) {
    totalCount
    clusterErrors { cluster code message }
    nodes {
      cluster namespace name revision status
      chart { name version appVersion }
      updated
    }
  }
}
`;

const wsURL = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/graphql`;
const httpFetcher = createGraphiQLFetcher({ url: '/graphql' });

// One websocket client per distinct set of headers: the headers typed in the
// editor (e.g. Authorization) are the connection_init payload, so a token
// set there authenticates subscriptions too.
let ws = null;
let wsHeaders = null;
function wsClient(headers) {
  const key = JSON.stringify(headers || {});
  if (!ws || key !== wsHeaders) {
    if (ws) ws.dispose();
    wsHeaders = key;
    ws = createClient({ url: wsURL, connectionParams: () => JSON.parse(key), lazy: true, keepAlive: 10000 });
  }
  return ws;
}

function isSubscription(params) {
  const q = params.query || '';
  if (params.operationName) {
    return new RegExp(`subscription\\s+${params.operationName}\\b`).test(q);
  }
  return /^\s*(#[^\n]*\n\s*)*subscription\b/.test(q);
}

function fetcher(params, opts) {
  if (isSubscription(params)) {
    return wsClient(opts && opts.headers).iterate({
      query: params.query, variables: params.variables, operationName: params.operationName,
    });
  }
  return httpFetcher(params, opts);
}

createRoot(document.getElementById('graphiql')).render(
  React.createElement(GraphiQL, { fetcher, defaultQuery, defaultEditorToolsVisibility: true, shouldPersistHeaders: true }),
);
