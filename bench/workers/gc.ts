import { serveWorker } from '../lib/worker';

/**
 * Forces a full GC in another Node process through its inspector (Chrome DevTools Protocol,
 * HeapProfiler.collectGarbage), so memory figures are "after GC" without changing the app.
 * Started with --experimental-websocket for Node 20's built-in WebSocket client.
 */
async function collect(port: number): Promise<void> {
  const targets = (await (await fetch(`http://127.0.0.1:${port}/json/list`)).json()) as Array<{ webSocketDebuggerUrl: string }>;
  const url = targets[0]?.webSocketDebuggerUrl;
  if (!url) throw new Error(`no inspector target on port ${port}`);
  const ws = new WebSocket(url);
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('inspector did not answer')), 15_000);
    ws.onerror = () => reject(new Error('inspector connection failed'));
    ws.onopen = () => ws.send(JSON.stringify({ id: 1, method: 'HeapProfiler.collectGarbage' }));
    ws.onmessage = (msg) => {
      if ((JSON.parse(String(msg.data)) as { id?: number }).id === 1) {
        clearTimeout(timer);
        resolve();
      }
    };
  });
  ws.close();
}

serveWorker({
  collect: async ({ port }: { port: number }) => {
    // Twice: objects with finalizers or weak references need a second pass to be freed.
    await collect(port);
    await collect(port);
    return true;
  },
});
