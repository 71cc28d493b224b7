/**
 * Server-Sent Events for the dashboard: a bounded set of open streams, each sent the same view once a
 * second. A reader that falls behind (its queue of unsent messages fills) is dropped rather than
 * buffered without end; the browser's EventSource reconnects by itself.
 */
const enc = new TextEncoder();

/** Open streams at once; one more is answered 503 (a few operators, not a crowd, watch a miner). */
export const MAX_STREAMS = 16;
/** Messages a slow reader may leave unread before it is dropped. */
const MAX_BACKLOG = 8;

export class SseHub {
  readonly #streams = new Set<ReadableStreamDefaultController<Uint8Array>>();

  constructor(private readonly max = MAX_STREAMS) {}

  get size(): number {
    return this.#streams.size;
  }

  /** A streaming response that starts with `first`, or null when every slot is taken. */
  open(first: string): Response | null {
    if (this.#streams.size >= this.max) return null;
    let own: ReadableStreamDefaultController<Uint8Array>;
    const body = new ReadableStream<Uint8Array>({
      start: (controller) => {
        own = controller;
        this.#streams.add(controller);
        controller.enqueue(enc.encode(`retry: 2000\n\n${frame(first)}`));
      },
      cancel: () => void this.#streams.delete(own),
    }, new CountQueuingStrategy({ highWaterMark: MAX_BACKLOG }));
    return new Response(body, {
      headers: {
        "content-type": "text/event-stream; charset=utf-8",
        "cache-control": "no-store",
        "x-accel-buffering": "no", // a reverse proxy in front must not hold the stream back
      },
    });
  }

  /** Sends `data` to every stream; drops those that cannot keep up. */
  broadcast(data: string): void {
    const bytes = enc.encode(frame(data));
    for (const c of this.#streams) {
      if ((c.desiredSize ?? 0) <= 0) {
        this.#streams.delete(c);
        try {
          c.close();
        } catch { /* already closed by the reader */ }
        continue;
      }
      c.enqueue(bytes);
    }
  }

  closeAll(): void {
    for (const c of this.#streams) {
      try {
        c.close();
      } catch { /* already closed */ }
    }
    this.#streams.clear();
  }
}

/** One `message` event: every line of `data` prefixed (a view is one JSON line). */
function frame(data: string): string {
  return `${data.split("\n").map((l) => `data: ${l}`).join("\n")}\n\n`;
}
