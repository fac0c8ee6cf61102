/** A small typed event emitter: listeners are added with `on`, which returns
 * the function that removes them (every listener paired with its removal). */

export class Emitter<Events extends Record<string, unknown>> {
  private readonly listeners = new Map<keyof Events, Set<(detail: never) => void>>();

  on<K extends keyof Events>(type: K, listener: (detail: Events[K]) => void): () => void {
    const set = this.listeners.get(type) ?? new Set();
    set.add(listener as (detail: never) => void);
    this.listeners.set(type, set);
    return () => set.delete(listener as (detail: never) => void);
  }

  emit<K extends keyof Events>(type: K, detail: Events[K]): void {
    this.listeners.get(type)?.forEach((listener) => (listener as (d: Events[K]) => void)(detail));
  }
}
