/**
 * Realistic request bodies for the benchmarks: the example calf-pain response (DVT likely), wrapped
 * as an EHR sends it in a patient-view call with every prefetch key answered.
 */
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { randomUUID } = require('node:crypto');

const ROOT = path.join(__dirname, '..');
const example = JSON.parse(fs.readFileSync(path.join(ROOT, 'examples', 'questionnaire-response.json'), 'utf8'));

/** The example response for a patient, authored `minutesAgo` before now (inside the CDS window). */
function response(patientId = 'example', minutesAgo = 30) {
  return {
    ...structuredClone(example),
    subject: { reference: `Patient/${patientId}` },
    authored: new Date(Date.now() - minutesAgo * 60_000).toISOString(),
  };
}

function searchset(resources) {
  return {
    resourceType: 'Bundle',
    type: 'searchset',
    total: resources.length,
    entry: resources.map((resource) => ({ fullUrl: `http://ehr.example.org/fhir/${resource.resourceType}/${resource.id ?? randomUUID()}`, resource, search: { mode: 'match' } })),
  };
}

/** A patient-view call as an EHR sends it: context, prefetch (patient, response, conditions, procedures). */
function patientViewRequest(patientId = 'example') {
  const qr = { id: 'qr-1', ...response(patientId) };
  return {
    hook: 'patient-view',
    hookInstance: randomUUID(),
    context: { userId: 'Practitioner/example', patientId },
    prefetch: {
      patient: { resourceType: 'Patient', id: patientId, birthDate: '1970-01-01', gender: 'female' },
      calfPainResponse: searchset([qr]),
      conditions: searchset([
        {
          resourceType: 'Condition',
          id: 'c-1',
          clinicalStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-clinical', code: 'active' }] },
          code: { coding: [{ system: 'http://snomed.info/sct', code: '38341003', display: 'Hypertensive disorder' }] },
          subject: { reference: `Patient/${patientId}` },
        },
      ]),
      procedures: searchset([]),
    },
  };
}

module.exports = { example, response, patientViewRequest, searchset, ROOT };
