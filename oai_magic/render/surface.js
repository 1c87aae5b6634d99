// The live surface of oai_magic: one widget per cell that owns the DOM of a streaming answer.
//
// The kernel sends small operations (never the whole answer) as custom messages:
//   ["r", id, parentId, html]   create region `id` from `html` (one element) inside `parentId` ("" = root)
//   ["b", id, html]             append a finished block to region `id` (before its open block)
//   ["o", id, keep, html]       the open block's HTML becomes old.slice(0, keep) + html
//   ["s", id]                   the open block is finished: it stays, a new empty open block starts
//   ["h", id, html]             replace region `id`'s content (notices, labels, tool cards)
// Every HTML string was produced by the kernel's renderer with raw HTML off and all model text
// escaped: nothing here builds markup from model text. A message is either {x: [ops...]} or, for
// the most common draw (text appended to one open block), just {id: html}: ["o", id, <old length>, html]
// in 5 bytes of framing instead of 30; and when the block is the one patched last, a bare string
// "html" (2 bytes). Drawing once a frame, a draw often carries one token: that framing is what
// keeps a 20 ms token pace under 3x the final bytes. The kernel sends the next longer form when
// the shortest would be exactly as long as its last message (any key of {x: ...} but x is
// ignored): see LiveSurface._framed in surface.py.
//
// Operations are applied to a per-model store first and to every view from there, so a view
// created after some messages (a second view, or a late render) replays the store. A closed
// surface's store is freed (see initialize).

const STORES = (globalThis.__oaiLiveStores = globalThis.__oaiLiveStores || new Map());

function storeFor(model) {
  const uid = model.get("uid");
  let store = STORES.get(uid);
  if (!store) {
    store = { log: [], views: new Set(), last: "" };
    STORES.set(uid, store);
  }
  return store;
}

function fragment(html) {
  const template = document.createElement("template");
  template.innerHTML = html;
  return template.content;
}

// A patch usually only adds text at the end of the open block, which can be long (a paragraph or
// a list of thousands of words). Replacing all its nodes on every draw would make the browser
// lay out and paint the whole block again each frame, a cost that grows with the block. Instead
// the nodes that did not change stay, a text node that only grew gains the new text
// (appendData), and only what follows the first difference is replaced: the DOM ends up equal to
// the new HTML's, and the browser's work per draw stays about the size of the change.
function reconcile(parent, olds, news) {
  let i = 0;
  while (i < olds.length && i < news.length && olds[i].isEqualNode(news[i])) i++;
  if (i < olds.length && i < news.length) {
    const old = olds[i], fresh = news[i];
    if (old.nodeType === Node.TEXT_NODE && fresh.nodeType === Node.TEXT_NODE && fresh.data.startsWith(old.data)) {
      old.appendData(fresh.data.slice(old.data.length));
      news[i] = old;
      i++;
    } else if (old.nodeType === Node.ELEMENT_NODE && sameShell(old, fresh)) {
      reconcile(old, Array.from(old.childNodes), Array.from(fresh.childNodes));
      news[i] = old;
      i++;
    }
  }
  for (const node of olds.slice(i)) node.remove();
  for (const node of news.slice(i)) parent.appendChild(node);
  return news;
}

// Text added at the very end of an open block whose HTML ends in text is where the parser would
// put it: at the end of the last text node. Nothing is parsed, and the browser lays out only the
// end of the block. Text with markup, an entity or a carriage return is parsed as above, and so
// is text in a table (the parser would move it out).
function appendText(region, text) {
  if (!text || /[<&\r\0]/.test(text) || region.html.lastIndexOf("<") > region.html.lastIndexOf(">")) return false;
  let node = region.open[region.open.length - 1];
  while (node && node.lastChild) node = node.lastChild;
  if (!node || node.nodeType !== Node.TEXT_NODE || /^(TABLE|TBODY|THEAD|TFOOT|TR)$/.test(node.parentNode.nodeName))
    return false;
  node.appendData(text);
  return true;
}

function sameShell(a, b) {
  // the same element but for its children: tag and every attribute
  if (a.nodeType !== b.nodeType || a.nodeName !== b.nodeName || a.attributes.length !== b.attributes.length) return false;
  for (const attr of a.attributes) if (b.getAttribute(attr.name) !== attr.value) return false;
  return true;
}

function applyToView(view, op) {
  const kind = op[0];
  if (kind === "r") {
    const parent = op[2] ? view.regions.get(op[2]) : view.root;
    const element = fragment(op[3]).firstElementChild || document.createElement("div");
    view.regions.set(op[1], { el: element, open: [], html: "" });
    if (parent) (parent.el || parent).appendChild(element);
    return;
  }
  const region = view.regions.get(op[1]);
  if (!region) return;
  if (kind === "b") {
    region.el.insertBefore(fragment(op[2]), region.open[0] || null);
  } else if (kind === "o" || kind === "+") {
    const added = kind === "+" ? op[2] : op[2] === region.html.length ? op[3] : null;
    if (added !== null && appendText(region, added)) {
      region.html += added;
      return;
    }
    region.html = kind === "+" ? region.html + op[2] : region.html.slice(0, op[2]) + op[3];
    // the open block is always last: its nodes are brought to the new HTML's, keeping the ones
    // that did not change (see reconcile)
    region.open = reconcile(region.el, region.open, Array.from(fragment(region.html).childNodes));
  } else if (kind === "s") {
    region.open = [];
    region.html = "";
  } else if (kind === "h") {
    region.open = [];
    region.html = "";
    region.el.replaceChildren(fragment(op[2]));
  }
}

function newView(el, model) {
  const root = document.createElement("div");
  root.className = "oai-live jp-RenderedHTMLCommon jp-RenderedHTML";
  el.appendChild(root);
  const view = { root, regions: new Map() };
  for (const [id, parent, html] of model.get("regions") || []) applyToView(view, ["r", id, parent, html]);
  return view;
}

export default {
  // A surface's store lives while its model does: once the kernel replaces the widget with its
  // final block and closes it (or empties its module first, which ends this initialization),
  // the store is freed. The final block is a plain output: a reloaded notebook shows it.
  initialize({ model, signal }) {
    const uid = model.get("uid");
    const store = storeFor(model);
    const onMessage = (message) => {
      let ops;
      if (typeof message === "string") ops = [["+", store.last, message]];
      else if (!message || typeof message !== "object") return;
      else if (Array.isArray(message.x)) ops = message.x;
      else ops = Object.keys(message).map((id) => ["+", id, String(message[id])]);
      for (const op of ops) {
        if (op[0] === "o" || op[0] === "+") store.last = op[1]; // the region a bare string extends
        store.log.push(op);
        for (const view of store.views) applyToView(view, op);
      }
    };
    model.on("msg:custom", onMessage);
    const free = () => {
      model.off("msg:custom", onMessage);
      store.log = [];
      if (STORES.get(uid) === store) STORES.delete(uid);
    };
    if (signal) signal.addEventListener("abort", free);
    return free;
  },
  render({ model, el }) {
    const store = storeFor(model);
    const view = newView(el, model);
    for (const op of store.log) applyToView(view, op);
    store.views.add(view);
    return () => store.views.delete(view);
  },
};
