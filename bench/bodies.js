/**
 * Request bodies for the benchmarks: a pool of calf-pain responses that differ as real patients do
 * (patient, time, answers), and the patient-view calls that carry them as an EHR sends them (every
 * prefetch key answered). Deterministic: the same pool on every run.
 */
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.join(__dirname, '..');
const example = JSON.parse(fs.readFileSync(path.join(ROOT, 'examples', 'questionnaire-response.json'), 'utf8'));
const questionnaire = JSON.parse(fs.readFileSync(path.join(ROOT, 'questionnaires', 'calf-pain.json'), 'utf8'));

function allItems(items) {
  return (items ?? []).flatMap((item) => [item, ...allItems(item.item)]);
}
const booleanLinkIds = new Set(
  allItems(questionnaire.item)
    .filter((i) => i.type === 'boolean')
    .map((i) => i.linkId),
);

/** Pseudo-random, seeded: the pool is the same on every run. */
function random(seed) {
  let s = seed;
  return () => (s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
}

/** The example response with its yes/no answers redrawn (about one in four changed), for patient `patientId`. */
function response(patientId = 'example', variant = 0, minutesAgo = 30) {
  const next = random(variant + 1);
  const qr = structuredClone(example);
  const visit = (items) => {
    for (const item of items ?? []) {
      if (booleanLinkIds.has(item.linkId) && item.answer?.[0] && 'valueBoolean' in item.answer[0] && variant > 0 && next() < 0.25) {
        item.answer[0].valueBoolean = !item.answer[0].valueBoolean;
      }
      visit(item.item);
    }
  };
  visit(qr.item);
  qr.subject = { reference: `Patient/${patientId}` };
  qr.authored = new Date(Date.now() - minutesAgo * 60_000).toISOString();
  return qr;
}

function searchset(resources) {
  return {
    resourceType: 'Bundle',
    type: 'searchset',
    total: resources.length,
    entry: resources.map((resource) => ({
      fullUrl: `http://ehr.example.org/fhir/${resource.resourceType}/${resource.id}`,
      resource,
      search: { mode: 'match' },
    })),
  };
}

/** A patient-view call as an EHR sends it: context and prefetch (patient, response, conditions, procedures). */
function patientViewRequest(patientId = 'example', variant = 0) {
  const qr = { id: `qr-${patientId}`, ...response(patientId, variant) };
  return {
    hook: 'patient-view',
    hookInstance: `d1577c69-dfbe-44ad-ba6d-3e05e953b2${String(variant % 100).padStart(2, '0')}`,
    context: { userId: 'Practitioner/example', patientId },
    prefetch: {
      patient: { resourceType: 'Patient', id: patientId, birthDate: '1970-01-01', gender: variant % 2 ? 'female' : 'male' },
      calfPainResponse: searchset([qr]),
      conditions: searchset([
        {
          resourceType: 'Condition',
          id: `c-${patientId}-1`,
          clinicalStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-clinical', code: 'active' }] },
          code: { coding: [{ system: 'http://snomed.info/sct', code: '38341003', display: 'Hypertensive disorder' }] },
          subject: { reference: `Patient/${patientId}` },
        },
        {
          resourceType: 'Condition',
          id: `c-${patientId}-2`,
          clinicalStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-clinical', code: 'active' }] },
          code: { coding: [{ system: 'http://snomed.info/sct', code: '44054006', display: 'Diabetes mellitus type 2' }] },
          subject: { reference: `Patient/${patientId}` },
        },
      ]),
      procedures: searchset([]),
    },
  };
}

/** `n` different bodies of a kind, as JSON text. */
function pool(kind, n = 64) {
  return Array.from({ length: n }, (_, i) =>
    JSON.stringify(kind === 'hook' ? patientViewRequest(`bench-${i}`, i) : response(`bench-${i}`, i)),
  );
}

module.exports = { example, response, patientViewRequest, searchset, pool, ROOT };
