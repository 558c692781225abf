/** Reads a `text/event-stream` body (the Server-Sent Events format) from a fetch() response. */

export interface StreamEvent {
  id?: string;
  event: string;
  data: string;
}

/** Calls `onEvent` per event until the stream ends; comments (heartbeats) are skipped. */
export async function readEventStream(
  body: ReadableStream<Uint8Array>,
  onEvent: (e: StreamEvent) => void,
): Promise<void> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  let current: { id?: string; event?: string; data: string[] } = { data: [] };
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true });
    let nl = buffer.search(/\r?\n/);
    while (nl >= 0) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(buffer[nl] === '\r' ? nl + 2 : nl + 1);
      if (line === '') {
        if (current.data.length > 0 || current.event !== undefined) {
          onEvent({
            ...(current.id !== undefined ? { id: current.id } : {}),
            event: current.event ?? 'message',
            data: current.data.join('\n'),
          });
        }
        current = { data: [] };
      } else if (!line.startsWith(':')) {
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        const raw = colon < 0 ? '' : line.slice(colon + 1);
        const val = raw.startsWith(' ') ? raw.slice(1) : raw;
        if (field === 'data') current.data.push(val);
        else if (field === 'event') current.event = val;
        else if (field === 'id') current.id = val;
      }
      nl = buffer.search(/\r?\n/);
    }
  }
}
