/** Incremental reader of a multipart/related body (a WADO-RS retrieve), fed
 * chunk by chunk as the response streams in. It holds at most one part plus
 * one chunk, so a long series streams through in bounded memory. */

const CRLF_CRLF = Uint8Array.from([13, 10, 13, 10]);
const HEAD_LIMIT = 16 * 1024; // a part's boundary line and headers

export function boundaryOf(contentType: string): string | null {
  const match = /boundary="?([^";]+)"?/i.exec(contentType);
  return match ? match[1]! : null;
}

export class MultipartReader {
  private chunks: Uint8Array[] = [];
  private size = 0;
  private readonly delimiter: Uint8Array;
  private done = false;

  constructor(
    boundary: string,
    private readonly onPart: (body: Uint8Array) => void,
  ) {
    this.delimiter = new TextEncoder().encode(`\r\n--${boundary}`);
  }

  push(chunk: Uint8Array): void {
    if (this.done || chunk.length === 0) return;
    this.chunks.push(chunk);
    this.size += chunk.length;
    while (!this.done && this.nextPart()) {
      // keep emitting whole parts
    }
  }

  /** Emit the next complete part, if the buffer holds one. */
  private nextPart(): boolean {
    const head = this.peek(Math.min(this.size, HEAD_LIMIT));
    // A boundary line starts a part; the body starts after its headers.
    const dashes = indexOf(head, this.delimiter.subarray(2), 0);
    if (dashes < 0) return false;
    const afterBoundary = dashes + this.delimiter.length - 2;
    if (head.length < afterBoundary + 2) return false;
    if (head[afterBoundary] === 45 && head[afterBoundary + 1] === 45) {
      this.done = true; // "--boundary--": the closing delimiter
      return false;
    }
    const headersEnd = indexOf(head, CRLF_CRLF, afterBoundary);
    if (headersEnd < 0) {
      if (head.length >= HEAD_LIMIT) throw new Error("multipart part headers too long");
      return false;
    }
    const headers = new TextDecoder().decode(head.subarray(afterBoundary, headersEnd));
    const bodyStart = headersEnd + 4;
    const length = /content-length:\s*(\d+)/i.exec(headers);
    let bodyEnd: number;
    if (length) {
      bodyEnd = bodyStart + Number(length[1]);
      if (this.size < bodyEnd) return false;
    } else {
      const all = this.peek(this.size); // rare: no Content-Length, search the delimiter
      bodyEnd = indexOf(all, this.delimiter, bodyStart);
      if (bodyEnd < 0) return false;
    }
    this.take(bodyStart);
    const body = this.take(bodyEnd - bodyStart);
    this.onPart(body);
    return true;
  }

  /** The first n buffered bytes, as one array (copied only across chunks). */
  private peek(n: number): Uint8Array {
    const first = this.chunks[0];
    if (first && first.length >= n) return first.subarray(0, n);
    const out = new Uint8Array(n);
    let offset = 0;
    for (const chunk of this.chunks) {
      if (offset >= n) break;
      const piece = chunk.subarray(0, n - offset);
      out.set(piece, offset);
      offset += piece.length;
    }
    return out;
  }

  /** Remove and return the first n buffered bytes. */
  private take(n: number): Uint8Array {
    const out = this.peek(n);
    let left = n;
    while (left > 0) {
      const chunk = this.chunks[0]!;
      if (chunk.length <= left) {
        this.chunks.shift();
        left -= chunk.length;
      } else {
        this.chunks[0] = chunk.subarray(left);
        left = 0;
      }
    }
    this.size -= n;
    return out.byteOffset === 0 && out.length === out.buffer.byteLength ? out : out.slice();
  }
}

export function indexOf(haystack: Uint8Array, needle: Uint8Array, from: number): number {
  const first = needle[0];
  outer: for (let i = Math.max(0, from); i <= haystack.length - needle.length; i++) {
    if (haystack[i] !== first) continue;
    for (let j = 1; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}
