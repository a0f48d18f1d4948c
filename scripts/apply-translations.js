#!/usr/bin/env node
/**
 * Writes the translations in questionnaires/translations/<id>.<lang>.json into the Questionnaire
 * questionnaires/<id>.json as FHIR `translation` extensions (on _title, each item's _text and each
 * answerOption's valueCoding._display), keyed by linkId (and linkId|code for answer options).
 * Run after editing a translation file: `node scripts/apply-translations.js`.
 */
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const TRANSLATION = 'http://hl7.org/fhir/StructureDefinition/translation';
const root = path.join(__dirname, '..', 'questionnaires');
const dir = path.join(root, 'translations');

function withTranslation(element, lang, content) {
  const others = ((element && element.extension) || []).filter(
    (e) => !(e.url === TRANSLATION && (e.extension || []).some((x) => x.url === 'lang' && x.valueCode === lang)),
  );
  return {
    ...(element || {}),
    extension: [
      ...others,
      {
        url: TRANSLATION,
        extension: [
          { url: 'lang', valueCode: lang },
          { url: 'content', valueString: content },
        ],
      },
    ],
  };
}

for (const file of fs.readdirSync(dir).filter((f) => /^[a-z0-9-]+\.[a-z]{2}(-[A-Z]{2})?\.json$/.test(f))) {
  const [id, lang] = file.replace(/\.json$/, '').split(/\.(?=[^.]+$)/);
  const qFile = path.join(root, `${id}.json`);
  const q = JSON.parse(fs.readFileSync(qFile, 'utf8'));
  const t = JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8'));
  const missing = [];
  const take = (key) => {
    if (typeof t[key] === 'string' && t[key].trim()) return t[key];
    missing.push(key);
    return undefined;
  };
  const title = q.title && take('title');
  if (title) q._title = withTranslation(q._title, lang, title);
  const walk = (items) => {
    for (const item of items || []) {
      const text = item.text && take(item.linkId);
      if (text) item._text = withTranslation(item._text, lang, text);
      for (const option of item.answerOption || []) {
        const coding = option.valueCoding;
        const display = coding && coding.display && take(`${item.linkId}|${coding.code}`);
        if (display) coding._display = withTranslation(coding._display, lang, display);
      }
      walk(item.item);
    }
  };
  walk(q.item);
  if (missing.length) {
    console.error(`${file}: no translation for ${missing.join(', ')}`);
    process.exitCode = 1;
  }
  fs.writeFileSync(qFile, `${JSON.stringify(q, null, 2)}\n`);
  console.log(`${qFile}: ${lang} applied`);
}
