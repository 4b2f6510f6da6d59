// The scrubber's window onto a subject's events: pages of the timeline
// fetched as the cursor reaches them and kept, so stepping reads nothing
// it has read before and opening a million-event subject reads one page.

import { TimelineAnswer, TimelineRef } from "./api";

export const PAGE = 200;

export type FetchPage = (from: number, limit: number) => Promise<TimelineAnswer>;

export class Pager {
  private pages = new Map<number, TimelineRef[]>();
  /// Pages fetched so far (what the paging test checks).
  fetched = 0;

  constructor(private readonly fetchPage: FetchPage, public count: number) {}

  /// Keeps a page fetched elsewhere (the first answer when opening, which
  /// asks for the cursor's page); one not aligned to a page is ignored.
  keep(answer: TimelineAnswer) {
    this.count = answer.count;
    if (answer.from % PAGE === 0 && answer.events.length > 0) this.pages.set(answer.from / PAGE, answer.events);
  }

  cached(index: number): TimelineRef | undefined {
    return this.pages.get(Math.floor(index / PAGE))?.[index % PAGE];
  }

  /// The event at `index`, fetching its page when not held.
  async ref(index: number): Promise<TimelineRef> {
    if (index < 0 || index >= this.count) throw new RangeError(`index ${index} is outside 0..${this.count - 1}`);
    const held = this.cached(index);
    if (held) return held;
    const page = Math.floor(index / PAGE);
    const answer = await this.fetchPage(page * PAGE, PAGE);
    this.fetched += 1;
    this.count = Math.max(this.count, answer.count);
    this.pages.set(page, answer.events);
    const got = answer.events[index % PAGE];
    if (!got) throw new RangeError(`index ${index} is not in the timeline`);
    return got;
  }
}
