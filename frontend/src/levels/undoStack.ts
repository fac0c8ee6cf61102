/** The edits made in this session, newest last, so the Undo button can say
 * what it will revert. The server keeps the authoritative history and undoes;
 * this only mirrors it and is bounded. */

export class UndoStack<T> {
  private readonly items: T[] = [];

  constructor(private readonly limit = 100) {}

  push(item: T): void {
    this.items.push(item);
    if (this.items.length > this.limit) this.items.shift();
  }

  pop(): T | undefined {
    return this.items.pop();
  }

  peek(): T | undefined {
    return this.items[this.items.length - 1];
  }

  get size(): number {
    return this.items.length;
  }

  clear(): void {
    this.items.length = 0;
  }
}
