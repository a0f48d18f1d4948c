/*
 * A small GitHub-flavoured markdown renderer for CDS Hooks card details that builds DOM nodes and only
 * ever sets text: raw HTML in the data is shown as text, never parsed. Supports paragraphs, headings,
 * bullet and numbered lists, pipe tables, **bold**, *italic* / _italic_, `code` and [links](http(s) only).
 * Works in the browser (window.CardMarkdown) and in Node with a document (module.exports) for tests.
 */
(function (root) {
  'use strict';

  var SAFE_URL = /^(https?:\/\/|\/(?!\/))/i;

  /** Inline markup -> nodes appended to parent. */
  function inline(doc, parent, text) {
    var pattern =
      /(\*\*([^*]+)\*\*|__([^_]+)__|`([^`]+)`|\[([^\]]+)\]\(([^)\s]+)\)|\*([^*\s][^*]*)\*|(^|[^A-Za-z0-9])_([^_\s][^_]*)_(?![A-Za-z0-9]))/;
    var rest = text;
    while (rest.length) {
      var m = pattern.exec(rest);
      if (!m) {
        parent.appendChild(doc.createTextNode(rest));
        break;
      }
      var before = rest.slice(0, m.index) + (m[8] || '');
      if (before) parent.appendChild(doc.createTextNode(before));
      var node;
      if (m[2] !== undefined || m[3] !== undefined) {
        node = doc.createElement('strong');
        inline(doc, node, m[2] !== undefined ? m[2] : m[3]);
      } else if (m[4] !== undefined) {
        node = doc.createElement('code');
        node.textContent = m[4];
      } else if (m[5] !== undefined) {
        if (SAFE_URL.test(m[6])) {
          node = doc.createElement('a');
          node.setAttribute('href', m[6]);
          node.setAttribute('rel', 'noopener noreferrer');
          if (/^https?:/i.test(m[6])) node.setAttribute('target', '_blank');
          inline(doc, node, m[5]);
        } else {
          node = doc.createTextNode(m[5]);
        }
      } else {
        node = doc.createElement('em');
        inline(doc, node, m[7] !== undefined ? m[7] : m[9]);
      }
      parent.appendChild(node);
      rest = rest.slice(m.index + m[0].length);
    }
  }

  function cells(line) {
    var trimmed = line.trim().replace(/^\|/, '').replace(/\|$/, '');
    return trimmed.split(/(?<!\\)\|/).map(function (c) {
      return c.trim().replace(/\\\|/g, '|');
    });
  }

  function isTableStart(lines, i) {
    return (
      /^\s*\|.*\|\s*$/.test(lines[i]) && i + 1 < lines.length && /^\s*\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$/.test(lines[i + 1])
    );
  }

  /** Markdown text -> a DocumentFragment. */
  function render(markdown, doc) {
    doc = doc || root.document;
    var fragment = doc.createDocumentFragment();
    var lines = String(markdown || '')
      .replace(/\r\n?/g, '\n')
      .split('\n');
    var i = 0;
    while (i < lines.length) {
      var line = lines[i];
      if (!line.trim()) {
        i++;
        continue;
      }
      var heading = /^(#{1,6})\s+(.*)$/.exec(line);
      if (heading) {
        // Card details sit under the card's own heading: their headings start two levels lower.
        var h = doc.createElement('h' + Math.min(6, heading[1].length + 3));
        inline(doc, h, heading[2]);
        fragment.appendChild(h);
        i++;
        continue;
      }
      if (isTableStart(lines, i)) {
        var wrap = doc.createElement('div');
        wrap.className = 'table-scroll';
        var table = doc.createElement('table');
        var thead = doc.createElement('thead');
        var tr = doc.createElement('tr');
        cells(lines[i]).forEach(function (c) {
          var th = doc.createElement('th');
          th.setAttribute('scope', 'col');
          inline(doc, th, c);
          tr.appendChild(th);
        });
        thead.appendChild(tr);
        table.appendChild(thead);
        var tbody = doc.createElement('tbody');
        i += 2;
        while (i < lines.length && /^\s*\|.*\|\s*$/.test(lines[i])) {
          var row = doc.createElement('tr');
          cells(lines[i]).forEach(function (c) {
            var td = doc.createElement('td');
            inline(doc, td, c);
            row.appendChild(td);
          });
          tbody.appendChild(row);
          i++;
        }
        table.appendChild(tbody);
        wrap.appendChild(table);
        fragment.appendChild(wrap);
        continue;
      }
      var bullet = /^\s*[-*+]\s+(.*)$/;
      var numbered = /^\s*\d+[.)]\s+(.*)$/;
      if (bullet.test(line) || numbered.test(line)) {
        var ordered = numbered.test(line);
        var itemPattern = ordered ? numbered : bullet;
        var list = doc.createElement(ordered ? 'ol' : 'ul');
        while (i < lines.length && itemPattern.test(lines[i])) {
          var li = doc.createElement('li');
          inline(doc, li, itemPattern.exec(lines[i])[1]);
          list.appendChild(li);
          i++;
        }
        fragment.appendChild(list);
        continue;
      }
      var paragraph = [];
      while (
        i < lines.length &&
        lines[i].trim() &&
        !/^(#{1,6})\s/.test(lines[i]) &&
        !bullet.test(lines[i]) &&
        !numbered.test(lines[i]) &&
        !isTableStart(lines, i)
      ) {
        paragraph.push(lines[i].trim());
        i++;
      }
      var p = doc.createElement('p');
      inline(doc, p, paragraph.join(' '));
      fragment.appendChild(p);
    }
    return fragment;
  }

  var api = { render: render };
  if (typeof module === 'object' && module.exports) module.exports = api;
  else root.CardMarkdown = api;
})(typeof window !== 'undefined' ? window : globalThis);
