// A state shown as a collapsible tree: ▸/▾ toggles a container, a click
// (or Enter) on a key asks for its blame.

import { h } from "../dom";
import { rows } from "../tree";

export interface TreeOptions {
  changed: Set<string>;
  collapsed: Set<string>;
  onToggle: () => void;
  onBlame?: (pointer: string) => void;
}

/// Rows drawn at most; collapse containers to see past them.
export const ROWS_MAX = 2_000;

export function renderTree(list: HTMLElement, state: unknown, o: TreeOptions) {
  const all = rows(state, o.changed, o.collapsed);
  const more = all.length > ROWS_MAX ? h("li", { class: "more" }, `… ${all.length - ROWS_MAX} more rows: collapse a container to see the rest`) : null;
  list.replaceChildren(
    ...all.slice(0, ROWS_MAX).map((r) => {
      const li = h("li", { "data-pointer": r.pointer });
      li.style.paddingLeft = `${r.depth * 1.1}rem`;
      if (r.changed) li.classList.add(r.changed === "self" ? "changed" : "inside");
      const toggle = r.container
        ? h("button", {
            class: "toggle",
            "aria-label": `${o.collapsed.has(r.pointer) ? "expand" : "collapse"} ${r.pointer || "state"}`,
            "aria-expanded": String(!o.collapsed.has(r.pointer)),
            onclick: () => {
              if (o.collapsed.has(r.pointer)) o.collapsed.delete(r.pointer);
              else o.collapsed.add(r.pointer);
              o.onToggle();
            },
          }, o.collapsed.has(r.pointer) ? "▸" : "▾")
        : h("span", { class: "toggle-space" });
      const key = o.onBlame && r.pointer !== ""
        ? h("button", { class: "key", title: `blame ${r.pointer}`, onclick: () => o.onBlame!(r.pointer) }, r.key)
        : h("span", { class: "key" }, r.key);
      li.append(toggle, key, ": ", h("span", { class: r.container ? "size" : "value" }, r.display));
      return li;
    }),
  );
  if (more) list.append(more);
}
