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

export function renderTree(list: HTMLElement, state: unknown, o: TreeOptions) {
  list.replaceChildren(
    ...rows(state, o.changed, o.collapsed).map((r) => {
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
}
