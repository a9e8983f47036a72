/**
 * Progress as Docker draws it: on a terminal, one line per item (a layer), redrawn in place
 * with a bar; otherwise plain lines, one per change of an item's state, so logs stay readable.
 * @module
 */

/** The state of one item. */
export interface ProgressItem {
  /** What is happening (`Downloading`, `Extracting`, `Pull complete`). */
  status: string;
  /** Bytes (or steps) done, when known. */
  current?: number;
  /** Bytes (or steps) in all, when known. */
  total?: number;
}

/** A set of progress lines keyed by item id. */
export class ProgressView {
  private readonly items = new Map<string, ProgressItem>();
  private drawn = 0;

  constructor(
    private readonly stream: NodeJS.WritableStream & { isTTY?: boolean; columns?: number },
    private readonly tty: boolean = stream.isTTY === true,
  ) {}

  /** Sets an item's state and redraws (terminal) or prints a line if its status changed (plain). */
  update(id: string, item: ProgressItem): void {
    const before = this.items.get(id);
    this.items.set(id, item);
    if (this.tty) this.redraw();
    else if (before?.status !== item.status) this.stream.write(`${id}: ${item.status}\n`);
  }

  /** Prints a line that is not an item (`Loaded image: busybox:latest`). */
  line(text: string): void {
    this.stream.write(`${text}\n`);
    if (this.tty) this.drawn = 0;
  }

  private redraw(): void {
    if (this.drawn > 0) this.stream.write(`\x1b[${this.drawn}A`);
    for (const [id, item] of this.items) this.stream.write(`\x1b[2K${id}: ${item.status}${bar(item)}\n`);
    this.drawn = this.items.size;
  }
}

/** ` [=====>     ]  1.2MB/3.4MB` for an item with a total. */
function bar(item: ProgressItem): string {
  if (item.total === undefined || item.current === undefined || item.total <= 0) return '';
  const width = 40;
  const done = Math.min(width, Math.floor((item.current / item.total) * width));
  return ` [${'='.repeat(Math.max(0, done - 1))}${done > 0 ? '>' : ''}${' '.repeat(width - done)}] ${item.current}/${item.total}`;
}
